import { contextFields, flatten, namedEvent, type AuditContext, type AuditEvent, type AuditEventFields } from '../../domain/audit/audit.js';
import { MemoryAuditLog } from './memory-audit-log.js';
import type { SendWindow } from '../../domain/limits/send-window.js';
import { judgeWindows, liveEntries, longestWindowMs, ROOM } from '../../domain/limits/windows.js';
import {
  checkEvent,
  commitOutcome,
  fullLimit,
  isSuperseded,
  judgeCheck,
  judgeSend,
  resendAt,
  sendEventName,
} from '../../domain/verification/rules.js';
import { failuresKey, ipChecksKey, limitKey, subjectKeys } from '../keys.js';
import { MemoryVerifications, type RecordsHost } from './memory-verifications.js';
import { DEFAULT_VERIFICATION_RETENTION_MS, times, type CodeRecord, type MemoryStoreOptions, type TimeLog } from './memory-records.js';

export { DEFAULT_VERIFICATION_RETENTION_MS, type MemoryStoreOptions } from './memory-records.js';
import type {
  CancelResult,
  CheckCodeInput,
  CheckResult,
  CommitResult,
  DeliveryReceipt,
  OutIdTarget,
  ReceiptResult,
  FullLimit,
  ReserveSendResult,
  SendOutcome,
  SendPlan,
  VerificationStore,
  VerificationView,
} from '../../domain/store.js';

const DEFAULT_AUDIT = { retentionMs: 30 * 86_400_000, maxLen: 10_000 };

/**
 * The same semantics as the Redis scripts, for one process: every method does its
 * whole decision synchronously, so no two requests interleave inside one. Records
 * are keyed like the Redis keys (without a prefix). It needs no request deadline (the Redis
 * scripts refuse to act past theirs): nothing queues a decision here, so none can run late.
 */
