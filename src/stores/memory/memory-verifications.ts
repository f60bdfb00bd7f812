import type {
  Delivery,
  DeliveryReceipt,
  OutIdTarget,
  SendState,
  Subject,
  VerificationRecord,
  VerificationView,
} from '../../domain/store.js';
import { verificationStatus } from '../../domain/verification/rules.js';

/** A verification record as the memory store keeps it (the fields a script would write, mutable). */
export type MutableRecord = { -readonly [K in keyof VerificationRecord]: VerificationRecord[K] };

interface OutIdEntry {
  readonly target: OutIdTarget;
  readonly keepUntil: number;
  /** Notices only: a report was recorded. */
  noticeReported: boolean;
}

/**
 * The verification records and the OutId index of the memory store, each kept `retentionMs` after
 * its send, like the Redis keys (`:ver` hashes, `out:` keys). No rule lives here: MemoryStore applies
 * the ones in rules.ts.
 */
export class MemoryVerifications {
  private readonly records = new Map<string, MutableRecord>();
  private readonly outIds = new Map<string, OutIdEntry>();

  constructor(readonly retentionMs: number) {}

  create(id: string, subject: Subject, at: { now: number; expiresAt: number; maxAttempts: number }): void {
    this.records.set(id, {
      id,
      subject,
      createdAt: at.now,
      expiresAt: at.expiresAt,
      maxAttempts: at.maxAttempts,
      attempts: 0,
      state: 'reserved',
      delivery: { status: 'unknown' },
      receiptPending: false,
    });
    this.index(id, { kind: 'code', subject }, at.now);
  }

  index(outId: string, target: OutIdTarget, now: number): void {
    this.outIds.set(outId, { target, keepUntil: now + this.retentionMs, noticeReported: false });
  }

  /** The record while it is kept. */
  get(id: string, now: number): MutableRecord | undefined {
    const record = this.records.get(id);
    if (record && record.createdAt + this.retentionMs <= now) {
      this.records.delete(id);
      return undefined;
    }
    return record;
  }

  target(outId: string, now: number): OutIdEntry | undefined {
    const entry = this.outIds.get(outId);
    if (entry && entry.keepUntil <= now) {
      this.outIds.delete(outId);
      return undefined;
    }
    return entry;
  }

  /** A live send's state moves on (`reserved` → sent, unconfirmed, failed); an end already written stays. */
  settle(id: string, now: number, state: SendState): void {
    const record = this.get(id, now);
    if (record?.state === 'reserved') record.state = state;
  }

  deliver(record: MutableRecord, receipt: DeliveryReceipt): void {
    const delivery: Delivery = {
      status: receipt.delivered ? 'delivered' : 'undelivered',
      errorCode: receipt.errorCode,
      reportedAt: receipt.reportedAt,
    };
    record.delivery = delivery;
  }

  view(record: VerificationRecord, now: number): VerificationView {
    return {
      id: record.id,
      phone: record.subject.phone,
      channel: record.subject.channel,
      status: verificationStatus(record, now),
      createdAt: record.createdAt,
      expiresAt: record.expiresAt,
      attempts: record.attempts,
      delivery: record.delivery,
    };
  }

  sweep(now: number): void {
    for (const [id, record] of this.records) if (record.createdAt + this.retentionMs <= now) this.records.delete(id);
    for (const [id, entry] of this.outIds) if (entry.keepUntil <= now) this.outIds.delete(id);
  }

  clear(): void {
    this.records.clear();
    this.outIds.clear();
  }
}
