import { contextFields, flatten, type AuditContext } from '../../domain/audit/audit.js';
import { MemoryAuditLog } from './memory-audit-log.js';
import type { SendWindow } from '../../domain/limits/send-window.js';
import { failuresKey, limitKey, subjectKeys } from '../keys.js';
import {
  codeRecordKeepMs,
  limitGroups,
  type AuditEventFields,
  type CheckCodeInput,
  type CheckResult,
  type CommitResult,
  type FinishSendInput,
  type ReserveSendInput,
  type ReserveSendResult,
  type VerificationStore,
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
 * are keyed like the Redis keys (without a prefix).
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

  async reserveSend(input: ReserveSendInput): Promise<ReserveSendResult> {
    const now = this.now();
    const groups = limitGroups(input.limits).map((group) => ({
      ...group,
      key: limitKey('', group.scope, input.subject, input.limits),
      longest: longest(group.windows),
    }));

    let refused: { scope: (typeof groups)[number]['scope']; window: number; label: string } | undefined;
    let retryAfterMs = 0;
    for (const group of groups) {
      const entries = this.liveEntries(group.key, now, group.longest);
      group.windows.forEach((window, index) => {
        const retry = refusal(entries, window, now);
        if (retry === undefined) return;
        refused ??= { scope: group.scope, window: index, label: `${group.scope}:${window.label}` };
        retryAfterMs = Math.max(retryAfterMs, retry);
      });
    }
    if (refused) {
      this.record(now, input.context, { event: 'code.rate_limited', reason: refused.label });
      return { ok: false, scope: refused.scope, window: refused.window, retryAfterMs };
    }

    for (const group of groups) {
      const entries = this.liveEntries(group.key, now, group.longest);
      this.logs.set(group.key, { entries: [...entries, { id: input.sendId, at: now }], keepUntil: now + group.longest });
    }
    const codeKey = subjectKeys('', input.subject).code;
    const keepUntil = now + codeRecordKeepMs(input.codeTtlMs, input.limits.channel);
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

  async commitSend(input: FinishSendInput): Promise<CommitResult> {
    const now = this.now();
    const record = this.liveCode(subjectKeys('', input.subject).code, now);
    const pending = record?.pending.get(input.sendId);
    let result: CommitResult = 'lost';
    if (record && pending) {
      record.pending.delete(input.sendId);
      result = 'superseded';
      if (pending.sentAt >= (record.current?.sentAt ?? -1)) {
        record.current = pending;
        result = 'promoted';
      }
      const keepUntil = pending.sentAt + codeRecordKeepMs(input.codeTtlMs, input.limits.channel);
      record.keepUntil = Math.max(record.keepUntil, keepUntil);
    } else if (record?.current?.sendId === input.sendId) {
      return 'repeated';
    }
    const unconfirmed = result === 'lost' ? { reason: 'unconfirmed' } : {};
    this.record(now, input.context, { event: 'code.sent', ...input.event, ...unconfirmed });
    return result;
  }

  async releaseSend(input: FinishSendInput): Promise<void> {
    const now = this.now();
    for (const group of limitGroups(input.limits)) {
      const log = this.logs.get(limitKey('', group.scope, input.subject, input.limits));
      if (log) log.entries = log.entries.filter((e) => e.id !== input.sendId);
    }
    const codeKey = subjectKeys('', input.subject).code;
    const record = this.liveCode(codeKey, now);
    record?.pending.delete(input.sendId);
    if (record && !record.current && record.pending.size === 0) this.codes.delete(codeKey);
    this.record(now, input.context, { event: 'code.send_failed', ...input.event });
  }

  async checkCode(input: CheckCodeInput): Promise<CheckResult> {
    const now = this.now();
    const code = this.liveCode(subjectKeys('', input.subject).code, now)?.current;
    const result = this.decide(code, now, input);
    const attempt =
      result.status === 'approved' ? (code?.attempts ?? 0) + 1 : result.status === 'mismatch' ? code?.attempts : undefined;
    this.record(now, input.context, {
      event: result.status === 'approved' ? 'code.approved' : 'code.rejected',
      reason: result.status === 'approved' ? undefined : result.status,
      attempt,
      outId: code?.sendId,
    });
    return result;
  }

  async appendAudit(context: AuditContext, event: AuditEventFields): Promise<void> {
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

  /** Not found → expired → used → too many attempts → the phone's wrong-guess limit → compare. */
  private decide(code: CodeState | undefined, now: number, input: CheckCodeInput): CheckResult {
    const max = input.maxAttempts;
    const answer = (status: CheckResult['status'], attemptsRemaining = 0, retryAfterMs = 0): CheckResult => ({
      status,
      attemptsRemaining,
      retryAfterMs,
    });
    if (!code) return answer('not_found');
    if (now >= code.expiresAt) return answer('expired');
    if (code.used) return answer('used');
    if (code.attempts >= max) return answer('too_many_attempts');

    const failuresLog = failuresKey('', input.subject.phone);
    const failures = this.liveEntries(failuresLog, now, longest(input.failureLimits));
    const retry = Math.max(0, ...input.failureLimits.map((window) => refusal(failures, window, now) ?? 0));
    if (retry > 0) return answer('verify_limited', max - code.attempts, retry);

    if (code.hash === input.codeHash) {
      code.used = true;
      return answer('approved', max - code.attempts);
    }
    code.attempts += 1;
    if (input.failureLimits.length > 0) {
      const keep = longest(input.failureLimits);
      this.logs.set(failuresLog, { entries: [...failures, { id: input.checkId, at: now }], keepUntil: now + keep });
    }
    return answer('mismatch', max - code.attempts);
  }

  /** Same field order as the scripts: the event's own fields, then the request context. */
  private record(now: number, context: AuditContext, event: AuditEventFields): void {
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

  /** The log's entries still inside `longestMs` (ZREMRANGEBYSCORE), oldest first. */
  private liveEntries(key: string, now: number, longestMs: number): TimeLog['entries'] {
    const log = this.logs.get(key);
    if (!log || log.keepUntil <= now) {
      this.logs.delete(key);
      return [];
    }
    return log.entries.filter((e) => e.at > now - longestMs);
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, record] of this.codes) if (record.keepUntil <= now) this.codes.delete(key);
    for (const [key, log] of this.logs) if (log.keepUntil <= now || log.entries.length === 0) this.logs.delete(key);
  }
}

function longest(windows: readonly SendWindow[]): number {
  return windows.reduce((max, w) => Math.max(max, w.windowMs), 0);
}

/** Undefined when `window` has room; else how long until its blocking entry leaves it. */
function refusal(entries: TimeLog['entries'], window: SendWindow, now: number): number | undefined {
  const inWindow = entries.filter((e) => e.at > now - window.windowMs);
  if (inWindow.length < window.count) return undefined;
  const blocker = inWindow[inWindow.length - window.count] as { at: number };
  return blocker.at + window.windowMs - now;
}
