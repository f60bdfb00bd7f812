import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Config } from '../../../src/config/config.js';
import type { CheckCodeResult, Invalid, SendCodeResult, SendNoticeResult } from '../../../src/domain/verification/verification-service.js';
import { Errors, withExtra } from '../../hooks/errors.js';
import { parseIdempotencyKey, withKeyHeader } from '../../hooks/idempotency.js';
import { idempotencyId } from '../../../src/domain/idempotency.js';
import verificationResources from './verifications.js';
import { requestContext } from '../request-context.js';
import {
  CheckVerificationBody,
  CheckVerificationResponses,
  NotificationBody,
  NotificationResponses,
  SendVerificationBody,
  SendVerificationResponses,
} from './schemas.js';

export interface V1RoutesOptions {
  readonly config: Config;
}

/** `/v1`: real HTTP statuses, TypeBox schemas, errors in Fastify's shape. */
const v1Routes: FastifyPluginAsyncTypebox<V1RoutesOptions> = async (fastify, { config }) => {
  fastify.post(
    '/v1/verifications',
    {
      config: { auth: { scope: 'verify' }, idempotent: true },
      schema: {
        summary: 'Send a verification code',
        operationId: 'sendVerification',
        body: SendVerificationBody,
        response: SendVerificationResponses,
      },
    },
    async (request, reply) => {
      const result = await fastify.verification.sendCode({ ...request.body, context: requestContext(request) });
      if (result.kind !== 'sent') throw sendError(result, reply);
      return reply.code(201).send({
        phone: result.phone.e164,
        channel: result.channel,
        expiresAt: result.expiresAt.toISOString(),
        id: result.id,
        status: 'pending' as const,
        resendAvailableAt: result.resendAvailableAt.toISOString(),
        ...(config.exposeCode ? { code: result.code } : {}),
      });
    },
  );

  fastify.post(
    '/v1/verifications/check',
    {
      config: { auth: { scope: 'verify' }, channelsByResource: true },
      schema: {
        summary: 'Check a verification code (approves it at most once)',
        operationId: 'checkVerification',
        description:
          'With an `Idempotency-Key`, the key is recorded with the decision in the same atomic step: a retry with the same key ' +
          'and code gets the same decision again (header `Idempotent-Replayed: true`, e.g. the approval instead of ' +
          '`409 OTP_ALREADY_USED`); the same key with another code is checked as a new request. The code is approved once.',
        body: CheckVerificationBody,
        headers: withKeyHeader(undefined) as object,
        response: CheckVerificationResponses,
      },
    },
    async (request, reply) => {
      const header = request.headers['idempotency-key'];
      const key = header === undefined ? undefined : parseIdempotencyKey(header);
      if (header !== undefined && key === undefined) throw new Errors.INVALID_IDEMPOTENCY_KEY();
      const idempotencyKey = key === undefined ? undefined : idempotencyId({ caller: request.caller, route: 'POST /v1/verifications/check', key });
      const result = await fastify.verification.checkCode({ ...request.body, idempotencyKey, context: requestContext(request) });
      if (result.kind === 'checked' && result.replayed) reply.header('idempotent-replayed', 'true');
      if (result.kind === 'checked' && result.status === 'approved') return { status: 'approved' as const };
      throw checkError(result, reply);
    },
  );

  fastify.post(
    '/v1/notifications',
    {
      config: { auth: { scope: 'notify' }, idempotent: true },
      schema: {
        summary: 'Send a notification SMS with a template',
        operationId: 'sendNotification',
        body: NotificationBody,
        response: NotificationResponses,
      },
    },
    async (request, reply) => {
      const result = await fastify.verification.sendNotice({
        ...request.body,
        templateParam: request.body.templateParam ?? {},
        context: requestContext(request),
      });
      if (result.kind !== 'sent') throw sendError(result, reply);
      return reply.code(201).send({
        phone: result.phone.e164,
        channel: result.channel,
        templateCode: request.body.templateCode,
        ...(result.bizId ? { bizId: result.bizId } : {}),
      });
    },
  );

  await fastify.register(verificationResources);
};

