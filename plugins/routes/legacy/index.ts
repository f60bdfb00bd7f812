import type { FastifyPluginAsync, FastifyReply, FastifyRequest, RouteShorthandOptions } from 'fastify';
import type { Config } from '../../../src/config/config.js';
import type { TemplateValue } from '../../../src/domain/sms-provider.js';
import { legacyPhoneRefusalMessage, legacyRefusalMessage } from './messages.js';
import { StoreUnavailableError } from '../../../src/domain/store-unavailable.js';
import type { CheckCodeResult, RateLimited, SendCodeResult, SendNoticeResult } from '../../../src/domain/verification/verification-service.js';
import type { RouteAuth } from '../../hooks/auth.js';
import { loggableError } from '../../hooks/errors.js';
import { requestContext } from '../request-context.js';

export interface LegacyRoutesOptions {
  readonly config: Config;
}

/** The seed's answer: always HTTP 200, the outcome in `code`. */
export interface LegacyBody {
  code: number;
  message: string;
  data: unknown;
}

/**
 * OpenAPI descriptions only: the bodies go in `config.openapi`, which Fastify never validates, so the
 * routes keep accepting any JSON and answering bad input with HTTP 200 and a body code.
 */
function documented(
  auth: RouteAuth,
  operationId: string,
  summary: string,
  description: string,
  properties: Record<string, object>,
  example: Record<string, string>,
): RouteShorthandOptions {
  const outcome = {
    type: 'object',
    properties: { code: { type: 'integer' }, message: { type: 'string' }, data: {} },
    required: ['code', 'message', 'data'],
  };
  return {
    schema: { summary, operationId, description: `${description}\n\nAlways HTTP 200; the outcome is the body \`code\`.`, tags: ['legacy'] },
    config: {
      auth,
      openapi: {
        body: {
          type: 'object',
          description: 'Any JSON object; fields are checked by the handler, not the schema',
          properties,
          examples: [example],
        },
        response: { 200: { description: 'The outcome, whatever it is', ...outcome } },
      },
    },
  };
}

/**
 * A request that succeeds as printed ("Try it out"): a national number, as the seed's callers sent it;
 * not v1's example phone, so trying both does not run into the resend interval.
 */
const LEGACY_EXAMPLE = { phone: '13900139000', channel: 'login', code: '1234' };
const LegacyPhone = { description: 'Mobile number (string, or a number as the seed sent it)', type: ['string', 'number'] };
const LegacyChannel = { type: 'string', description: 'What the code is for, e.g. login' };

const LEGACY_DOCS = {
  sendCode: documented(
    { scope: 'verify' },
    'legacySendVerification',
    'Send a verification code (seed contract)',
    'Body codes: 200 sent (data: the code with EXPOSE_CODE); 400 invalid input (`参数错误: <field>`), blocked number or ' +
      'send failure; 401/402/403 the 1st/2nd/3rd SEND_LIMITS window refused; 403 the per-phone limit; 429 per-IP or ' +
      'global limit; 500 store unavailable.',
    { phone: LegacyPhone, channel: LegacyChannel },
    { phone: LEGACY_EXAMPLE.phone, channel: LEGACY_EXAMPLE.channel },
  ),
  checkCode: documented(
    { scope: 'verify' },
    'legacyCheckVerification',
    'Check a verification code (seed contract)',
    'Body codes: 200 verified; 400 invalid input; 401 expired, already used, too many attempts or too many wrong ' +
      'codes for the phone; 405 wrong code; 406 no code was sent; 429 too many checks from this address ' +
      '(IP_CHECK_LIMITS); 500 store unavailable.',
    { phone: LegacyPhone, channel: LegacyChannel, code: { type: ['string', 'number'], description: 'The digits received' } },
    LEGACY_EXAMPLE,
  ),
  sendNotice: documented(
    { scope: 'notify' },
    'legacySendNotification',
    'Send a notification SMS (seed contract)',
    'Body codes: 200 sent; 400 invalid input (`参数错误: template_code` for a verification template or one outside ' +
      'NOTICE_TEMPLATES), blocked number or send failure; 401/402/403 the 1st/2nd/3rd NOTICE_LIMITS window refused; ' +
      '429 per-IP or global limit; 500 store unavailable.',
    {
      phone: LegacyPhone,
      channel: LegacyChannel,
      template_code: { type: 'string', description: 'The provider template, e.g. SMS_154950909' },
      template_param: { type: 'string', description: 'The template parameters as a JSON object in a string (or empty)' },
    },
    { phone: LEGACY_EXAMPLE.phone, channel: 'order', template_code: 'SMS_154950909', template_param: '{"order":"A1024"}' },
  ),
} as const;

const MESSAGES = {
  ok: '请求成功!',
  verified: '验证成功',
  expired: '验证码已过期',
  used: '验证码已被验证过了,请勿重复使用',
  tooManyAttempts: '验证码错误次数过多,请重新获取',
  mismatch: '验证码错误',
  notFound: '该手机未发送过验证码',
  sendFailed: '短信发送失败',
  invalid: '参数错误',
  unavailable: '服务暂不可用,请稍后再试',
  blocked: '该手机号码不支持发送短信',
  ipLimited: '请求过于频繁,请稍后再试',
  globalLimited: '短信发送量已达上限,请稍后再试',
  verifyLimited: '验证失败次数过多,请稍后再试',
} as const;

function legacy(code: number, message: string, data: unknown = {}): LegacyBody {
  return { code, message, data };
}

function invalid(field: string): LegacyBody {
  return legacy(400, `${MESSAGES.invalid}: ${field}`);
}

type Fields = Record<string, unknown>;