export class MemoryStore implements VerificationStore {
  readonly kind = 'memory' as const;
  readonly audit: MemoryAuditLog;
  private readonly codes = new Map<string, CodeRecord>();
  private readonly logs = new Map<string, TimeLog>();
  private readonly secrets: string[] = [];
  private readonly verifications: MemoryVerifications;
  private readonly now: () => number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(options: MemoryStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.audit = new MemoryAuditLog({
      retentionMs: options.audit?.retentionMs ?? DEFAULT_AUDIT.retentionMs,
      maxLen: options.audit?.maxLen ?? DEFAULT_AUDIT.maxLen,
    });
    this.verifications = new MemoryVerifications(options.verificationRetentionMs ?? DEFAULT_VERIFICATION_RETENTION_MS);
    this.sweeper = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 60_000);
    this.sweeper.unref();
  }

  async reserveSend(input: SendPlan): Promise<ReserveSendResult> {
    const now = this.now();
    const groups = input.groups;
    const keys = groups.map((group) => limitKey('', group.scope, input.subject, input.limits));
    const logs = groups.map((group, i) => this.liveLog(keys[i] as string, group.windows, now));
    const verdict = judgeSend(
      groups,
      logs.map((entries, i) => judgeWindows(times(entries), (groups[i] as (typeof groups)[number]).windows, now)),
    );
    if (!verdict.ok) {
      this.record(now, input.context, { event: sendEventName(input.kind, 'rate_limited'), reason: verdict.reason });
      return { ok: false, scope: verdict.scope, window: verdict.window, retryAfterMs: verdict.retryAfterMs };
    }

    const counted = groups.map((group, i) => {
      const entries = [...(logs[i] ?? []), { id: input.sendId, at: now }];
      this.logs.set(keys[i] as string, { entries, keepUntil: now + longestWindowMs(group.windows) });
      return judgeWindows(times(entries), group.windows, now);
    });
    if (input.kind === 'notice') {
      this.verifications.index(input.sendId, { kind: 'notice', subject: input.subject }, now);
      return { ok: true, sentAt: now, expiresAt: now, resendAt: now };
    }
    const codeKey = subjectKeys('', input.subject).code;
    const keepUntil = now + input.keepMs;
    const record = this.liveCode(codeKey, now) ?? { current: undefined, pending: new Map(), keepUntil };
    record.pending.set(input.sendId, {
      hash: input.codeHash,
      sendId: input.sendId,
      sentAt: now,
      expiresAt: now + input.codeTtlMs,
      used: false,
      attempts: 0,
      canceled: false,
      decisions: new Map(),
    });
    record.keepUntil = Math.max(record.keepUntil, keepUntil);
    this.codes.set(codeKey, record);
    const expiresAt = now + input.codeTtlMs;
    this.verifications.create(input.sendId, input.subject, { now, expiresAt, maxAttempts: input.maxAttempts });
    return { ok: true, sentAt: now, expiresAt, resendAt: resendAt(now, groups, counted) };
  }

  async commitSend(input: SendPlan, event: AuditEventFields, outcome: SendOutcome = 'sent'): Promise<CommitResult> {
    const now = this.now();
    const name = sendEventName(input.kind, outcome);
    if (input.kind === 'notice') {
      this.record(now, input.context, namedEvent(name, event));
      return 'promoted';
    }
    const record = this.liveCode(subjectKeys('', input.subject).code, now);
    const pending = record?.pending.get(input.sendId);
    const verification = this.verifications.get(input.sendId, now);
    const result = commitOutcome(pending?.sentAt, record?.current, input.sendId, verification?.state === 'canceled');
    if (result === 'repeated') return result;
    if (record && pending) {
      record.pending.delete(input.sendId);
      if (result === 'promoted') {
        const previous = record.current && this.verifications.get(record.current.sendId, now);
        if (previous && isSuperseded(previous, now)) previous.state = 'superseded';
        record.current = pending;
      }
      const keepUntil = pending.sentAt + input.keepMs;
      record.keepUntil = Math.max(record.keepUntil, keepUntil);
    }
    this.verifications.settle(input.sendId, now, outcome);
    const unconfirmed = result === 'lost' ? { reason: 'unconfirmed' } : {};
    this.record(now, input.context, namedEvent(name, { ...event, ...unconfirmed }));
    if (verification?.receiptPending) this.verifications.applyReceipt(verification, now, input.context, this.host);
    return result;
  }

  async peekSend(input: SendPlan): Promise<FullLimit | undefined> {
    const now = this.now();
    const verdicts = input.groups.map((group) =>
      judgeWindows(times(this.liveLog(limitKey('', group.scope, input.subject, input.limits), group.windows, now)), group.windows, now),
    );
    return fullLimit(input.groups, verdicts);
  }

  async releaseSend(input: SendPlan, event: AuditEventFields): Promise<void> {
    const now = this.now();
    for (const group of input.groups) {
      const log = this.logs.get(limitKey('', group.scope, input.subject, input.limits));
      if (log) log.entries = log.entries.filter((e) => e.id !== input.sendId);
    }
    if (input.kind === 'code') {
      const codeKey = subjectKeys('', input.subject).code;
      const record = this.liveCode(codeKey, now);
      record?.pending.delete(input.sendId);
      if (record && !record.current && record.pending.size === 0) this.codes.delete(codeKey);
      this.verifications.settle(input.sendId, now, 'failed');
    }
    this.record(now, input.context, namedEvent(sendEventName(input.kind, 'send_failed'), event));
  }

  async checkCode(input: CheckCodeInput): Promise<CheckResult> {
    const now = this.now();
    const code = this.liveCode(subjectKeys('', input.subject).code, now)?.current;
    const failuresLog = failuresKey('', input.subject.phone);
    const failures = this.liveLog(failuresLog, input.failureLimits, now);
    const ip = input.ipChecks;
    const ipLog = ip ? ipChecksKey('', ip.address) : undefined;
    const ipChecks = ip && ipLog ? this.liveLog(ipLog, ip.windows, now) : [];
    const ipVerdict = ip ? judgeWindows(times(ipChecks), ip.windows, now) : ROOM;
    const prior = input.idempotencyKey === undefined ? undefined : code?.decisions.get(input.idempotencyKey);
    const decision = judgeCheck(code, input.codeHash, now, input.maxAttempts, judgeWindows(times(failures), input.failureLimits, now), ipVerdict, {
      verificationId: input.verificationId,
      prior,
    });
    if (ip && ipLog && decision.status !== 'check_limited') {
      this.logs.set(ipLog, { entries: [...ipChecks, { id: input.checkId, at: now }], keepUntil: now + longestWindowMs(ip.windows) });
    }
    const verification = code && decision.effect !== 'none' ? this.verifications.get(code.sendId, now) : undefined;
    if (code && decision.effect === 'use') {
      code.used = true;
      if (verification) verification.state = 'approved';
    }
    if (code && decision.effect === 'wrong') {
      code.attempts += 1;
      if (verification) verification.attempts += 1;
      if (input.failureLimits.length > 0) {
        const entries = [...failures, { id: input.checkId, at: now }];
        this.logs.set(failuresLog, { entries, keepUntil: now + longestWindowMs(input.failureLimits) });
      }
    }
    if (code && decision.effect !== 'none' && input.idempotencyKey !== undefined) {
      code.decisions.set(input.idempotencyKey, { hash: input.codeHash, status: decision.status, attemptsRemaining: decision.attemptsRemaining });
    }
    const event = checkEvent(decision, code?.sendId);
    if (event) this.record(now, input.context, event);
    return {
      status: decision.status,
      attemptsRemaining: decision.attemptsRemaining,
      retryAfterMs: decision.retryAfterMs,
      ...(decision.replayed ? { replayed: true } : {}),
    };
  }

  async findOutId(outId: string): Promise<OutIdTarget | undefined> {
    return this.verifications.target(outId, this.now())?.target;
  }

  async getVerification(id: string): Promise<VerificationView | undefined> {
    const now = this.now();
    const record = this.verifications.get(id, now);
    return record && this.verifications.view(record, now);
  }

  async cancelVerification(id: string, context: Omit<AuditContext, 'phone' | 'channel'>): Promise<CancelResult> {
    return this.verifications.cancel(id, context, this.now(), this.host);
  }

  async recordReceipt(receipt: DeliveryReceipt): Promise<ReceiptResult> {
    return this.verifications.receipt(receipt, this.now(), this.host);
  }

  /** What the verification records reach of the rest of the store. */
  private readonly host: RecordsHost = {
    currentCode: (subject, now) => this.liveCode(subjectKeys('', subject).code, now)?.current,
    dropFromLogs: (keys, id) => {
      for (const key of keys) {
        const log = this.logs.get(key);
        if (log) log.entries = log.entries.filter((e) => e.id !== id);
      }
    },
    audit: (now, context, event) => this.record(now, context, event),
  };

  async appendAudit(context: AuditContext, event: AuditEvent): Promise<void> {
    this.record(this.now(), context, event);
  }

  async sharedSecret(candidate: string): Promise<string> {
    if (this.secrets.length === 0) this.secrets.push(candidate);
    return this.secrets[0] as string;
  }

  async ping(): Promise<void> {}

  onReconnect(): void {
    // One process, never disconnected.
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.codes.clear();
    this.logs.clear();
    this.verifications.clear();
  }

  /** How many records (codes and logs) the store holds: lets tests prove nothing outlives its window. */
  size(): number {
    this.sweep();
    return this.codes.size + this.logs.size;
  }

  /** Same field order as the scripts: the event's own fields, then the request context. */
  private record(now: number, context: AuditContext, event: AuditEvent): void {
    this.audit.append(now, [...flatten(event), ...contextFields(context)]);
  }

  private liveCode(key: string, now: number): CodeRecord | undefined {
    const record = this.codes.get(key);
    if (record && record.keepUntil <= now) {
      this.codes.delete(key);
      return undefined;
    }
    return record;
  }

  /** The log's entries its longest window still counts (ZREMRANGEBYSCORE), oldest first. */
  private liveLog(key: string, windows: readonly SendWindow[], now: number): TimeLog['entries'] {
    const log = this.logs.get(key);
    if (!log || log.keepUntil <= now) {
      this.logs.delete(key);
      return [];
    }
    return liveEntries(log.entries, windows, now);
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, record] of this.codes) if (record.keepUntil <= now) this.codes.delete(key);
    for (const [key, log] of this.logs) if (log.keepUntil <= now || log.entries.length === 0) this.logs.delete(key);
    this.verifications.sweep(now);
  }
}
