import diagnosticsChannel from 'node:diagnostics_channel';
import type { ClientRequest, IncomingMessage } from 'node:http';

/** Hooks on Node's HTTP client diagnostics channels that the SDK offers no option for. */

/**
 * Sends waiting for their SendSms HTTP request to be issued, by OutId. The SDK resolves credentials first
 * (which can hang on its own), then issues the request: a deadline before that point means the SMS
 * provably did not leave. The request's query carries `OutId`, which ties it to its send.
 */
export const awaitingRequest = new Map<string, { issued: boolean }>();
const OUT_ID_IN_PATH = /[?&]OutId=([^&]*)/;

diagnosticsChannel.subscribe('http.client.request.start', (message) => {
  if (awaitingRequest.size === 0) return;
  const { request } = message as { request: ClientRequest };
  const outId = OUT_ID_IN_PATH.exec(request.path)?.[1];
  const tracker = outId === undefined ? undefined : awaitingRequest.get(decodeURIComponent(outId));
  if (tracker) tracker.issued = true;
});

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
