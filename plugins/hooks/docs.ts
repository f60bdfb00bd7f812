import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifySchema, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import packageJson from '../../package.json' with { type: 'json' };
import { declareContextAuth, routeAuthOf, type RouteAuth } from './auth.js';
import { withErrorResponses } from './error-responses.js';
import { Errors } from './errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Parts of the route's OpenAPI description that Fastify must not see: a schema here is
     * documented but never validated or serialized (the legacy routes accept any JSON).
     */
    openapi?: OpenApiOnly;
  }
}

export interface OpenApiOnly {
  readonly body?: unknown;
  readonly response?: Readonly<Record<string, unknown>>;
}

type ErrorName = keyof typeof Errors;

/** What a route with `config: { idempotent: true }` adds (see hooks/idempotency.ts). */
const IDEMPOTENCY_ERRORS: readonly ErrorName[] = ['INVALID_IDEMPOTENCY_KEY', 'IDEMPOTENCY_KEY_IN_USE', 'IDEMPOTENCY_KEY_REUSED'];

/** What every route that sends an SMS (a code or a notice) may answer, after its own refusals. */
const SMS_OUT_ERRORS: readonly ErrorName[] = [
  'IP_RATE_LIMITED',
  'GLOBAL_RATE_LIMITED',
  'PROVIDER_RATE_LIMITED',
  'SMS_SEND_FAILED',
  'SMS_SEND_UNCONFIRMED',
  'PROVIDER_UNAVAILABLE',
  ...IDEMPOTENCY_ERRORS,
];

/** The error codes each v1 route answers with, besides `COMMON_ERRORS`. */
export const ROUTE_ERRORS: Readonly<Record<string, readonly ErrorName[]>> = {
  'POST /v1/verifications': ['INVALID_PHONE', 'INVALID_INPUT', 'PHONE_BLOCKED', 'RATE_LIMITED', 'PHONE_RATE_LIMITED', ...SMS_OUT_ERRORS],
  'POST /v1/verifications/check': [
    'INVALID_PHONE',
    'INVALID_CODE',
    'INVALID_INPUT',
    'VERIFICATION_NOT_FOUND',
    'OTP_NOT_FOUND',
    'OTP_EXPIRED',
    'OTP_ALREADY_USED',
    'OTP_MISMATCH',
    'OTP_TOO_MANY_ATTEMPTS',
    'VERIFY_RATE_LIMITED',
    'INVALID_IDEMPOTENCY_KEY',
    'CHECK_RATE_LIMITED',
  ],
  'GET /v1/verifications/{id}': ['VERIFICATION_NOT_FOUND'],
  'POST /v1/verifications/{id}/cancel': ['VERIFICATION_NOT_FOUND', 'VERIFICATION_NOT_PENDING'],
  'POST /v1/notifications': ['INVALID_PHONE', 'INVALID_INPUT', 'TEMPLATE_NOT_ALLOWED', 'PHONE_BLOCKED', 'NOTICE_RATE_LIMITED', ...SMS_OUT_ERRORS],
  'GET /v1/audit': ['INVALID_PHONE', 'INVALID_INPUT'],
};

/** Every v1 route can answer these. */
const COMMON_ERRORS: readonly ErrorName[] = ['UNAUTHORIZED', 'FORBIDDEN', 'STORE_UNAVAILABLE', 'INTERNAL'];

/** Fastify's own errors a v1 caller can see (they pass through the error handler unchanged). */
const FRAMEWORK_ERRORS = [
  [400, 'FST_ERR_VALIDATION', 'the body or query does not match the schema (unknown fields are refused)'],
  [400, 'FST_ERR_CTP_INVALID_JSON_BODY', 'the body is not JSON'],
  [413, 'FST_ERR_CTP_BODY_TOO_LARGE', 'the body is larger than BODY_LIMIT_BYTES'],
  [415, 'FST_ERR_CTP_INVALID_MEDIA_TYPE', 'the body is not application/json'],
] as const;

const TAGS = [
  { name: 'v1', description: 'The JSON API: real HTTP statuses, errors as `{statusCode, code, error, message}`' },
  { name: 'legacy', description: 'The seed\'s `/sms_message/*` contract: always HTTP 200, the outcome in the body `code`' },
  { name: 'audit', description: 'The audit trail of sends and checks' },
  { name: 'ops', description: 'Health, readiness and metrics' },
];

/**
 * What the docs say about who may call a route, from the route's own `auth` declaration (the one the
 * auth hook enforces): its group, its OpenAPI security (open routes need nothing; the others inherit
 * the document's bearer scheme) and a sentence naming the scope.
 */
