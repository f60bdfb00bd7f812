import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyError, FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import type { ApiKey } from '../../src/config/api-keys.js';
import { isScope, SCOPES, type Scope } from '../../src/domain/access/scope.js';
import { errorBody, Errors } from './errors.js';

/**
 * Who may call a route, declared in the route's own options (`config: { auth }`):
 * - `'open'`: anyone, always (health probes);
 * - `'ops'`: any valid key when `PROTECT_OPS_ROUTES` is on (metrics, docs), whatever its scopes;
 * - `{ scope }`: a valid key holding that scope whenever keys are configured; a key limited to some
 *   channels may also name only those.
 * Keys are configured or not as a whole: without keys every route answers everyone.
 */
export type RouteAuth = 'open' | 'ops' | { readonly scope: Scope };

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route. Every route must say; the app does not start otherwise. */
    auth?: RouteAuth;
    /**
     * The route may name no channel (it acts on a verification by id): it then finds the channel itself
     * and answers as if the resource did not exist when the caller's key may not use it.
     */
    channelsByResource?: boolean;
  }
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
  readonly scopes: ReadonlySet<Scope>;
}

const CONTEXT_AUTH = Symbol('auth of every route of this context');

/**
 * Declares `auth` for the routes registered in `instance` (and the plugins inside it) that declare none:
 * for third-party plugins whose route options we do not write (Swagger UI's pages and assets).
 */
export function declareContextAuth(instance: FastifyInstance, auth: RouteAuth): void {
  instance.decorate<RouteAuth>(CONTEXT_AUTH, auth);
}

/** The route's declaration, for other plugins (the docs) to describe. Undefined only for a 404. */
export function routeAuthOf(route: Pick<RouteOptions, 'config'>): RouteAuth | undefined {
  return (route.config as { auth?: RouteAuth } | undefined)?.auth;
}

const BEARER = /^Bearer ([\x21-\x7e]{1,256})$/;

const digest = (token: string): Buffer => createHash('sha256').update(token).digest();

/**
 * Register before every plugin that adds routes: it checks each route's declaration as it is added,
 * so a route that says nothing stops the app at start-up instead of answering everyone.
 *
 * When keys are configured: `Authorization: Bearer <token>`, compared as SHA-256 digests in constant
 * time against every key and never logged. Missing, malformed and unknown tokens all answer the same
 * 401; a key without the route's scope, or used for a channel it is not allowed, answers 403. Both in
 * Fastify's error shape, on every route (legacy ones included).
 */
const auth: FastifyPluginAsync<AuthOptions> = async (fastify, { keys, protectOpsRoutes }) => {
  fastify.decorateRequest('caller', undefined);
  fastify.decorateRequest('callerChannels', undefined);

  fastify.addHook('onRoute', function requireDeclaration(route) {
    const declared = routeAuthOf(route) ?? (this as unknown as Record<symbol, RouteAuth | undefined>)[CONTEXT_AUTH];
    if (!isRouteAuth(declared)) {
      const methods = typeof route.method === 'string' ? route.method : route.method.join(',');
      throw new Error(
        `Route ${methods} ${route.url} ${declared === undefined ? 'declares no auth' : 'declares an invalid auth'}: ` +
          `add config: { auth: 'open' | 'ops' | { scope: ${SCOPES.map((s) => `'${s}'`).join(' | ')} } } to its options`,
      );
    }
    route.config = { ...route.config, auth: declared };
  });

  if (keys.length === 0) return;
  const stored: StoredKey[] = keys.map((key) => ({
    name: key.name,
    digest: digest(key.token),
    channels: key.channels ? new Set(key.channels) : undefined,
    scopes: new Set(key.scopes),
  }));

  fastify.addHook('onRequest', async (request, reply) => {
    // No route matched: the 404 says nothing a caller could use, with or without a key.
    const declared = request.is404 ? 'open' : request.routeOptions.config.auth;
    if (declared === 'open' || (declared === 'ops' && !protectOpsRoutes)) return;
    const key = authenticate(stored, request.headers.authorization);
    if (!key) return deny(reply.header('www-authenticate', 'Bearer'), new Errors.UNAUTHORIZED());
    request.caller = key.name;
    if (declared === 'ops') return;
    // (A route without a declaration cannot be registered; were one to exist, it would be refused here.)
    if (declared === undefined || !key.scopes.has(declared.scope)) return deny(reply, new Errors.FORBIDDEN());
    request.callerChannels = key.channels;
  });

  // After the body is parsed, before it is validated: a key limited to some channels may name only those.
  fastify.addHook('preValidation', async (request, reply) => {
    const allowed = request.callerChannels;
    if (!allowed) return;
    const named = requestedChannels(request);
    if (named.length === 0 && request.routeOptions.config.channelsByResource) return;
    if (named.length === 0 || !named.every((channel) => typeof channel === 'string' && allowed.has(channel))) {
      return deny(reply, new Errors.FORBIDDEN());
    }
  });
};

export default fp(auth, { name: 'auth', fastify: '5.x' });

function isRouteAuth(value: unknown): value is RouteAuth {
  if (value === 'open' || value === 'ops') return true;
  return typeof value === 'object' && value !== null && isScope((value as { scope?: unknown }).scope);
}

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

/**
 * Every channel a request names, wherever: the body's (both APIs) and the query's (the audit). All of
 * them must be allowed, so a body cannot vouch for a different channel in the query.
 */
function requestedChannels(request: FastifyRequest): unknown[] {
  const fromBody = (request.body as { channel?: unknown } | undefined)?.channel;
  const fromQuery = (request.query as { channel?: unknown } | undefined)?.channel;
  return [fromBody, fromQuery].filter((channel) => channel !== undefined);
}

/** Answers in Fastify's error shape on every route, legacy ones included. */
function deny(reply: FastifyReply, error: FastifyError): FastifyReply {
  return reply.code(error.statusCode ?? 401).send(errorBody(error));
}
