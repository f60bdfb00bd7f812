import createFastifyError from '@fastify/error';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import { StoreUnavailableError } from '../../src/domain/store-unavailable.js';

/**
 * Our errors answer clients and are never logged with a stack, so none is captured: capturing one
 * per refused request (a wrong code, a rate limit) is measurable work on the hot path.
 */
function createError(code: string, message: string, statusCode: number) {
  return createFastifyError(code, message, statusCode, Error, false);
}

/** Every error a v1 client can see: a stable `code`, an HTTP status and a safe message. */
export const Errors = {
  INVALID_PHONE: createError('INVALID_PHONE', 'phone is not a valid mobile number', 400),
  INVALID_CODE: createError('INVALID_CODE', 'code must be %s ASCII digits', 400),
  INVALID_INPUT: createError('INVALID_INPUT', '%s is invalid', 400),
  RATE_LIMITED: createError('RATE_LIMITED', 'Too many codes were sent to this phone; retry after %s seconds', 429),
  PHONE_RATE_LIMITED: createError(
    'PHONE_RATE_LIMITED',
    'Too many SMS were sent to this phone across channels; retry after %s seconds',
    429,
  ),
  IP_RATE_LIMITED: createError('IP_RATE_LIMITED', 'Too many SMS were requested from this address; retry after %s seconds', 429),
  GLOBAL_RATE_LIMITED: createError('GLOBAL_RATE_LIMITED', 'The service has used its SMS budget; retry after %s seconds', 429),
  NOTICE_RATE_LIMITED: createError('NOTICE_RATE_LIMITED', 'Too many notices were sent to this phone; retry after %s seconds', 429),
  VERIFY_RATE_LIMITED: createError('VERIFY_RATE_LIMITED', 'Too many wrong codes for this phone; retry after %s seconds', 429),
  CHECK_RATE_LIMITED: createError('CHECK_RATE_LIMITED', 'Too many checks from this address; retry after %s seconds', 429),
  TEMPLATE_NOT_ALLOWED: createError('TEMPLATE_NOT_ALLOWED', 'This template may not be sent as a notice', 400),
  PHONE_BLOCKED: createError('PHONE_BLOCKED', 'SMS to this number is not allowed', 403),
  UNAUTHORIZED: createError('UNAUTHORIZED', 'Authentication required', 401),
  FORBIDDEN: createError('FORBIDDEN', 'Forbidden', 403),
  PROVIDER_RATE_LIMITED: createError(
    'PROVIDER_RATE_LIMITED',
    'The SMS provider is limiting sends to this phone; retry later',
    429,
  ),
  SMS_SEND_FAILED: createError('SMS_SEND_FAILED', 'The SMS could not be sent', 502),
  SMS_SEND_UNCONFIRMED: createError(
    'SMS_SEND_UNCONFIRMED',
    'The SMS provider did not confirm the send; it may have been delivered and counts as sent: retry after %s seconds',
    502,
  ),
  PROVIDER_UNAVAILABLE: createError(
    'PROVIDER_UNAVAILABLE',
    'The SMS provider is failing; sends are paused for a moment, retry shortly',
    503,
  ),
  OTP_NOT_FOUND: createError('OTP_NOT_FOUND', 'No code was sent to this phone on this channel', 404),
  OTP_EXPIRED: createError('OTP_EXPIRED', 'The code has expired; request a new one', 410),
  OTP_ALREADY_USED: createError('OTP_ALREADY_USED', 'The code has already been used', 409),
  OTP_MISMATCH: createError('OTP_MISMATCH', 'The code is wrong', 422),
  OTP_TOO_MANY_ATTEMPTS: createError('OTP_TOO_MANY_ATTEMPTS', 'Too many wrong codes; request a new one', 429),
  INVALID_IDEMPOTENCY_KEY: createError(
    'INVALID_IDEMPOTENCY_KEY',
    'Idempotency-Key must be 1 to 255 printable ASCII characters',
    400,
  ),
  IDEMPOTENCY_KEY_REUSED: createError(
    'IDEMPOTENCY_KEY_REUSED',
    'This Idempotency-Key was already used with a different request body',
    422,
  ),
  IDEMPOTENCY_KEY_IN_USE: createError(
    'IDEMPOTENCY_KEY_IN_USE',
    'A request with this Idempotency-Key is still being processed; retry shortly',
    409,
  ),
  VERIFICATION_NOT_FOUND: createError('VERIFICATION_NOT_FOUND', 'No verification has this id (or it aged out)', 404),
  VERIFICATION_NOT_PENDING: createError('VERIFICATION_NOT_PENDING', 'The verification is not pending; its status is in the body', 409),
  STORE_UNAVAILABLE: createError('STORE_UNAVAILABLE', 'The service is temporarily unavailable; retry shortly', 503),
  INTERNAL: createError('INTERNAL_SERVER_ERROR', 'Internal Server Error', 500),
} as const;