function describeAuth(auth: RouteAuth | undefined): { tag?: string; security?: []; note?: string } {
  if (auth === undefined) return {};
  if (auth === 'open') return { tag: 'ops', security: [], note: 'Needs no API key.' };
  if (auth === 'ops') {
    return { tag: 'ops', note: 'Needs an API key (any scope) when `PROTECT_OPS_ROUTES` is on, the default when keys are configured.' };
  }
  return {
    tag: auth.scope === 'audit' ? 'audit' : 'v1',
    note: `Needs an API key with the \`${auth.scope}\` scope when keys are configured (otherwise \`403 FORBIDDEN\`).`,
  };
}

/** A Markdown table of the error codes a route answers with, with their HTTP statuses. */
export function errorTable(names: readonly ErrorName[]): string {
  const rows = names.map((name) => {
    const error = new Errors[name]();
    return `| ${error.statusCode} | \`${error.code}\` | ${error.message.replaceAll('%s', 'N')} |`;
  });
  const framework = FRAMEWORK_ERRORS.map(([status, code, meaning]) => `| ${status} | \`${code}\` | ${meaning} |`);
  return ['| Status | Code | Meaning |', '| --- | --- | --- |', ...rows, ...framework].join('\n');
}

function methodsOf(route: RouteOptions): string[] {
  return typeof route.method === 'string' ? [route.method] : [...route.method];
}

/** Adds tags, the v1 error tables and the OpenAPI-only parts of a route to what the document shows. */
function describeRoute({ schema, url, route }: { schema: FastifySchema; url: string; route: RouteOptions }): {
  schema: FastifySchema;
  url: string;
} {
  const described: FastifySchema & { security?: unknown } = { ...schema };
  const { tag, security, note } = describeAuth(routeAuthOf(route));
  if (!described.tags && tag) described.tags = [tag];
  if (described.security === undefined && security) described.security = security;
  if (note) described.description = [described.description, note].filter(Boolean).join('\n\n');
  // Keys name paths as the document does (`/v1/verifications/{id}`); Fastify's are `/v1/verifications/:id`.
  const path = url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
  const codes = methodsOf(route).flatMap((method) => ROUTE_ERRORS[`${method} ${path}`] ?? []);
  if (codes.length > 0) {
    const names = [...new Set([...codes, ...COMMON_ERRORS])];
    const table = errorTable(names);
    described.description = [described.description, `**Errors** (body \`{statusCode, code, error, message}\`):\n\n${table}`]
      .filter(Boolean)
      .join('\n\n');
    // One response per status, with its codes; a GET has no body, so no body errors.
    const bodyless = methodsOf(route).every((method) => method === 'GET' || method === 'DELETE');
    const framework = FRAMEWORK_ERRORS.filter(([, code]) => !bodyless || code === 'FST_ERR_VALIDATION');
    described.response = withErrorResponses(described.response as Record<string, unknown> | undefined, names, framework);
  }
  const extra = route.config?.openapi;
  if (extra?.body !== undefined && described.body === undefined) described.body = extra.body;
  if (extra?.response !== undefined && described.response === undefined) described.response = extra.response;
  return { schema: described, url };
}

/**
 * The OpenAPI 3 document at `/docs/json` (and `/docs/yaml`), generated from the route schemas,
 * and the Swagger UI at `/docs`. Register it before the routes: it collects them as they are added.
 */
export default fp(
  async (fastify) => {
    await fastify.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'SMS verification service',
          version: packageJson.version,
          description: [
            'Sends SMS verification codes and checks them, and sends template notifications, through Alibaba Cloud SMS.',
            'Two APIs: `/v1` (HTTP statuses, errors in Fastify\'s shape, one stable `code` per error) and the',
            'legacy `/sms_message/*` contract (always HTTP 200, outcome in the body `code`).',
            'When `API_KEYS` is set, both need `Authorization: Bearer <token>` of a key with the route\'s scope',
            '(`verify`: codes, `notify`: notices, `audit`: the audit trail); `/healthz` and `/readyz` never do.',
            'Every response carries an `x-request-id` header.',
          ].join(' '),
        },
        // Relative: the document is right wherever the service is reached (directly or behind a proxy).
        servers: [{ url: '/', description: 'This service' }],
        tags: TAGS,
        components: {
          securitySchemes: {
            bearerAuth: {
              type: 'http',
              scheme: 'bearer',
              description: 'An API key token from API_KEYS / API_KEYS_FILE (required when keys are configured)',
            },
          },
        },
        security: [{ bearerAuth: [] }],
      },
      transform: describeRoute,
    });
    // The UI's pages, assets and the document itself are ops routes, like /metrics.
    await fastify.register(async (ui) => {
      declareContextAuth(ui, 'ops');
      await ui.register(swaggerUi, { routePrefix: '/docs' });
    });
  },
  { name: 'docs', fastify: '5.x', dependencies: ['auth'] },
);
