import { ipBucket } from '../domain/limits/ip-bucket.js';
import type { LimitScope, SendLimits, Subject } from '../domain/store.js';

/**
 * Redis key layout. All keys of one phone share the hash tag `{<E.164>}`, so one
 * script can touch them on Redis Cluster. Channels are `[A-Za-z0-9_.-]` and phones
 * E.164, so no input can add a brace, colon or wildcard to a key.
 */
export interface SubjectKeys {
  /** Hash: the current code's HMAC, times, attempts, and the previous code. */
  readonly code: string;
  /** Sorted set: one member per counted send, scored by Redis time (ms). */
  readonly sends: string;
  /** Hash: one field per verification (send id) of this (channel, phone), kept `VERIFICATION_RETENTION`. */
  readonly verifications: string;
  /** Hash: the decisions idempotent checks took on the current code, by idempotency key; lives as long as the code. */
  readonly checks: string;
}

export function subjectKeys(prefix: string, subject: Subject): SubjectKeys {
  const base = `${prefix}{${subject.phone}}:${subject.channel}`;
  return { code: `${base}:code`, sends: `${base}:sends`, verifications: `${base}:ver`, checks: `${base}:checks` };
}

/** The send log of a phone across its channels. */
export function phoneSendsKey(prefix: string, phone: string): string {
  return `${prefix}{${phone}}:sends`;
}

/**
 * Where an OutId (a verification id, a notice's send id) leads: `kind phone channel`, kept
 * `VERIFICATION_RETENTION`. Its own slot on Cluster (ids are hex or base36: no braces).
 */
export function outIdKey(prefix: string, outId: string): string {
  return `${prefix}out:${outId}`;
}

/**
 * The send log a limit counts in. IPs come from the socket (or a trusted proxy), never from a body.
 * A trusted `X-Forwarded-For` can still carry any text (`TRUST_PROXY=true` takes its left-most entry
 * as is), so an address that is not an IP counts under `unknown` rather than shaping the key.
 */
export function limitKey(prefix: string, scope: LimitScope, subject: Subject, limits: SendLimits): string {
  switch (scope) {
    case 'channel':
      return subjectKeys(prefix, subject).sends;
    case 'phone':
      return phoneSendsKey(prefix, subject.phone);
    case 'notice':
      return `${prefix}{${subject.phone}}:notices`;
    case 'ip':
      return `${prefix}{ip:${ipKeyPart(limits.ip?.address)}}:sends`;
    case 'global':
      return `${prefix}{global}:sends`;
  }
}

function ipKeyPart(address: string | undefined): string {
  return ipBucket(address) ?? 'unknown';
}

/** Checks from one client IP (IP_CHECK_LIMITS), in the same per-IP bucket as the IP's send log. */
export function ipChecksKey(prefix: string, address: string): string {
  return `${prefix}{ip:${ipKeyPart(address)}}:checks`;
}

/** Wrong guesses of a phone across all its codes. */
export function failuresKey(prefix: string, phone: string): string {
  return `${prefix}{${phone}}:failures`;
}

export function secretKey(prefix: string): string {
  return `${prefix}secret`;
}
