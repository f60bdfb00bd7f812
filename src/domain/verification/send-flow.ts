import type { AuditEventFields } from '../audit/audit.js';
import type { SendWindow } from '../limits/send-window.js';
import type { Logger } from '../logger.js';
import type { Phone } from '../phones/phone.js';
import type { SmsMessage } from '../sms-provider.js';
import { StoreUnavailableError } from '../store-unavailable.js';
import type { LimitScope, SendLimits } from '../store.js';
import { logStoreError, type CommitRetry } from './commit-retry.js';
import { retryAfterSeconds, type VerificationKit } from './kit.js';
import { deliverTestSms } from './receipts.js';
import type { SendReservation } from './reservation.js';
import type { RateLimited, Unconfirmed } from './types.js';
import type { SmsFailure } from '../sms-provider.js';

/** How one reserved send ended. */
export type SendFlowResult =
  | { readonly kind: 'sent'; readonly bizId: string | undefined; readonly expiresAt: number; readonly resendAt: number }
  | RateLimited
  | { readonly kind: 'send_failed'; readonly failure: SmsFailure }
  | Unconfirmed;

/**
 * One send, code or notice, the same way: reserve it (every limit, all or nothing), hand the SMS to
 * the provider, then commit (accepted: it counts, a code becomes current), release (the SMS provably
 * did not leave: it counts nowhere) or commit as unconfirmed (no answer came: it may have left, so it
 * counts and a code becomes current; the caller is told when the limits it fills free a slot).
 * A reserve the store did not answer is undone and answered store unavailable.
 */
export async function reserveAndSend(
  kit: VerificationKit,
  commits: CommitRetry,
  reservation: SendReservation,
  message: SmsMessage,
  log: { readonly logger: Logger; readonly what: string; readonly phone: Phone },
): Promise<SendFlowResult> {
  const { plan } = reservation;
  let reserved;
  try {
    reserved = await reservation.reserve();
  } catch (error) {
    logStoreError(kit.deps.logger, 'send not reserved: the store did not answer (answered store unavailable; no SMS sent)', reservation, error);
    // The script may have run with its answer lost (a timeout): undo, in case it did.
    await releaseAfterFailure(
      kit,
      reservation,
      { reason: 'store_unavailable' },
      'undo of the unanswered reserve failed too: if the reserve did run, it counts until its window passes',
    );
    throw new StoreUnavailableError({ cause: error });
  }
  if (!reserved.ok) {
    return {
      kind: 'rate_limited',
      scope: reserved.scope,
      windows: windowsOf(plan.limits, reserved.scope),
      window: reserved.window,
      retryAfterSeconds: retryAfterSeconds(reserved.retryAfterMs),
    };
  }

  const outcome = await kit.sendSms(message);
  const event = kit.providerFields(message.templateCode, reservation.sendId, outcome, message.phone);
  if (outcome.ok) {
    await finish(kit, commits, reservation, event, reserved.expiresAt, 'sent');
    // A TEST_PHONES send never left: it is delivered at once.
    if (kit.testCode(message.phone) !== undefined) await deliverTestSms(kit, reservation.sendId);
    return { kind: 'sent', bizId: outcome.bizId, expiresAt: reserved.expiresAt, resendAt: reserved.resendAt };
  }
  kit.logFailure(log.logger, log.what, log.phone, plan.subject.channel, outcome);
  if (outcome.failure !== 'unconfirmed') {
    await releaseAfterFailure(kit, reservation, event);
    return { kind: 'send_failed', failure: outcome.failure };
  }
  await finish(kit, commits, reservation, event, reserved.expiresAt, 'unconfirmed');
  let full;
  try {
    full = await reservation.fullLimit();
  } catch {
    full = undefined;
  }
  return {
    kind: 'send_unconfirmed',
    full: full && { scope: full.scope, windows: windowsOf(plan.limits, full.scope), window: full.window },
    retryAfterSeconds: retryAfterSeconds(full?.retryAfterMs ?? 0),
  };
}

/**
 * Commit: a code's commit is retried until the code would have expired (the person may have it); a
 * notice's commit only writes its event (the send already counts), so a failure is logged.
 */
async function finish(
  kit: VerificationKit,
  commits: CommitRetry,
  reservation: SendReservation,
  event: AuditEventFields,
  expiresAt: number,
  outcome: 'sent' | 'unconfirmed',
): Promise<void> {
  if (reservation.plan.kind === 'code') return commits.commit(reservation, event, expiresAt, outcome);
  try {
    await reservation.commit(event, outcome);
  } catch (error) {
    logStoreError(kit.deps.logger, 'notice sent (it counts) but its audit event was not written: store unavailable', reservation, error);
  }
}

/** The send failed; if the store cannot take the release, the failure is still the answer. */
async function releaseAfterFailure(
  kit: VerificationKit,
  reservation: SendReservation,
  event: AuditEventFields,
  unreleased = 'failed send not released: it counts until its window passes',
): Promise<void> {
  try {
    await reservation.release(event);
  } catch (error) {
    logStoreError(kit.deps.logger, unreleased, reservation, error);
  }
}

export function windowsOf(limits: SendLimits, scope: LimitScope): readonly SendWindow[] {
  return scope === 'ip' ? (limits.ip?.windows ?? []) : (limits[scope] ?? []);
}
