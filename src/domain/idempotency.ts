import { createHash } from 'node:crypto';

/**
 * Idempotent requests (the IETF `Idempotency-Key` draft): the first request with a key runs and its
 * answer is kept; a repeat gets the kept answer instead of running again. The store decides, in one
 * atomic step per call, who runs: a key is first claimed by an in-flight record (bounded in time, so
 * a crashed request cannot hold it forever), which the answer then replaces.
 */

/** What is kept of an answer: enough to send it again byte for byte. */
export interface KeptResponse {
  readonly statusCode: number;
  /** The headers that matter for a replay (content type, Retry-After), lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export type BeginResult =
  /** The key was free: this request runs; `lease` proves it when completing or abandoning. */
  | { readonly kind: 'started'; readonly lease: string }
  /** A request with the same key and body has answered: send its answer again. */
  | { readonly kind: 'replay'; readonly response: KeptResponse }
  /** A request with the same key and body is still running. */
  | { readonly kind: 'in_flight' }
  /** The key was used with another body. */
  | { readonly kind: 'mismatch' };

export interface IdempotencyStore {
  readonly kind: 'memory' | 'redis';
  /** Claims `id` for a request whose body has `fingerprint` (an in-flight record kept `inFlightMs`), or tells what holds it. */
  begin(id: string, fingerprint: string, inFlightMs: number): Promise<BeginResult>;
  /** Replaces the in-flight record `lease` holds with the answer, kept `ttlMs`. False: the lease had expired (nothing is written). */
  complete(id: string, lease: string, response: KeptResponse, ttlMs: number): Promise<boolean>;
  /** Drops the in-flight record `lease` holds, so that a retry runs (nothing happened). */
  abandon(id: string, lease: string): Promise<void>;
  close(): Promise<void>;
}

/** Whose key it is: keys are scoped by API key name (callers without one share a scope), route and key. */
export interface IdempotencyScope {
  /** The API key's name; undefined: unauthenticated callers. */
  readonly caller: string | undefined;
  /** Method and route pattern, e.g. `POST /v1/verifications`. */
  readonly route: string;
  readonly key: string;
}

/** A fixed-length id for a scope: no caller text shapes a store key. */
export function idempotencyId(scope: IdempotencyScope): string {
  return createHash('sha256').update(JSON.stringify([scope.caller ?? null, scope.route, scope.key])).digest('base64url');
}
