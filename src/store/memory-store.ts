import { contextFields, flatten, type AuditContext } from '../audit/audit.js';
import { MemoryAuditLog } from '../audit/memory-audit-log.js';
import { longestWindowMs } from '../send-limits.js';
import {
  codeRecordKeepMs,
  type AuditEventFields,
  type CheckCodeInput,
  type CheckResult,
  type FinishSendInput,
  type ReserveSendInput,
  type ReserveSendResult,
  type Subject,
  type VerificationStore,
} from './store.js';

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

interface SendLog {
  /** Sends in time order. */
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
 * whole decision synchronously, so no two requests interleave inside one.
 */
export class MemoryStore implements VerificationStore {
  readonly kind = 'memory' as const;
  readonly audit: MemoryAuditLog;
  private readonly codes = new Map<string, CodeRecord>();
  private readonly sends = new Map<string, SendLog>();
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
    const id = subjectId(input.subject);
    const longest = longestWindowMs(input.windows);
    const log = this.liveSendLog(id, now);
    const entries = log ? log.entries.filter((e) => e.at > now - longest) : [];

    let refused = -1;
    let retryAfterMs = 0;
    input.windows.forEach((window, index) => {
      const inWindow = entries.filter((e) => e.at > now - window.windowMs);
      if (inWindow.length < window.count) return;
      if (refused < 0) refused = index;
      const blocker = inWindow[inWindow.length - window.count] as { at: number };
      retryAfterMs = Math.max(retryAfterMs, blocker.at + window.windowMs - now);
    });
    if (refused >= 0) {
      const label = input.windows[refused]?.label;
      this.record(now, input.context, { event: 'code.rate_limited', reason: label });
      return { ok: false, window: refused, retryAfterMs };
    }

    entries.push({ id: input.sendId, at: now });
    this.sends.set(id, { entries, keepUntil: now + longest });

    const keepUntil = now + codeRecordKeepMs(input.codeTtlMs, input.windows);
    const record = this.liveCode(id, now) ?? { current: undefined, pending: new Map(), keepUntil };
    record.pending.set(input.sendId, {
      hash: input.codeHash,
      sendId: input.sendId,
      sentAt: now,
      expiresAt: now + input.codeTtlMs,
      used: false,
      attempts: 0,
    });
    record.keepUntil = Math.max(record.keepUntil, keepUntil);
    this.codes.set(id, record);
    return { ok: true, sentAt: now, expiresAt: now + input.codeTtlMs };
  }

  async commitSend(input: FinishSendInput): Promise<boolean> {
    const now = this.now();
    const record = this.liveCode(subjectId(input.subject), now);
    const pending = record?.pending.get(input.sendId);
    let promoted = false;
    if (record && pending) {
      record.pending.delete(input.sendId);
      if (pending.sentAt >= (record.current?.sentAt ?? -1)) {
        record.current = pending;
        promoted = true;
      }
      record.keepUntil = Math.max(record.keepUntil, pending.sentAt + codeRecordKeepMs(input.codeTtlMs, input.windows));
    }
    this.record(now, input.context, { event: 'code.sent', ...input.event });
    return promoted;
  }

  async releaseSend(input: FinishSendInput): Promise<void> {
    const now = this.now();
    const id = subjectId(input.subject);
    const log = this.liveSendLog(id, now);
    if (log) log.entries = log.entries.filter((e) => e.id !== input.sendId);
    const record = this.liveCode(id, now);
    record?.pending.delete(input.sendId);
    if (record && !record.current && record.pending.size === 0) this.codes.delete(id);
    this.record(now, input.context, { event: 'code.send_failed', ...input.event });
  }

  async checkCode(input: CheckCodeInput): Promise<CheckResult> {
    const now = this.now();
    const code = this.liveCode(subjectId(input.subject), now)?.current;
    const result = decide(code, now, input);
    const attempt = result.status === 'approved' ? (code?.attempts ?? 0) + 1 : result.status === 'mismatch' ? code?.attempts : undefined;
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

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.codes.clear();
    this.sends.clear();
  }

  /** How many (channel, phone) pairs hold any state: lets tests prove nothing outlives its window. */
  size(): number {
    this.sweep();
    return this.codes.size + this.sends.size;
  }

  /** Same field order as the scripts: the event's own fields, then the request context. */
  private record(now: number, context: AuditContext, event: AuditEventFields): void {
    this.audit.append(now, [...flatten(event), ...contextFields(context)]);
  }

  private liveCode(id: string, now: number): CodeRecord | undefined {
    const record = this.codes.get(id);
    if (record && record.keepUntil <= now) {
      this.codes.delete(id);
      return undefined;
    }
    return record;
  }

  private liveSendLog(id: string, now: number): SendLog | undefined {
    const log = this.sends.get(id);
    if (log && log.keepUntil <= now) {
      this.sends.delete(id);
      return undefined;
    }
    return log;
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, record] of this.codes) if (record.keepUntil <= now) this.codes.delete(id);
    for (const [id, log] of this.sends) if (log.keepUntil <= now) this.sends.delete(id);
  }
}

/** Not found → expired → used → too many attempts → compare; a wrong guess is counted on the code. */
function decide(code: CodeState | undefined, now: number, input: CheckCodeInput): CheckResult {
  const max = input.maxAttempts;
  if (!code) return { status: 'not_found', attemptsRemaining: 0 };
  if (now >= code.expiresAt) return { status: 'expired', attemptsRemaining: 0 };
  if (code.used) return { status: 'used', attemptsRemaining: 0 };
  if (code.attempts >= max) return { status: 'too_many_attempts', attemptsRemaining: 0 };
  if (code.hash === input.codeHash) {
    code.used = true;
    return { status: 'approved', attemptsRemaining: max - code.attempts };
  }
  code.attempts += 1;
  return { status: 'mismatch', attemptsRemaining: max - code.attempts };
}

function subjectId(subject: Subject): string {
  return `${subject.phone}\n${subject.channel}`;
}
