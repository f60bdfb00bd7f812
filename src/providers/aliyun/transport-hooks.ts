import diagnosticsChannel from 'node:diagnostics_channel';
import type { ClientRequest, IncomingMessage } from 'node:http';

/** Hooks on Node's HTTP client diagnostics channels that the SDK offers no option for. */

/**
 * Workaround for a retention bug under the SDK (found with the bench): httpx arms a read timer per
 * request on the socket (`Symbol('TIMER::READ_TIMER')`) and only its own read() clears it, but the
 * SDK reads bodies with @darabonba/typescript, which does not. Each finished SendSms would then keep
 * its request, response and closures alive for ALIYUN_SMS_TIMEOUT_MS (thousands of them under load).
 * Clear that timer once the response has been read. If httpx changes, the symbol is not found and
 * this does nothing.
 */
diagnosticsChannel.subscribe('http.client.response.finish', (message) => {
  const { request, response } = message as { request: ClientRequest; response: IncomingMessage };
  const socket = request.socket as unknown as Record<symbol, unknown> | null;
  if (!socket) return;
  const symbol = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'TIMER::READ_TIMER');
  const timer = symbol ? socket[symbol] : undefined;
  if (!timer) return;
  const clear = (): void => clearTimeout(timer as NodeJS.Timeout);
  response.once('end', clear);
  response.once('close', clear);
});
