import type { PriorDecision } from '../../domain/verification/rules.js';

/** The memory store's records: shaped like the Redis keys the scripts write (see src/stores/keys.ts). */

export interface CodeState {
  readonly hash: string;
  readonly sendId: string;
  readonly sentAt: number;
  readonly expiresAt: number;
  used: boolean;
  attempts: number;
  canceled: boolean;
  /** What idempotent checks decided on this code, by idempotency key. */
  readonly decisions: Map<string, PriorDecision>;
}

export interface CodeRecord {
  /** The code that verifies; undefined until a send is committed. */
  current: CodeState | undefined;
  /** Reserved sends whose SMS is in flight, by send id. */
  pending: Map<string, CodeState>;
  keepUntil: number;
}

/** A sorted log of timestamps, like the Redis sorted sets the scripts use. */
export interface TimeLog {
  entries: Array<{ readonly id: string; readonly at: number }>;
  keepUntil: number;
}

export interface MemoryStoreOptions {
  /** The clock (ms). Tests move it; production uses `Date.now`. */
  readonly now?: () => number;
  /** How often expired records are swept out, so memory stays bounded. */
  readonly sweepIntervalMs?: number;
  /** Audit retention; the in-process log keeps at most `maxLen` (default 10,000) events. */
  readonly audit?: { readonly retentionMs: number; readonly maxLen?: number | undefined };
  /** How long a verification (and where its OutId leads) is kept after its send: `VERIFICATION_RETENTION`. */
  readonly verificationRetentionMs?: number;
}

export const DEFAULT_VERIFICATION_RETENTION_MS = 86_400_000;

/** The times of a log's entries, oldest first. */
export function times(entries: TimeLog['entries']): number[] {
  return entries.map((entry) => entry.at);
}
