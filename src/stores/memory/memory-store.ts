import { contextFields, flatten, namedEvent, type AuditContext, type AuditEvent, type AuditEventFields } from '../../domain/audit/audit.js';
import { MemoryAuditLog } from './memory-audit-log.js';
import type { SendWindow } from '../../domain/limits/send-window.js';
import { judgeWindows, liveEntries, longestWindowMs, ROOM } from '../../domain/limits/windows.js';
import { checkEvent, commitOutcome, fullLimit, judgeCheck, judgeSend, sendEventName } from '../../domain/verification/rules.js';
import { failuresKey, ipChecksKey, limitKey, subjectKeys } from '../keys.js';
import type {
  CheckCodeInput,
  CheckResult,
  CommitResult,
  FullLimit,
  ReserveSendResult,
  SendOutcome,
  SendPlan,
  VerificationStore,
} from '../../domain/store.js';

interface CodeState {
  readonly hash: string;
  readonly sendId: string;
  readonly sentAt: number;
  readonly expiresAt: number;
  used: boolean;
  attempts: number;
}

interface CodeRecord {
  /** The code that verifies; undefined until a send is committed. */
  current: CodeState | undefined;
  /** Reserved sends whose SMS is in flight, by send id. */
  pending: Map<string, CodeState>;
  keepUntil: number;
}

/** A sorted log of timestamps, like the Redis sorted sets the scripts use. */
interface TimeLog {
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
}

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
  private readonly now: () => number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(options: MemoryStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.audit = new MemoryAuditLog({
      retentionMs: options.audit?.retentionMs ?? DEFAULT_AUDIT.retentionMs,
      maxLen: options.audit?.maxLen ?? DEFAULT_AUDIT.maxLen,
    });
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

    groups.forEach((group, i) => {
      const entries = [...(logs[i] ?? []), { id: input.sendId, at: now }];
      this.logs.set(keys[i] as string, { entries, keepUntil: now + longestWindowMs(group.windows) });
    });
    if (input.kind === 'notice') return { ok: true, sentAt: now, expiresAt: now };
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
    });
    record.keepUntil = Math.max(record.keepUntil, keepUntil);
    this.codes.set(codeKey, record);
    return { ok: true, sentAt: now, expiresAt: now + input.codeTtlMs };
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
    const result = commitOutcome(pending?.sentAt, record?.current, input.sendId);
    if (result === 'repeated') return result;
    if (record && pending) {
      record.pending.delete(input.sendId);
      if (result === 'promoted') record.current = pending;
      const keepUntil = pending.sentAt + input.keepMs;
      record.keepUntil = Math.max(record.keepUntil, keepUntil);
    }
    const unconfirmed = result === 'lost' ? { reason: 'unconfirmed' } : {};
    this.record(now, input.context, namedEvent(name, { ...event, ...unconfirmed }));
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
    const decision = judgeCheck(code, input.codeHash, now, input.maxAttempts, judgeWindows(times(failures), input.failureLimits, now), ipVerdict);
    if (ip && ipLog && decision.status !== 'check_limited') {
      this.logs.set(ipLog, { entries: [...ipChecks, { id: input.checkId, at: now }], keepUntil: now + longestWindowMs(ip.windows) });
    }
    if (code && decision.effect === 'use') code.used = true;
    if (code && decision.effect === 'wrong') {
      code.attempts += 1;
      if (input.failureLimits.length > 0) {
        const entries = [...failures, { id: input.checkId, at: now }];
        this.logs.set(failuresLog, { entries, keepUntil: now + longestWindowMs(input.failureLimits) });
      }
    }
    this.record(now, input.context, checkEvent(decision, code?.sendId));
    return { status: decision.status, attemptsRemaining: decision.attemptsRemaining, retryAfterMs: decision.retryAfterMs };
  }

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
  }
}

function times(entries: TimeLog['entries']): number[] {
  return entries.map((entry) => entry.at);
}
