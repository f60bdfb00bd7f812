import { Type } from '@sinclair/typebox';
import { CHANNEL_PATTERN } from '../../../src/domain/channels/channel.js';

/**
 * The v1 request and success bodies. The examples are a request that succeeds as printed (a mainland
 * mobile number, any channel, a code of the default `CODE_LENGTH`): Swagger UI's "Try it out" and the
 * generated client's docs start from them.
 */
export const EXAMPLE = { phone: '+8613800138000', channel: 'login', code: '1234' } as const;

export const Phone = Type.String({
  minLength: 1,
  maxLength: 32,
  description: 'Mobile number: +8613800000000, 13800000000, 8613800000000, 00852…',
  examples: [EXAMPLE.phone],
});
export const Channel = Type.String({ pattern: CHANNEL_PATTERN, description: 'What the code is for, e.g. login', examples: [EXAMPLE.channel] });
const Code = Type.String({ pattern: '^[0-9]{4,10}$', description: 'The digits the person received', examples: [EXAMPLE.code] });
const TemplateCode = Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$', description: 'The provider template', examples: ['SMS_154950909'] });

export const SendVerificationBody = Type.Object(
  { phone: Phone, channel: Channel },
  { additionalProperties: false, examples: [{ phone: EXAMPLE.phone, channel: EXAMPLE.channel }] },
);
const EXAMPLE_ID = '3f2c9a1be4d04c7f8a6b5e0d1c2b3a49';
export const VerificationId = Type.String({
  minLength: 1,
  maxLength: 64,
  description: 'The verification id the send answered with',
  examples: [EXAMPLE_ID],
});
export const CheckVerificationBody = Type.Union(
  [
    Type.Object({ phone: Phone, channel: Channel, code: Code }, { additionalProperties: false, title: 'By phone and channel' }),
    Type.Object({ verificationId: VerificationId, code: Code }, { additionalProperties: false, title: 'By verification id' }),
  ],
  {
    description: 'The current code of a (phone, channel), or the code of one verification (a superseded or canceled one answers 404 OTP_NOT_FOUND)',
    examples: [EXAMPLE],
  },
);

export const VerificationParams = Type.Object({ id: VerificationId });

const STATUSES = ['pending', 'approved', 'canceled', 'expired', 'max_attempts_reached', 'superseded', 'failed', 'unconfirmed'] as const;

export const VerificationStatusSchema = Type.Union(
  STATUSES.map((status) => Type.Literal(status)),
  {
    description:
      'pending: its code can be checked; approved: a check approved it; canceled: canceled by a caller; expired: its code is past its TTL; ' +
      'max_attempts_reached: its wrong guesses are used up; superseded: a newer send to the same channel and phone replaced it; ' +
      "failed: the provider refused the SMS; unconfirmed: the provider's answer never came (its code counts all the same)",
  },
);

export const Verification = Type.Object(
  {
    id: VerificationId,
    phone: Type.String({ description: 'The number in E.164', examples: [EXAMPLE.phone] }),
    channel: Type.String({ examples: [EXAMPLE.channel] }),
    status: VerificationStatusSchema,
    createdAt: Type.String({ format: 'date-time' }),
    expiresAt: Type.String({ format: 'date-time', description: 'When its code stops being accepted' }),
    attempts: Type.Integer({ minimum: 0, description: 'Wrong guesses so far' }),
    delivery: Type.Object(
      {
        status: Type.Union([Type.Literal('unknown'), Type.Literal('delivered'), Type.Literal('undelivered')]),
        errorCode: Type.Optional(Type.String({ description: "The carrier's code from the delivery report (DELIVERED, or why not)" })),
        reportedAt: Type.Optional(Type.String({ format: 'date-time' })),
      },
      { description: "What the provider's delivery report said, once it came" },
    ),
  },
  { description: 'A verification: one code sent to one phone on one channel' },
);
export const NotificationBody = Type.Object(
  {
    phone: Phone,
    channel: Channel,
    templateCode: TemplateCode,
    templateParam: Type.Optional(
      Type.Record(Type.String({ maxLength: 64 }), Type.String({ maxLength: 512 }), {
        maxProperties: 32,
        description: 'The template variables (default none)',
      }),
    ),
  },
  {
    additionalProperties: false,
    examples: [{ phone: EXAMPLE.phone, channel: 'order', templateCode: 'SMS_154950909', templateParam: { order: 'A1024' } }],
  },
);

/**
 * Every v1 error answer, in Fastify's shape. The document shows one response per status, with the
 * codes that status can carry (see plugins/hooks/error-responses.ts); Fastify serializes with this.
 */
export const ErrorBody = Type.Object(
  { statusCode: Type.Integer(), code: Type.String(), error: Type.String(), message: Type.String() },
  { additionalProperties: true },
);
const ERRORS = { '4xx': ErrorBody, '5xx': ErrorBody };

export const SendVerificationResponses = {
  201: Type.Object(
    {
      phone: Type.String({ description: 'The number in E.164', examples: [EXAMPLE.phone] }),
      channel: Type.String({ examples: [EXAMPLE.channel] }),
      expiresAt: Type.String({ format: 'date-time', description: 'When the code stops being accepted' }),
      id: Type.String({ description: 'The verification id: GET /v1/verifications/{id}, cancel, check by id' }),
      status: Type.Literal('pending', { description: 'Always pending in this answer (a replay too); GET tells the current status' }),
      resendAvailableAt: Type.String({
        format: 'date-time',
        description: "From when the next send to this channel and phone would pass every window of SEND_LIMITS and PHONE_SEND_LIMITS",
      }),
      code: Type.Optional(Type.String({ description: 'The code itself, only with EXPOSE_CODE=true (never in production)' })),
    },
    { description: 'The code was sent' },
  ),
  ...ERRORS,
};

export const CheckVerificationResponses = {
  200: Type.Object({ status: Type.Literal('approved') }, { description: 'The code is right; it cannot be used again' }),
  ...ERRORS,
};

export const NotificationResponses = {
  201: Type.Object(
    {
      phone: Type.String({ description: 'The number in E.164', examples: [EXAMPLE.phone] }),
      channel: Type.String(),
      templateCode: Type.String(),
      bizId: Type.Optional(Type.String({ description: "The provider's id for this send, when it gives one" })),
    },
    { description: 'The notification was sent' },
  ),
  ...ERRORS,
};

export const GetVerificationResponses = { 200: Verification, ...ERRORS };
export const CancelVerificationResponses = { 200: { ...Verification, description: 'The verification, now canceled' }, ...ERRORS };
