import Credentials from '@alicloud/credentials';
import Dysms, { SendSmsRequest, type SendSmsResponse } from '@alicloud/dysmsapi20170525';
import { $OpenApiUtil } from '@alicloud/openapi-core';
import { RuntimeOptions } from '@darabonba/typescript';
import diagnosticsChannel from 'node:diagnostics_channel';
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Logger } from '../../domain/logger.js';
import { maskPhone } from '../../domain/phones/phone.js';
import type { SmsFailure, SmsMessage, SmsOutcome, SmsProvider } from '../../domain/sms-provider.js';

/**
 * The SDK packages are CommonJS with `exports.default = Class`. Node's ESM loader (tsx, production) hands a
 * default import `module.exports`, so the class is at `.default`; vitest unwraps `__esModule` and hands over
 * the class itself. Accept both.
 */
function cjsDefaultExport<T>(imported: { default: T }): T {
  return typeof imported === 'function' ? (imported as unknown as T) : imported.default;
}

const DysmsClient = cjsDefaultExport(Dysms);
type DysmsClient = InstanceType<typeof DysmsClient>;
const Credential = cjsDefaultExport(Credentials);

export interface AliyunProviderOptions {
  /** `https://dysmsapi.aliyuncs.com`, or `http://127.0.0.1:9000` for a local double. Only scheme, host and port. */
  endpoint: string;
  /** Static AccessKey (with `securityToken`: STS). Unset id and secret: the default credential chain. */
  accessKeyId?: string;
  accessKeySecret?: string;
  securityToken?: string;
  /** Connect timeout, read timeout, and the deadline for the whole send (credentials included). */
  timeoutMs: number;
  logger: Logger;
}

const BUSINESS_FAILURES: Readonly<Record<string, SmsFailure>> = {
  'isv.MOBILE_NUMBER_ILLEGAL': 'invalid_phone',
  'isv.BUSINESS_LIMIT_CONTROL': 'rate_limited',
};

/** Errors the SDK throws for an HTTP 4xx/5xx answer that carried a JSON body (matched by name, not instanceof). */
const HTTP_ERROR_NAMES = new Set(['ClientError', 'ServerError', 'ThrottlingError']);

const MAX_MESSAGE_LENGTH = 300;
/** Node's system and TLS error codes (ECONNRESET, ENOTFOUND, EAI_AGAIN, CERT_HAS_EXPIRED…). */
const SYSTEM_ERROR_CODE = /^[A-Z][A-Z0-9_]{2,}$/;
/**
 * Transport errors that happen before the request can have reached the provider: the SMS provably did not
 * leave. Every other transport error (a reset, a broken pipe, a timeout once the request was issued) leaves
 * the outcome unknown: Aliyun may have accepted it.
 */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);
const TLS_HANDSHAKE_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_|HOSTNAME_MISMATCH)/;

/** What the race in send() settles with: the SDK's answer, its error, or the deadline. */
type Settled = { kind: 'response'; response: SendSmsResponse } | { kind: 'error'; error: unknown } | { kind: 'deadline' };

/**
 * Sends through Alibaba Cloud Dysmsapi `SendSms`: one request per send, never retried (a send is not
 * idempotent), bounded by `timeoutMs` as a whole. Every result, including transport failures, becomes an
 * SmsOutcome; nothing is thrown.
 *
 * The SDK client (which holds the AccessKey secret) lives in an ES private field, so neither logging nor
 * serialising the provider can reveal it.
 */
export class AliyunSmsProvider implements SmsProvider {
  readonly name = 'aliyun';

  readonly #client: DysmsClient;
  readonly #timeoutMs: number;
  readonly #logger: Logger;
  /** Strings that must never leave the provider (the secret and the STS token). */
  readonly #secrets: readonly string[];
  readonly #inFlight = new Set<Promise<SmsOutcome>>();
  #closed = false;

