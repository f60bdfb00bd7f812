import type { AuditContext, AuditEvent } from '../../domain/audit/audit.js';
import type {
  CancelResult,
  Delivery,
  DeliveryReceipt,
  OutIdTarget,
  ReceiptResult,
  SendState,
  Subject,
  VerificationRecord,
  VerificationView,
} from '../../domain/store.js';
import { canCancel, freesSlot, receiptEvent, receiptOutcome, verificationStatus } from '../../domain/verification/rules.js';
import { phoneSendsKey, subjectKeys } from '../keys.js';

/** What the records reach of the rest of the memory store. */
export interface RecordsHost {
  /** The current code of a (channel, phone), while it is kept. */
  currentCode(subject: Subject, now: number): { readonly sendId: string; canceled: boolean } | undefined;
  /** Takes send `id` out of the send logs `keys`. */
  dropFromLogs(keys: readonly string[], id: string): void;
  audit(now: number, context: AuditContext, event: AuditEvent): void;
}

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

  /** rules.ts canCancel: a pending verification becomes canceled, and its code (if current) never verifies. */
  cancel(id: string, context: Omit<AuditContext, 'phone' | 'channel'>, now: number, host: RecordsHost): CancelResult {
    const record = this.get(id, now);
    if (!record) return { found: false };
    const status = verificationStatus(record, now);
    if (!canCancel(status)) return { found: true, canceled: false, status };
    record.state = 'canceled';
    const current = host.currentCode(record.subject, now);
    if (current?.sendId === id) current.canceled = true;
    host.audit(now, { ...context, ...record.subject }, { event: 'code.canceled', outId: id });
    return { found: true, canceled: true, status: 'canceled' };
  }

  /** rules.ts receiptOutcome: one report per send; an early one waits for the commit (`applyReceipt`). */
  receipt(receipt: DeliveryReceipt, now: number, host: RecordsHost): ReceiptResult {
    const entry = this.target(receipt.outId, now);
    if (!entry) return { outcome: 'unknown' };
    const { kind, subject } = entry.target;
    if (kind === 'notice') {
      if (entry.noticeReported) return { outcome: 'duplicate', kind, subject };
      entry.noticeReported = true;
      host.audit(now, subject, receiptEvent('notice', receipt.delivered, receipt.errorCode, receipt.outId));
      return { outcome: 'recorded', kind, subject };
    }
    const record = this.get(receipt.outId, now);
    const outcome = receiptOutcome(record);
    if (!record || outcome === 'duplicate' || outcome === 'unknown') return { outcome, kind, subject };
    this.deliver(record, receipt);
    if (outcome === 'early') record.receiptPending = true;
    else this.applyReceipt(record, now, subject, host);
    return { outcome, kind, subject };
  }

  /** Audits a recorded report and, undelivered for the current code, frees its slot in the channel's and phone's logs (rules.ts freesSlot). */
  applyReceipt(record: MutableRecord, now: number, context: AuditContext, host: RecordsHost): void {
    record.receiptPending = false;
    const delivered = record.delivery.status === 'delivered';
    host.audit(now, context, receiptEvent('code', delivered, record.delivery.errorCode ?? '', record.id));
    if (!freesSlot(delivered, record.id, host.currentCode(record.subject, now)?.sendId)) return;
    host.dropFromLogs([subjectKeys('', record.subject).sends, phoneSendsKey('', record.subject.phone)], record.id);
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
