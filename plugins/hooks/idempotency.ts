import { createHash } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import stringify from 'safe-stable-stringify';
import type { Config } from '../../src/config/config.js';
import { idempotencyId, type IdempotencyStore, type KeptResponse } from '../../src/domain/idempotency.js';
import { Errors, loggableError } from './errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Honour `Idempotency-Key` on this route (replay, refuse or record). */
    idempotent?: boolean;
  }
}

/** The in-flight record a request holds, from the moment it claimed its key until its answer is sent. */
type Held = { readonly id: string; readonly lease: string };

export interface IdempotencyOptions {
  readonly store: IdempotencyStore;
  /** How long an answer is kept (`IDEMPOTENCY_TTL`). */
  readonly ttlMs: number;
  /** How long an in-flight record may outlive its request (one that crashed): longer than any request takes. */
  readonly inFlightMs: number;
}

/** The headers a replay carries again besides the body; the rest (request id…) belong to each answer. */
const KEPT_HEADERS = ['content-type', 'retry-after'] as const;

/**
 * The longest a send can take, doubled: the provider call (its timeout) and a few store round trips.
 * An in-flight record lives this long at most, so a crashed request frees its key after it.
 */
export function inFlightBoundMs(config: Pick<Config, 'aliyun' | 'storeTimeoutMs'>): number {
  return Math.max(60_000, 2 * (config.aliyun.timeoutMs + 5 * config.storeTimeoutMs));
}

/**
 * `Idempotency-Key` (IETF httpapi draft) on routes declared `config: { idempotent: true }`. The first
 * request with a key runs and its answer is kept under (API key name, route, key); a repeat with the
 * same body gets that answer again with `Idempotent-Replayed: true`, without running. Another body:
 * 422 IDEMPOTENCY_KEY_REUSED; the first still running: 409 IDEMPOTENCY_KEY_IN_USE, Retry-After 1.
 * Every answer is kept except 503 STORE_UNAVAILABLE (nothing happened: a retry must run).
 */
export default fp<IdempotencyOptions>(
  async (fastify, { store, ttlMs, inFlightMs }) => {
    const held = new WeakMap<FastifyRequest, Held>();

    fastify.addHook('onRoute', (route) => {
      if (route.config?.idempotent) route.schema = { ...route.schema, headers: withKeyHeader(route.schema?.headers) };
    });

    // After authentication and body validation: the caller and the parsed body are known.
    fastify.addHook('preHandler', async (request, reply) => {
      if (!request.routeOptions.config.idempotent) return;
      const header = request.headers['idempotency-key'];
      if (header === undefined) return;
      const key = parseIdempotencyKey(header);
      if (key === undefined) throw new Errors.INVALID_IDEMPOTENCY_KEY();
      const id = idempotencyId({ caller: request.caller, route: `${request.method} ${request.routeOptions.url}`, key });
      const begun = await store.begin(id, fingerprint(request.body), inFlightMs);
      switch (begun.kind) {
        case 'started':
          held.set(request, { id, lease: begun.lease });
          return;
        case 'replay':
          return replay(reply, begun.response);
        case 'in_flight':
          reply.header('retry-after', '1');
          throw new Errors.IDEMPOTENCY_KEY_IN_USE();
        case 'mismatch':
          throw new Errors.IDEMPOTENCY_KEY_REUSED();
      }
    });

    // Before the answer leaves: a client that retries as soon as it has it finds the answer kept.
    fastify.addHook('onSend', async (request, reply, payload) => {
      const record = held.get(request);
      if (!record) return payload;
      held.delete(request);
      try {
        const body = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : undefined;
        if (body === undefined || isStoreUnavailable(reply.statusCode, body)) {
          await store.abandon(record.id, record.lease);
        } else if (!(await store.complete(record.id, record.lease, { statusCode: reply.statusCode, headers: keptHeaders(reply), body }, ttlMs))) {
          request.log.warn('an idempotent request outlived its in-flight bound: its answer is not kept');
        }
      } catch (error) {
        // The answer still goes out; the in-flight record frees the key when its bound passes.
        request.log.warn({ error: loggableError(error) }, 'could not record the answer of an idempotent request');
      }
      return payload;
    });
  },
  { name: 'idempotency', fastify: '5.x' },
);

const PRINTABLE = /^[\x20-\x7e]{1,255}$/;

/**
 * The key a header value names, or undefined if it is not 1–255 printable ASCII characters. The
 * draft makes it a Structured Field string (`"…"`, `\"` and `\\` escaped); a bare value is taken as is.
 */
export function parseIdempotencyKey(header: string | string[]): string | undefined {
  if (Array.isArray(header) || !/^[\x20-\x7e]*$/.test(header)) return undefined;
  const key = header.length >= 2 && header.startsWith('"') && header.endsWith('"') ? unquote(header.slice(1, -1)) : header;
  return key !== undefined && PRINTABLE.test(key) ? key : undefined;
}

/** The content of an sf-string: `\"` and `\\` are the only escapes, a bare `"` ends it early (invalid). */
function unquote(inner: string): string | undefined {
  let out = '';
  for (let i = 0; i < inner.length; i++) {
    let char = inner[i] as string;
    if (char === '"') return undefined;
    if (char === '\\') {
      char = inner[++i] ?? '';
      if (char !== '"' && char !== '\\') return undefined;
    }
    out += char;
  }
  return out;
}

/** SHA-256 of the parsed body as canonical JSON (keys sorted): the same request however it is spelled. */
function fingerprint(body: unknown): string {
  return createHash('sha256').update(stringify(body ?? null) ?? 'null').digest('base64url');
}

function isStoreUnavailable(statusCode: number, body: string): boolean {
  if (statusCode !== 503) return false;
  try {
    return (JSON.parse(body) as { code?: unknown }).code === new Errors.STORE_UNAVAILABLE().code;
  } catch {
    return false;
  }
}

function keptHeaders(reply: FastifyReply): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const name of KEPT_HEADERS) {
    const value = reply.getHeader(name);
    if (value !== undefined) kept[name] = String(value);
  }
  return kept;
}

function replay(reply: FastifyReply, response: KeptResponse): FastifyReply {
  return reply.code(response.statusCode).headers(response.headers).header('idempotent-replayed', 'true').send(response.body);
}

const KeyHeader = Type.String({
  description: 'Makes the request idempotent: a repeat with the same key and body gets the first answer again (header Idempotent-Replayed: true). 1–255 printable ASCII characters, quoted or not.',
});

export function withKeyHeader(headers: unknown): unknown {
  const base = (headers ?? Type.Object({})) as { properties?: Record<string, unknown> };
  return { ...base, type: 'object', properties: { ...base.properties, 'idempotency-key': KeyHeader } };
}
