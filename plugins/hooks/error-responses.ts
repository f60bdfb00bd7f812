import { STATUS_CODES } from 'node:http';
import { Errors } from './errors.js';

type ErrorName = keyof typeof Errors;

/** A Fastify error a route can answer with that is not in the catalogue: [status, code, meaning]. */
export type FrameworkError = readonly [number, string, string];

/** Body fields some errors carry besides `{statusCode, code, error, message}` (see `withExtra`). */
const EXTRA_FIELDS = {
  retryAfter: { type: 'integer', minimum: 1, description: 'Seconds to wait before retrying (also in `Retry-After`)' },
  limit: { type: 'string', description: 'The refusing limit, `<scope>:<window>`, e.g. `channel:1/60s`', examples: ['channel:1/60s'] },
  attemptsRemaining: { type: 'integer', minimum: 0, description: 'Wrong guesses left for this code' },
  id: { type: 'string', description: 'The verification the send made (a code send): it reads `unconfirmed`, and its code verifies if the SMS came' },
  status: { type: 'string', description: 'The verification\'s current status' },
} as const;

type ExtraField = keyof typeof EXTRA_FIELDS;

const SEND_LIMIT_FIELDS: readonly ExtraField[] = ['retryAfter', 'limit'];

/** Which errors carry which extra fields. An error that carries `retryAfter` also sets `Retry-After`. */
const ERROR_FIELDS: Partial<Record<ErrorName, readonly ExtraField[]>> = {
  RATE_LIMITED: SEND_LIMIT_FIELDS,
  PHONE_RATE_LIMITED: SEND_LIMIT_FIELDS,
  IP_RATE_LIMITED: SEND_LIMIT_FIELDS,
  GLOBAL_RATE_LIMITED: SEND_LIMIT_FIELDS,
  NOTICE_RATE_LIMITED: SEND_LIMIT_FIELDS,
  SMS_SEND_UNCONFIRMED: [...SEND_LIMIT_FIELDS, 'id'],
  VERIFICATION_NOT_PENDING: ['status'],
  VERIFY_RATE_LIMITED: ['retryAfter'],
  CHECK_RATE_LIMITED: ['retryAfter'],
  OTP_MISMATCH: ['attemptsRemaining'],
};

interface Answer {
  readonly code: string;
  readonly meaning: string;
  readonly fields: readonly ExtraField[];
}

/** The catalogue errors and Fastify errors a route answers with, grouped by HTTP status. */
function answersByStatus(names: readonly ErrorName[], framework: readonly FrameworkError[]): Map<number, Answer[]> {
  const byStatus = new Map<number, Answer[]>();
  const add = (status: number, answer: Answer): void => {
    const answers = byStatus.get(status) ?? [];
    if (!answers.some((a) => a.code === answer.code)) answers.push(answer);
    byStatus.set(status, answers);
  };
  for (const name of names) {
    const error = new Errors[name]();
    add(error.statusCode ?? 500, { code: error.code, meaning: error.message.replaceAll('%s', 'N'), fields: ERROR_FIELDS[name] ?? [] });
  }
  for (const [status, code, meaning] of framework) add(status, { code, meaning, fields: [] });
  return new Map([...byStatus].sort(([a], [b]) => a - b));
}

/** One error response (JSON Schema with a `description` and `headers`, as @fastify/swagger reads it). */
function errorResponse(status: number, answers: readonly Answer[]): Record<string, unknown> {
  const extras = [...new Set(answers.flatMap((a) => a.fields))];
  const carriers = (field: ExtraField): string =>
    answers
      .filter((a) => a.fields.includes(field))
      .map((a) => `\`${a.code}\``)
      .join(', ');
  const reason = STATUS_CODES[status] ?? 'Error';
  return {
    'x-response-description': [`${reason}. \`code\` says why:`, '', ...answers.map((a) => `- \`${a.code}\`: ${a.meaning}`)].join('\n'),
    type: 'object',
    required: ['statusCode', 'code', 'error', 'message'],
    properties: {
      statusCode: { type: 'integer', enum: [status] },
      code: { type: 'string', enum: answers.map((a) => a.code) },
      error: { type: 'string', enum: [reason] },
      message: { type: 'string', description: 'For people; match on `code`' },
      ...Object.fromEntries(
        extras.map((field) => [field, { ...EXTRA_FIELDS[field], description: `${EXTRA_FIELDS[field].description}; with ${carriers(field)}` }]),
      ),
    },
    additionalProperties: true,
    ...(extras.includes('retryAfter')
      ? { headers: { 'Retry-After': { type: 'integer', description: `Seconds to wait; with ${carriers('retryAfter')}` } } }
      : {}),
  };
}

/**
 * A route's responses as the document shows them: its own success responses, and one response per
 * error status (instead of the `4xx`/`5xx` ranges Fastify serializes with), each listing the codes
 * that status can carry. Built from the error catalogue, so the document cannot drift from it.
 */
export function withErrorResponses(
  responses: Readonly<Record<string, unknown>> | undefined,
  names: readonly ErrorName[],
  framework: readonly FrameworkError[],
): Record<string, unknown> {
  const own = Object.fromEntries(Object.entries(responses ?? {}).filter(([status]) => !/^[45]xx$/i.test(status)));
  const errors = [...answersByStatus(names, framework)].map(([status, answers]) => [String(status), errorResponse(status, answers)]);
  return { ...own, ...Object.fromEntries(errors) };
}
