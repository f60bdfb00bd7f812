import { digestMatches } from '../codes/code.js';
import { longestWindowMs, ROOM, type WindowsVerdict } from '../limits/windows.js';
import type { SendWindow } from '../limits/send-window.js';
import type { AuditEvent, AuditEventName } from '../audit/audit.js';
import type {
  CheckStatus,
  CommitResult,
  FullLimit,
  LimitGroup,
  LimitScope,
  ReceiptOutcome,
  SendKind,
  SendLimits,
  SendOutcome,
  SendPlan,
  VerificationRecord,
  VerificationStatus,
} from '../store.js';

/**
 * The store's decision rules, written once. The memory store is these functions plus maps; each
 * Lua script in src/stores/redis/lua/ implements the rule its header comment names, and
 * test/store-model.test.ts runs random sequences on every store to prove they answer alike.
 */

/** The limits that apply, in the order refusals are reported: channel, phone, notice, ip, global (empty ones left out). */
export function limitGroups(limits: SendLimits): LimitGroup[] {
  const groups: LimitGroup[] = [
    { scope: 'channel', windows: limits.channel },
    { scope: 'phone', windows: limits.phone },
    { scope: 'notice', windows: limits.notice ?? [] },
    { scope: 'ip', windows: limits.ip?.windows ?? [] },
    { scope: 'global', windows: limits.global },
  ];
  return groups.filter((group) => group.windows.length > 0);
}

/** How long a code's record is kept after a send: past its TTL it answers *expired* until the longest channel window has passed. */
export function recordKeepMs(codeTtlMs: number, channelWindows: readonly SendWindow[]): number {
  return Math.max(codeTtlMs, longestWindowMs(channelWindows));
}

/** Plans a code send once: its limit groups and record keep time are derived here and nowhere else. */
export function planSend(input: Omit<SendPlan, 'groups' | 'keepMs' | 'kind' | 'maxAttempts'> & { readonly maxAttempts?: number }): SendPlan {
  return {
    ...input,
    kind: 'code',
    maxAttempts: input.maxAttempts ?? Number.MAX_SAFE_INTEGER,
    groups: limitGroups(input.limits),
    keepMs: recordKeepMs(input.codeTtlMs, input.limits.channel),
  };
}

/**
 * Plans a notice: the same reservation as a code send (every limit group all or nothing, released
 * when the provider refuses, counted when it accepts), with no code to keep. Its limits are the
 * notice windows per phone, the per-IP and the global ones; never the code limits (channel, phone).
 */
export function planNotice(input: Pick<SendPlan, 'subject' | 'context' | 'sendId'> & { readonly limits: Omit<SendLimits, 'channel' | 'phone'> }): SendPlan {
  const limits: SendLimits = { ...input.limits, channel: [], phone: [] };
  return { ...input, kind: 'notice', codeHash: '', codeTtlMs: 0, keepMs: 0, maxAttempts: 0, limits, groups: limitGroups(limits) };
}

/** The audit event of a send's step: `code.sent`, `notice.rate_limited`, … */
export function sendEventName(kind: SendKind, step: SendOutcome | 'send_failed' | 'rate_limited'): AuditEventName {
  return `${kind}.${step === 'unconfirmed' ? 'send_unconfirmed' : step}`;
}

/** The first full limit, from each group's verdict (judgeSend without a reservation). */
export function fullLimit(groups: readonly LimitGroup[], verdicts: readonly WindowsVerdict[]): FullLimit | undefined {
  const verdict = judgeSend(groups, verdicts);
  return verdict.ok ? undefined : { scope: verdict.scope, window: verdict.window, retryAfterMs: verdict.retryAfterMs };
}

export type SendVerdict =
  | { readonly ok: true }
  | {
      readonly ok: false;
      /** Index of the first refusing group (in `limitGroups` order)… */
      readonly group: number;
      readonly scope: LimitScope;
      /** …and of its first refusing window. */
      readonly window: number;
      /** `<scope>:<window label>`: the reason of the code.rate_limited event. */
      readonly reason: string;
      /** Until every refusing window of every group frees a slot. */
      readonly retryAfterMs: number;
    };

