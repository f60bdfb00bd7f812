import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { ApiKey } from '../../src/config/api-keys.js';
import { errorBody, Errors } from './errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated API key's name; undefined when authentication is off. */
    caller: string | undefined;
    /** The channels the authenticated key may use; undefined: all. */
    callerChannels: ReadonlySet<string> | undefined;
  }
}

export interface AuthOptions {
  readonly keys: readonly ApiKey[];
  /** Whether `/metrics` and `/docs` need a key as well. */
  readonly protectOpsRoutes: boolean;
}

interface StoredKey {
  readonly name: string;
  readonly digest: Buffer;
  readonly channels: ReadonlySet<string> | undefined;
}

type Guard = 'api' | 'ops' | 'open';

/** Which routes need a key: the APIs always, the ops routes when asked, health never. */
function guardOf(url: string | undefined): Guard {
  if (!url) return 'open';
  if (url.startsWith('/v1/') || url.startsWith('/sms_message/')) return 'api';
  if (url === '/metrics' || url === '/docs' || url.startsWith('/docs/')) return 'ops';
  return 'open';
}

const BEARER = /^Bearer ([\x21-\x7e]{1,256})$/;

const digest = (token: string): Buffer => createHash('sha256').update(token).digest();

/**
 * `Authorization: Bearer <token>` on every API route when keys are configured.
 * Missing, malformed and unknown tokens all answer the same 401; a key used for a
 * channel it is not allowed answers 403. Tokens are compared as SHA-256 digests in
 * constant time, against every key, and never logged.
 */
const auth: FastifyPluginAsync<AuthOptions> = async (fastify, { keys, protectOpsRoutes }) => {
  fastify.decorateRequest('caller', undefined);
  fastify.decorateRequest('callerChannels', undefined);
  if (keys.length === 0) return;
  const stored: StoredKey[] = keys.map((key) => ({
    name: key.name,
    digest: digest(key.token),
    channels: key.channels ? new Set(key.channels) : undefined,
  }));

  fastify.addHook('onRequest', async (request, reply) => {
    const guard = guardOf(request.routeOptions.url);
    if (guard === 'open' || (guard === 'ops' && !protectOpsRoutes)) return;
    const key = authenticate(stored, request.headers.authorization);
    if (!key) return deny(reply.header('www-authenticate', 'Bearer'), new Errors.UNAUTHORIZED());
    request.caller = key.name;
    if (guard === 'api') request.callerChannels = key.channels;
  });

  // After the body is parsed, before it is validated: a key limited to some channels may use only those.
  fastify.addHook('preValidation', async (request, reply) => {
    const allowed = request.callerChannels;
    if (allowed && !allowed.has(requestedChannel(request) ?? '')) return deny(reply, new Errors.FORBIDDEN());
  });
};

export default fp(auth, { name: 'auth', fastify: '5.x' });

function authenticate(keys: readonly StoredKey[], header: string | undefined): StoredKey | undefined {
  const token = header ? BEARER.exec(header)?.[1] : undefined;
  const presented = digest(token ?? '');
  let match: StoredKey | undefined;
  // Compare with every key, so the time taken says nothing about which (if any) matched.
  for (const key of keys) {
    if (timingSafeEqual(key.digest, presented) && token !== undefined) match = key;
  }
  return match;
}

/** The channel a request acts on: the body's (both APIs) or the audit query's. */
function requestedChannel(request: FastifyRequest): string | undefined {
  const fromBody = (request.body as { channel?: unknown } | undefined)?.channel;
  const fromQuery = (request.query as { channel?: unknown } | undefined)?.channel;
  const channel = fromBody ?? fromQuery;
  return typeof channel === 'string' ? channel : undefined;
}

/** Answers in Fastify's error shape on every route, legacy ones included. */
function deny(reply: FastifyReply, error: FastifyError): FastifyReply {
  return reply.code(error.statusCode ?? 401).send(errorBody(error));
}
