import { randomUUID } from 'node:crypto';
import type { BeginResult, IdempotencyStore, KeptResponse } from '../../domain/idempotency.js';

interface Entry {
  readonly fingerprint: string;
  /** Set while the first request runs; undefined once its answer is kept. */
  readonly lease: string | undefined;
  readonly response: KeptResponse | undefined;
  readonly expiresAt: number;
}

export interface MemoryIdempotencyStoreOptions {
  /** The clock (tests move it). */
  readonly now?: () => number;
  /** How often expired entries are swept out; default one minute. */
  readonly sweepEveryMs?: number;
}

/** Idempotency records in this process (the in-memory deployment): each call decides synchronously. */
export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly kind = 'memory' as const;
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(options: MemoryIdempotencyStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.sweeper = setInterval(() => this.sweep(), options.sweepEveryMs ?? 60_000);
    this.sweeper.unref();
  }

  async begin(id: string, fingerprint: string, inFlightMs: number): Promise<BeginResult> {
    const entry = this.live(id);
    if (!entry) {
      const lease = randomUUID();
      this.entries.set(id, { fingerprint, lease, response: undefined, expiresAt: this.now() + inFlightMs });
      return { kind: 'started', lease };
    }
    if (entry.fingerprint !== fingerprint) return { kind: 'mismatch' };
    return entry.response ? { kind: 'replay', response: entry.response } : { kind: 'in_flight' };
  }

  async complete(id: string, lease: string, response: KeptResponse, ttlMs: number): Promise<boolean> {
    const entry = this.live(id);
    if (entry?.lease !== lease) return false;
    this.entries.set(id, { fingerprint: entry.fingerprint, lease: undefined, response, expiresAt: this.now() + ttlMs });
    return true;
  }

  async abandon(id: string, lease: string): Promise<void> {
    if (this.live(id)?.lease === lease) this.entries.delete(id);
  }

  /** Records held, expired ones aside (tests). */
  size(): number {
    this.sweep();
    return this.entries.size;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.entries.clear();
  }

  private live(id: string): Entry | undefined {
    const entry = this.entries.get(id);
    if (entry && entry.expiresAt <= this.now()) {
      this.entries.delete(id);
      return undefined;
    }
    return entry;
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(id);
  }
}
