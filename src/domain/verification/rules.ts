import { longestWindowMs, ROOM, type WindowsVerdict } from '../limits/windows.js';
import type { SendWindow } from '../limits/send-window.js';
import type { AuditEvent, AuditEventName } from '../audit/audit.js';
import type { CheckStatus, CommitResult, FullLimit, LimitGroup, LimitScope, SendKind, SendLimits, SendOutcome, SendPlan } from '../store.js';

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
export function planSend(input: Omit<SendPlan, 'groups' | 'keepMs' | 'kind'>): SendPlan {
  return { ...input, kind: 'code', groups: limitGroups(input.limits), keepMs: recordKeepMs(input.codeTtlMs, input.limits.channel) };
}

/**
 * Plans a notice: the same reservation as a code send (every limit group all or nothing, released
 * when the provider refuses, counted when it accepts), with no code to keep. Its limits are the
 * notice windows per phone, the per-IP and the global ones; never the code limits (channel, phone).
 */
export function planNotice(input: Pick<SendPlan, 'subject' | 'context' | 'sendId'> & { readonly limits: Omit<SendLimits, 'channel' | 'phone'> }): SendPlan {
  const limits: SendLimits = { ...input.limits, channel: [], phone: [] };
  return { ...input, kind: 'notice', codeHash: '', codeTtlMs: 0, keepMs: 0, limits, groups: limitGroups(limits) };
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

/** A code as a check sees it. */
export interface CodeView {
  readonly hash: string;
  readonly expiresAt: number;
  readonly used: boolean;
  /** Wrong guesses so far. */
  readonly attempts: number;
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
}

/**
 * The client IP's check limit (`ipChecks`, the verdict of its windows: a refused check is not
 * counted; every other one is, whatever its outcome) → not found → expired → used → too many
 * attempts → the phone's wrong-guess limit (`failures`, the verdict of its windows) → compare.
 */
export function judgeCheck(
  code: CodeView | undefined,
  givenHash: string,
  now: number,
  maxAttempts: number,
  failures: WindowsVerdict,
  ipChecks: WindowsVerdict = ROOM,
): CheckDecision {
  const answer = (status: CheckStatus, extra: Partial<CheckDecision> = {}): CheckDecision => ({
    status,
    attemptsRemaining: 0,
    retryAfterMs: 0,
    effect: 'none',
    attempt: undefined,
    ...extra,
  });
  if (ipChecks.refused !== undefined) return answer('check_limited', { retryAfterMs: ipChecks.retryAfterMs });
  if (!code) return answer('not_found');
  if (now >= code.expiresAt) return answer('expired');
  if (code.used) return answer('used');
  if (code.attempts >= maxAttempts) return answer('too_many_attempts');
  if (failures.refused !== undefined) {
    return answer('verify_limited', { attemptsRemaining: maxAttempts - code.attempts, retryAfterMs: failures.retryAfterMs });
  }
  const attempt = code.attempts + 1;
  if (code.hash === givenHash) return answer('approved', { attemptsRemaining: maxAttempts - code.attempts, effect: 'use', attempt });
  return answer('mismatch', { attemptsRemaining: maxAttempts - attempt, effect: 'wrong', attempt });
}

/** The event a check audits. `outId`: the current code's send id, when there is a current code. */
export function checkEvent(decision: CheckDecision, outId: string | undefined): AuditEvent {
  return decision.status === 'approved'
    ? { event: 'code.approved', attempt: decision.attempt, outId }
    : { event: 'code.rejected', reason: decision.status, attempt: decision.attempt, outId };
}

/**
 * A commit of send `sendId`: its pending code becomes current unless a newer send's code already is
 * (`superseded`); without a pending code, it is `repeated` if that send's code is already current,
 * else `lost` (audited as code.sent with reason `unconfirmed`).
 */
export function commitOutcome(
  pendingSentAt: number | undefined,
  current: { readonly sentAt: number; readonly sendId: string } | undefined,
  sendId: string,
): CommitResult {
  if (pendingSentAt !== undefined) return pendingSentAt >= (current?.sentAt ?? -1) ? 'promoted' : 'superseded';
  return current?.sendId === sendId ? 'repeated' : 'lost';
}