/** The body every error answers with: Fastify's shape, plus fields an error carries on purpose. */
export interface ErrorBody {
  statusCode: number;
  code: string;
  error: string;
  message: string;
  [extra: string]: unknown;
}

/** Extra body fields (e.g. `attemptsRemaining`) travel on the error under this key. */
export const ERROR_EXTRA = Symbol('errorExtra');

export function withExtra<E extends Error>(error: E, extra: Record<string, unknown>): E {
  (error as E & { [ERROR_EXTRA]?: Record<string, unknown> })[ERROR_EXTRA] = extra;
  return error;
}

/** Maps any error to a safe client error: internals (stacks, causes, driver text) never leave the process. */
export function toClientError(error: unknown): FastifyError {
  if (error instanceof StoreUnavailableError) return new Errors.STORE_UNAVAILABLE();
  const candidate = error as Partial<FastifyError>;
  const status = candidate.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500 && typeof candidate.code === 'string') {
    return candidate as FastifyError;
  }
  if (typeof status === 'number' && status >= 500 && isOwnError(candidate)) return candidate as FastifyError;
  return new Errors.INTERNAL();
}

const OWN_CODES = new Set<string>(Object.values(Errors).map((E) => new E().code));

function isOwnError(error: Partial<FastifyError>): boolean {
  return typeof error.code === 'string' && OWN_CODES.has(error.code);
}

export function errorBody(error: FastifyError): ErrorBody {
  const statusCode = error.statusCode ?? 500;
  const extra = (error as FastifyError & { [ERROR_EXTRA]?: Record<string, unknown> })[ERROR_EXTRA] ?? {};
  return {
    statusCode,
    code: error.code,
    error: STATUS_CODES[statusCode] ?? 'Error',
    message: error.message,
    ...extra,
  };
}

/** What a log line may say about an error: no stack, no cause chain, no request data. */
export function loggableError(error: unknown): Record<string, unknown> {
  const e = error as { name?: unknown; code?: unknown; message?: unknown; cause?: unknown };
  const cause = e.cause as { name?: unknown; message?: unknown } | undefined;
  return {
    type: e.name,
    code: e.code,
    message: e.message,
    ...(cause ? { cause: { type: cause.name, message: cause.message } } : {}),
  };
}

/** Not a route's error (the OpenAPI tables list those): what no route at all answers with. */
const RouteNotFound = createError('ROUTE_NOT_FOUND', 'No route answers this method and path', 404);

/** Unknown method or path: the same error shape with a stable code, and the path not echoed back. */
export function notFoundHandler(_request: FastifyRequest, reply: FastifyReply): void {
  void reply.code(404).send(errorBody(new RouteNotFound()));
}

export function v1ErrorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const clientError = toClientError(error);
  const statusCode = clientError.statusCode ?? 500;
  if (statusCode >= 500) request.log.error({ error: loggableError(error) }, 'request failed');
  void reply.code(statusCode).send(errorBody(clientError));
}
