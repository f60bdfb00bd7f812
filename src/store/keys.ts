import type { Subject } from './store.js';

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
}

export function subjectKeys(prefix: string, subject: Subject): SubjectKeys {
  const base = `${prefix}{${subject.phone}}:${subject.channel}`;
  return { code: `${base}:code`, sends: `${base}:sends` };
}

export function secretKey(prefix: string): string {
  return `${prefix}secret`;
}