export default v1Routes;

type SendRefusal = Exclude<SendCodeResult | SendNoticeResult, { kind: 'sent' }>;

const RATE_LIMIT_ERRORS = {
  channel: Errors.RATE_LIMITED,
  phone: Errors.PHONE_RATE_LIMITED,
  notice: Errors.NOTICE_RATE_LIMITED,
  ip: Errors.IP_RATE_LIMITED,
  global: Errors.GLOBAL_RATE_LIMITED,
} as const;

function sendError(result: SendRefusal, reply: { header(name: string, value: string): unknown }): Error {
  switch (result.kind) {
    case 'invalid':
      return invalidError(result);
    case 'blocked':
      return new Errors.PHONE_BLOCKED();
    case 'template_not_allowed':
      return new Errors.TEMPLATE_NOT_ALLOWED();
    case 'send_unconfirmed':
      // Counted as sent: wait, like a refusal, until the limits the send now fills free a slot.
      reply.header('retry-after', String(result.retryAfterSeconds));
      return withExtra(new Errors.SMS_SEND_UNCONFIRMED(result.retryAfterSeconds), {
        retryAfter: result.retryAfterSeconds,
        ...(result.full ? { limit: `${result.full.scope}:${result.full.windows[result.full.window]?.label}` } : {}),
        // The verification it made (it reads unconfirmed): GET it, cancel it, or check its code by id.
        ...(result.verificationId ? { id: result.verificationId } : {}),
      });
    case 'rate_limited':
      reply.header('retry-after', String(result.retryAfterSeconds));
      return withExtra(new RATE_LIMIT_ERRORS[result.scope](result.retryAfterSeconds), {
        retryAfter: result.retryAfterSeconds,
        limit: `${result.scope}:${result.windows[result.window]?.label}`,
      });
    case 'send_failed':
      if (result.failure === 'invalid_phone') return new Errors.INVALID_PHONE();
      if (result.failure === 'rate_limited') return new Errors.PROVIDER_RATE_LIMITED();
      if (result.failure === 'unavailable') return new Errors.PROVIDER_UNAVAILABLE();
      return new Errors.SMS_SEND_FAILED();
  }
}

function checkError(result: CheckCodeResult, reply: { header(name: string, value: string): unknown }): Error {
  if (result.kind === 'invalid') return invalidError(result);
  if (result.kind === 'unknown_verification') return new Errors.VERIFICATION_NOT_FOUND();
  switch (result.status) {
    case 'verify_limited':
      reply.header('retry-after', String(result.retryAfterSeconds));
      return withExtra(new Errors.VERIFY_RATE_LIMITED(result.retryAfterSeconds), { retryAfter: result.retryAfterSeconds });
    case 'check_limited':
      reply.header('retry-after', String(result.retryAfterSeconds));
      return withExtra(new Errors.CHECK_RATE_LIMITED(result.retryAfterSeconds), { retryAfter: result.retryAfterSeconds });
    case 'not_found':
      return new Errors.OTP_NOT_FOUND();
    case 'expired':
      return new Errors.OTP_EXPIRED();
    case 'used':
      return new Errors.OTP_ALREADY_USED();
    case 'too_many_attempts':
      return new Errors.OTP_TOO_MANY_ATTEMPTS();
    case 'mismatch':
    case 'approved':
      return withExtra(new Errors.OTP_MISMATCH(), { attemptsRemaining: result.attemptsRemaining });
  }
}

function invalidError(result: Invalid): Error {
  if (result.field === 'phone') return new Errors.INVALID_PHONE();
  if (result.field === 'code') return new Errors.INVALID_CODE(result.codeLength ?? '');
  return new Errors.INVALID_INPUT(result.field);
}