/** The seed read fields with `data.get(...)`: anything that is not a JSON object has none. */
function fields(body: unknown): Fields {
  return body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Fields) : {};
}

/** Phones and codes arrive as JSON strings or, from some seed callers, numbers. */
function text(value: unknown): unknown {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? String(value) : value;
}

/** The seed's `/sms_message/*` contract, unchanged for its callers. */
const legacyRoutes: FastifyPluginAsync<LegacyRoutesOptions> = async (fastify, { config }) => {
  fastify.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof StoreUnavailableError) {
      request.log.error({ error: loggableError(error) }, 'store unavailable');
      return reply.code(200).send(legacy(500, MESSAGES.unavailable));
    }
    const status = (error as { statusCode?: unknown }).statusCode;
    if (typeof status === 'number' && status < 500) return reply.code(200).send(legacy(400, MESSAGES.invalid));
    request.log.error({ error: loggableError(error) }, 'request failed');
    return reply.code(200).send(legacy(500, MESSAGES.unavailable));
  });

  fastify.post('/sms_message/getVerificationCode', LEGACY_DOCS.sendCode, async (request) => {
    const body = fields(request.body);
    const result = await fastify.verification.sendCode({
      phone: text(body.phone),
      channel: body.channel,
      context: requestContext(request),
    });
    return sendCodeAnswer(result, config);
  });

  fastify.post('/sms_message/verify_code', LEGACY_DOCS.checkCode, async (request) => {
    const body = fields(request.body);
    const result = await fastify.verification.checkCode({
      phone: text(body.phone),
      channel: body.channel,
      code: text(body.code),
      context: requestContext(request),
    });
    return checkAnswer(result);
  });

  fastify.post('/sms_message/sendNotice', LEGACY_DOCS.sendNotice, async (request) => {
    const body = fields(request.body);
    const templateParam = parseTemplateParam(body.template_param);
    if (!templateParam) return invalid('template_param');
    const result = await fastify.verification.sendNotice({
      phone: text(body.phone),
      channel: body.channel,
      templateCode: body.template_code,
      templateParam,
      context: requestContext(request),
    });
    return noticeAnswer(result);
  });
};

export default legacyRoutes;

function sendCodeAnswer(result: SendCodeResult, config: Config): LegacyBody {
  switch (result.kind) {
    case 'sent':
      return legacy(200, MESSAGES.ok, config.exposeCode ? result.code : {});
    case 'invalid':
      return invalid(result.field);
    case 'rate_limited':
      return rateLimitAnswer(result);
    case 'blocked':
      return legacy(400, MESSAGES.blocked);
    case 'send_failed':
    case 'send_unconfirmed':
      return legacy(400, MESSAGES.sendFailed);
  }
}

/**
 * Per (channel, phone): the seed's 401/402/403 by window; the newer limits answer in the same style.
 * A notice refused by NOTICE_LIMITS answers like a code send refused by the channel's windows.
 */
function rateLimitAnswer(result: RateLimited): LegacyBody {
  switch (result.scope) {
    case 'channel':
    case 'notice':
      return legacy(401 + Math.min(result.window, 2), legacyRefusalMessage(result.windows, result.window));
    case 'phone':
      return legacy(403, legacyPhoneRefusalMessage(result.windows, result.window));
    case 'ip':
      return legacy(429, MESSAGES.ipLimited);
    case 'global':
      return legacy(429, MESSAGES.globalLimited);
  }
}

function checkAnswer(result: CheckCodeResult): LegacyBody {
  if (result.kind === 'invalid') return invalid(result.field);
  // (The legacy route checks by phone and channel only: no verification id to be unknown.)
  if (result.kind === 'unknown_verification') return legacy(406, MESSAGES.notFound);
  switch (result.status) {
    case 'approved':
      return legacy(200, MESSAGES.verified);
    case 'expired':
      return legacy(401, MESSAGES.expired);
    case 'used':
      return legacy(401, MESSAGES.used);
    case 'too_many_attempts':
      return legacy(401, MESSAGES.tooManyAttempts);
    case 'verify_limited':
      return legacy(401, MESSAGES.verifyLimited);
    case 'check_limited':
      return legacy(429, MESSAGES.ipLimited);
    case 'mismatch':
      return legacy(405, MESSAGES.mismatch);
    case 'not_found':
      return legacy(406, MESSAGES.notFound);
  }
}

function noticeAnswer(result: SendNoticeResult): LegacyBody {
  switch (result.kind) {
    case 'invalid':
      return invalid(result.field === 'templateCode' ? 'template_code' : result.field);
    case 'template_not_allowed':
      return invalid('template_code');
    case 'blocked':
      return legacy(400, MESSAGES.blocked);
    case 'rate_limited':
      return rateLimitAnswer(result);
    case 'send_failed':
    case 'send_unconfirmed':
      return legacy(400, MESSAGES.sendFailed);
    case 'sent':
      return legacy(200, MESSAGES.ok);
  }
}

/**
 * The seed passed `template_param` through as a JSON string; an object is accepted too. Its values
 * go to the provider unchanged (strings, numbers or booleans; nothing nested).
 */
function parseTemplateParam(value: unknown): Record<string, TemplateValue> | undefined {
  if (value === undefined || value === null || value === '') return {};
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const entries = Object.entries(parsed);
  if (entries.length > 32 || !entries.every(([, v]) => isTemplateValue(v))) return undefined;
  return Object.fromEntries(entries) as Record<string, TemplateValue>;
}

function isTemplateValue(value: unknown): value is TemplateValue {
  if (typeof value === 'string') return value.length <= 512;
  return (typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean';
}