/** A send is reserved in every group or in none: any full window of any group refuses it. */
export function judgeSend(groups: readonly LimitGroup[], verdicts: readonly WindowsVerdict[]): SendVerdict {
  const first = verdicts.findIndex((verdict) => verdict.refused !== undefined);
  if (first < 0) return { ok: true };
  const group = groups[first] as LimitGroup;
  const window = verdicts[first]?.refused as number;
  return {
    ok: false,
    group: first,
    scope: group.scope,
    window,
    reason: `${group.scope}:${group.windows[window]?.label}`,
    retryAfterMs: Math.max(...verdicts.map((verdict) => verdict.retryAfterMs)),
  };
}

/**
 * From when the next send to this (channel, phone) passes every channel and phone window, given their
 * verdicts with this send counted (`resendAvailableAt`; the IP and global limits are left out).
 */
export function resendAt(now: number, groups: readonly LimitGroup[], verdicts: readonly WindowsVerdict[]): number {
  const waits = verdicts.filter((_, i) => RESEND_SCOPES.has((groups[i] as LimitGroup).scope)).map((v) => v.retryAfterMs);
  return now + Math.max(0, ...waits);
}

export const RESEND_SCOPES: ReadonlySet<LimitScope> = new Set(['channel', 'phone']);

/** A code as a check sees it. */
export interface CodeView {
  readonly hash: string;
  readonly expiresAt: number;
  readonly used: boolean;
  /** Wrong guesses so far. */
  readonly attempts: number;
  /** Its send's id (the verification id). */
  readonly sendId?: string;
  /** Its verification was canceled: the code never verifies again. */
  readonly canceled?: boolean;
}

/** A decision an earlier check with the same idempotency key took on the current code. */
export interface PriorDecision {
  readonly hash: string;
  readonly status: CheckStatus;
  readonly attemptsRemaining: number;
}

export interface CheckOptions {
  /** `{verificationId, code}`: only that verification's code is looked at. */
  readonly verificationId?: string | undefined;
  /** What the request's idempotency key decided before, if it did. */
  readonly prior?: PriorDecision | undefined;
}

export interface CheckDecision {
  readonly status: CheckStatus;
  /** Wrong guesses left on this code after this check. */
  readonly attemptsRemaining: number;
  readonly retryAfterMs: number;
  /** What the check writes: `use` marks the code used; `wrong` counts a wrong guess on the code and the phone. */
  readonly effect: 'none' | 'use' | 'wrong';
  /** The attempt number audited (approved and mismatch only). */
  readonly attempt: number | undefined;
  /** An earlier decision given again: nothing is written or audited. */
  readonly replayed: boolean;
}

/**
 * The client IP's check limit (`ipChecks`, the verdict of its windows: a refused check is not
 * counted; every other one is, whatever its outcome) → a repeat of an idempotent check (same key and
 * code) gets the same decision again (another code under that key is a new check) → not found (no
 * code, a canceled one, or not the verification asked for) → expired → used → too many attempts →
 * the phone's wrong-guess limit (`failures`, the verdict of its windows) → compare. With an
 * idempotency key, a decision that writes (`use`, `wrong`) is recorded with the code
 * (`PriorDecision`), in the same step.
 */
export function judgeCheck(
  code: CodeView | undefined,
  givenHash: string,
  now: number,
  maxAttempts: number,
  failures: WindowsVerdict,
  ipChecks: WindowsVerdict = ROOM,
  options: CheckOptions = {},
): CheckDecision {
  const answer = (status: CheckStatus, extra: Partial<CheckDecision> = {}): CheckDecision => ({
    status,
    attemptsRemaining: 0,
    retryAfterMs: 0,
    effect: 'none',
    attempt: undefined,
    replayed: false,
    ...extra,
  });
  if (ipChecks.refused !== undefined) return answer('check_limited', { retryAfterMs: ipChecks.retryAfterMs });
  const prior = options.prior;
  if (prior && digestMatches(prior.hash, givenHash)) return answer(prior.status, { attemptsRemaining: prior.attemptsRemaining, replayed: true });
  if (!code || code.canceled) return answer('not_found');
  if (options.verificationId !== undefined && code.sendId !== options.verificationId) return answer('not_found');
  if (now >= code.expiresAt) return answer('expired');
  if (code.used) return answer('used');
  if (code.attempts >= maxAttempts) return answer('too_many_attempts');
  if (failures.refused !== undefined) {
    return answer('verify_limited', { attemptsRemaining: maxAttempts - code.attempts, retryAfterMs: failures.retryAfterMs });
  }
  const attempt = code.attempts + 1;
  if (digestMatches(code.hash, givenHash)) return answer('approved', { attemptsRemaining: maxAttempts - code.attempts, effect: 'use', attempt });
  return answer('mismatch', { attemptsRemaining: maxAttempts - attempt, effect: 'wrong', attempt });
}