  constructor(opts: AliyunProviderOptions) {
    const { protocol, endpoint } = parseEndpoint(opts.endpoint);
    if (!Number.isInteger(opts.timeoutMs) || opts.timeoutMs < 1 || opts.timeoutMs > 2_147_483_647) {
      throw new RangeError('AliyunSmsProvider: timeoutMs must be a positive integer number of milliseconds');
    }
    const hasId = Boolean(opts.accessKeyId);
    const hasSecret = Boolean(opts.accessKeySecret);
    if (hasId !== hasSecret) {
      throw new Error('AliyunSmsProvider: accessKeyId and accessKeySecret must be set together (or both left unset for the default credential chain)');
    }
    if (opts.securityToken && !hasId) {
      throw new Error('AliyunSmsProvider: securityToken needs accessKeyId and accessKeySecret');
    }

    this.#timeoutMs = opts.timeoutMs;
    this.#logger = opts.logger;
    this.#secrets = [opts.accessKeySecret, opts.securityToken].filter((s): s is string => typeof s === 'string' && s.length > 0);

    const auth = hasId
      ? { accessKeyId: opts.accessKeyId, accessKeySecret: opts.accessKeySecret, securityToken: opts.securityToken || undefined }
      : { credential: new Credential() };
    this.#client = new DysmsClient(
      new $OpenApiUtil.Config({
        ...auth,
        endpoint,
        protocol,
        readTimeout: opts.timeoutMs,
        connectTimeout: opts.timeoutMs,
        // No retryOptions: the SDK's only retry switch stays off.
      }),
    );
  }

  send(message: SmsMessage): Promise<SmsOutcome> {
    if (this.#closed) return Promise.resolve(failure('ProviderClosed'));
    const pending = this.#send(message);
    this.#inFlight.add(pending);
    void pending.finally(() => this.#inFlight.delete(pending));
    return pending;
  }

  /** Idempotent. Refuses new sends and waits for those in flight (each is bounded by timeoutMs). */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#inFlight]);
  }

  async #send(message: SmsMessage): Promise<SmsOutcome> {
    const tracker = { issued: false };
    awaitingRequest.set(message.outId, tracker);
    try {
      const call = this.#client.sendSmsWithOptions(
        new SendSmsRequest({
          phoneNumbers: message.phone.aliyun,
          signName: message.signName,
          templateCode: message.templateCode,
          templateParam: JSON.stringify(message.templateParam),
          outId: message.outId,
        }),
        new RuntimeOptions({ readTimeout: this.#timeoutMs, connectTimeout: this.#timeoutMs }),
      );
      // Both branches handled here, so a rejection after the deadline is never unhandled.
      const settledCall: Promise<Settled> = call.then(
        (response) => ({ kind: 'response', response }),
        (error: unknown) => ({ kind: 'error', error }),
      );
      const settled = await withDeadline(settledCall, this.#timeoutMs);
      if (settled.kind === 'deadline') {
        this.#reportLateSettlement(message, settledCall);
        // Still resolving credentials: SendSms was never issued. Otherwise Aliyun may have it.
        return failure('Timeout', { failure: tracker.issued ? 'unconfirmed' : 'failed' });
      }
      const outcome = settled.kind === 'response' ? fromResponse(settled.response) : fromError(settled.error);
      if (!outcome.ok && outcome.providerCode === 'UnexpectedError') this.#logUnexpected(message, settled);
      return this.#scrub(outcome, message);
    } catch (error) {
      // Only a bug in building the request gets here; the SDK call itself is handled above.
      this.#logUnexpected(message, { kind: 'error', error });
      return failure('UnexpectedError');
    } finally {
      awaitingRequest.delete(message.outId);
    }
  }

  /**
   * After the deadline the SDK call keeps running until its own timers end it (the HTTP request within about
   * timeoutMs of connecting; credential look-ups have their own, longer timeouts). An OK that arrives late
   * means the SMS went out although the caller was told it failed, so say so.
   */
  #reportLateSettlement(message: SmsMessage, settledCall: Promise<Settled>): void {
    void settledCall.then((late) => {
      if (late.kind !== 'response') return;
      const outcome = fromResponse(late.response);
      if (!outcome.ok) return;
      this.#logger.warn(
        {
          sms: { phone: maskPhone(message.phone.e164, message.phone.countryCallingCode), outId: message.outId },
          bizId: outcome.bizId,
          requestId: outcome.requestId,
        },
        'Aliyun SendSms accepted the message after the send had been reported as timed out',
      );
    });
  }

  #logUnexpected(message: SmsMessage, settled: Settled): void {
    const error = settled.kind === 'error' ? settled.error : undefined;
    this.#logger.error(
      {
        sms: { phone: maskPhone(message.phone.e164, message.phone.countryCallingCode), outId: message.outId },
        // The name only: SDK messages can hold the request URL (phone number included).
        errorName: error instanceof Error ? error.name : typeof error,
      },
      'Aliyun SendSms failed in an unexpected way',
    );
  }

  /** Belt and braces: no secret, token or full phone number in anything the provider hands back. */
  #scrub(outcome: SmsOutcome, message: SmsMessage): SmsOutcome {
    if (outcome.ok) return outcome;
    const clean = (text: string | undefined): string | undefined => {
      if (text === undefined) return undefined;
      let out = text;
      for (const secret of this.#secrets) out = out.split(secret).join('***');
      for (const phone of [message.phone.e164, message.phone.aliyun]) {
        if (phone.length >= 5) out = out.split(phone).join(maskPhone(message.phone.e164, message.phone.countryCallingCode));
      }
      return out;
    };
    return withoutUndefined({
      ok: false,
      failure: outcome.failure,
      providerCode: clean(outcome.providerCode) ?? 'UnexpectedError',
      providerMessage: clean(outcome.providerMessage),
      requestId: clean(outcome.requestId),
    });
  }
}

