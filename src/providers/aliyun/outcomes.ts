import type { SendSmsResponse } from '@alicloud/dysmsapi20170525';
import type { SmsFailure, SmsOutcome } from '../../domain/sms-provider.js';

/**
 * What an Aliyun SendSms answer or error means for the caller: every result, transport failures
 * included, becomes an SmsOutcome, and a failure says whether the SMS provably did not leave
 * (`failed`) or may have (`unconfirmed`).
 */

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

export function fromResponse(response: SendSmsResponse | undefined): SmsOutcome {
  const body = response?.body;
  const headerRequestId = stringOrUndefined(response?.headers?.['x-acs-request-id']);
  const requestId = stringOrUndefined(body?.requestId) ?? headerRequestId;
  const code = stringOrUndefined(body?.code);
  if (!code) return failure('MalformedResponse', { requestId });
  if (code === 'OK') return withoutUndefined({ ok: true, bizId: stringOrUndefined(body?.bizId), requestId });
  return failure(code, { failure: BUSINESS_FAILURES[code] ?? 'failed', providerMessage: providerMessage(body?.message), requestId });
}

export function fromError(error: unknown): SmsOutcome {
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

export function failure(
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

export function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