/** The event a check audits (none for a replay). `outId`: the current code's send id, when there is a current code. */
export function checkEvent(decision: CheckDecision, outId: string | undefined): AuditEvent | undefined {
  if (decision.replayed) return undefined;
  return decision.status === 'approved'
    ? { event: 'code.approved', attempt: decision.attempt, outId }
    : { event: 'code.rejected', reason: decision.status, attempt: decision.attempt, outId };
}

/**
 * A commit of send `sendId`: its pending code becomes current unless a newer send's code already is,
 * or its verification was canceled while in flight (`superseded`: its code never becomes current);
 * without a pending code, it is `repeated` if that send's code is already current, else `lost`
 * (audited as code.sent with reason `unconfirmed`).
 */
export function commitOutcome(
  pendingSentAt: number | undefined,
  current: { readonly sentAt: number; readonly sendId: string } | undefined,
  sendId: string,
  canceled = false,
): CommitResult {
  if (pendingSentAt !== undefined) return !canceled && pendingSentAt >= (current?.sentAt ?? -1) ? 'promoted' : 'superseded';
  return current?.sendId === sendId ? 'repeated' : 'lost';
}

/**
 * What a verification reads at `now`. The ends a decision wrote (approved, canceled, superseded,
 * failed) stay; otherwise past its code's TTL it is `expired`, with its wrong guesses used up
 * `max_attempts_reached`, else `unconfirmed` or `pending` as its send was.
 */
export function verificationStatus(
  record: Pick<VerificationRecord, 'state' | 'attempts' | 'maxAttempts' | 'expiresAt'>,
  now: number,
): VerificationStatus {
  switch (record.state) {
    case 'approved':
    case 'canceled':
    case 'superseded':
    case 'failed':
      return record.state;
    default:
      if (now >= record.expiresAt) return 'expired';
      if (record.attempts >= record.maxAttempts) return 'max_attempts_reached';
      return record.state === 'unconfirmed' ? 'unconfirmed' : 'pending';
  }
}

/** Only a pending verification can be canceled; anything else is refused with its status. */
export function canCancel(status: VerificationStatus): boolean {
  return status === 'pending';
}

/**
 * A newer send's code became current: the verification of the code it replaced becomes `superseded`
 * if it was still live (pending or unconfirmed); one already at an end keeps its status.
 */
export function isSuperseded(previous: VerificationRecord, now: number): boolean {
  const status = verificationStatus(previous, now);
  return status === 'pending' || status === 'unconfirmed';
}

/**
 * A delivery report for a verification: `unknown` without one, `duplicate` once a report was recorded
 * (the first wins), `early` while its send is in flight (kept, applied by the commit), else `recorded`.
 */
export function receiptOutcome(record: VerificationRecord | undefined): ReceiptOutcome {
  if (!record) return 'unknown';
  if (record.delivery.status !== 'unknown') return 'duplicate';
  return record.state === 'reserved' ? 'early' : 'recorded';
}

/** An undelivered report frees its send's slot in the channel's and the phone's logs if its code is the current one. */
export function freesSlot(delivered: boolean, recordId: string, currentSendId: string | undefined): boolean {
  return !delivered && recordId === currentSendId;
}

/** The event a recorded report audits. */
export function receiptEvent(kind: 'code' | 'notice', delivered: boolean, errorCode: string, outId: string): AuditEvent {
  return { event: `${kind}.${delivered ? 'delivered' : 'undelivered'}`, errorCode, outId };
}