function parseEndpoint(raw: string): { protocol: 'http' | 'https'; endpoint: string } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TypeError('AliyunSmsProvider: endpoint must be an absolute URL such as https://dysmsapi.aliyuncs.com');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError('AliyunSmsProvider: endpoint must use http or https');
  }
  if (url.username || url.password || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    throw new TypeError('AliyunSmsProvider: endpoint must be scheme://host[:port] only (no credentials, path, query or fragment)');
  }
  // The SDK wants host[:port] without a scheme (a scheme there yields http://http//…), and the scheme separately.
  return { protocol: url.protocol === 'https:' ? 'https' : 'http', endpoint: url.host };
}

async function withDeadline(settledCall: Promise<Settled>, timeoutMs: number): Promise<Settled> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<Settled>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'deadline' }), timeoutMs);
  });
  try {
    return await Promise.race([settledCall, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function fromResponse(response: SendSmsResponse | undefined): SmsOutcome {
  const body = response?.body;
  const headerRequestId = stringOrUndefined(response?.headers?.['x-acs-request-id']);
  const requestId = stringOrUndefined(body?.requestId) ?? headerRequestId;
  const code = stringOrUndefined(body?.code);
  if (!code) return failure('MalformedResponse', { requestId });
  if (code === 'OK') return withoutUndefined({ ok: true, bizId: stringOrUndefined(body?.bizId), requestId });
  return failure(code, { failure: BUSINESS_FAILURES[code] ?? 'failed', providerMessage: providerMessage(body?.message), requestId });
}

function fromError(error: unknown): SmsOutcome {
  if (typeof error !== 'object' || error === null) return failure('UnexpectedError');
  const err = error as Record<string, unknown>;
  const name = typeof err.name === 'string' ? err.name : '';
  const code = typeof err.code === 'string' ? err.code : undefined;

  // HTTP 4xx/5xx with a JSON body: the gateway's Code, Message and RequestId.
  if (HTTP_ERROR_NAMES.has(name) && code !== undefined) {
    const data = typeof err.data === 'object' && err.data !== null ? (err.data as Record<string, unknown>) : {};
    const statusCode = typeof err.statusCode === 'number' ? err.statusCode : undefined;
    const providerCode = code && code !== 'undefined' ? code : statusCode ? `HTTP${statusCode}` : name;
    return failure(providerCode, {
      providerMessage: providerMessage(data.Message ?? data.message),
      requestId: stringOrUndefined(err.requestId) ?? stringOrUndefined(data.RequestId),
    });
  }
  // A body that is not JSON (HTML error page from a proxy, truncated reply…).
  if (error instanceof SyntaxError || name === 'SyntaxError') return failure('MalformedResponse');
  if (name === 'RequestTimeoutError' || code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT') {
    return failure('Timeout', { failure: 'unconfirmed' });
  }
  if (code !== undefined && SYSTEM_ERROR_CODE.test(code)) {
    const sent = NOT_SENT_CODES.has(code) || TLS_HANDSHAKE_CODE.test(code) ? 'failed' : 'unconfirmed';
    return failure(`NetworkError.${code}`, { failure: sent });
  }
  // The default credential chain found nothing (its message lists every provider's complaint: not passed on).
  if (code === undefined && typeof err.message === 'string' && /unable to get credentials/i.test(err.message)) {
    return failure('CredentialsUnavailable');
  }
  return failure('UnexpectedError');
}

function failure(
  providerCode: string,
  extra: { failure?: SmsFailure; providerMessage?: string; requestId?: string } = {},
): SmsOutcome {
  return withoutUndefined({
    ok: false,
    failure: extra.failure ?? 'failed',
    providerCode,
    providerMessage: extra.providerMessage,
    requestId: extra.requestId,
  });
}

/**
 * The provider's own words, trimmed. Gateway signature errors append the server's string to sign, which for
 * the legacy RPC signature is the whole query (phone number included): cut it off.
 */
function providerMessage(value: unknown): string | undefined {
  const text = stringOrUndefined(value);
  if (text === undefined) return undefined;
  const cut = text.replace(/\s*server string to sign is:[\s\S]*$/i, '').trim();
  return cut.length > MAX_MESSAGE_LENGTH ? `${cut.slice(0, MAX_MESSAGE_LENGTH)}…` : cut;
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' && value !== 'undefined' ? value : undefined;
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/**
 * Sends waiting for their SendSms HTTP request to be issued, by OutId. The SDK resolves credentials first
 * (which can hang on its own), then issues the request: a deadline before that point means the SMS
 * provably did not leave. The request's query carries `OutId`, which ties it to its send.
 */
const awaitingRequest = new Map<string, { issued: boolean }>();
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
