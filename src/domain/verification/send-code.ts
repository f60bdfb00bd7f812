import { generateCode, generateVerificationId } from '../codes/code.js';
import type { SendWindow } from '../limits/send-window.js';
import { isPhoneAllowed } from '../phones/phone-policy.js';
import { StoreUnavailableError } from '../store-unavailable.js';
import type { AuditEventFields } from '../audit/audit.js';
import type { LimitScope, SendLimits, Subject } from '../store.js';
import { logStoreError, type CommitRetry } from './commit-retry.js';
import { auditContext, retryAfterSeconds, type VerificationKit } from './kit.js';
import { SendReservation } from './reservation.js';
import { deliverTestSms } from './receipts.js';
import { planSend } from './rules.js';
import type { RequestContext, SendCodeRequest, SendCodeResult } from './types.js';

/**
 * Send a verification code: reserve the send (every limit, all or nothing), send the SMS, then
 * commit the reservation (the code becomes current) or release it (it counts for nothing).
 */
export async function sendCode(kit: VerificationKit, commits: CommitRetry, request: SendCodeRequest): Promise<SendCodeResult> {
  const subject = kit.subject(request);
  if ('kind' in subject) return subject;
  const { phone, channel } = subject;
  const key: Subject = { channel, phone: phone.e164 };
  const context = auditContext(key, request.context);
  if (!isPhoneAllowed(kit.deps.guards.phonePolicy, phone)) {
    await kit.appendEvent(kit.log(request), context, { event: 'code.send_failed', reason: 'phone_blocked' });
    return { kind: 'blocked' };
  }
  const policy = kit.deps.policies.forChannel(channel);
  const limits = sendLimits(kit, policy.sendLimits, request.context);
  // A test phone's fixed code fits the channel (checked at start-up); it verifies once, like any code.
  const code = kit.testCode(phone) ?? generateCode(policy.codeLength);
  const reservation = new SendReservation(
    kit.deps.store,
    planSend({
      subject: key,
      context,
      sendId: generateVerificationId(),
      codeHash: kit.hash(key, code),
      codeTtlMs: policy.codeTtlMs,
      maxAttempts: policy.maxVerifyAttempts,
      limits,
    }),
  );

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
      windows: windowsOf(limits, reserved.scope),
      window: reserved.window,
      retryAfterSeconds: retryAfterSeconds(reserved.retryAfterMs),
    };
  }

  const outcome = await kit.sendSms({
    phone,
    signName: policy.signName,
    templateCode: policy.templateCode,
    templateParam: { [policy.templateVariable]: code },
    outId: reservation.sendId,
  });
  const event = kit.providerFields(policy.templateCode, reservation.sendId, outcome, phone);
  if (!outcome.ok) {
    kit.logFailure(kit.log(request), 'verification code', phone, channel, outcome);
    await releaseAfterFailure(kit, reservation, event);
    return { kind: 'send_failed', failure: outcome.failure };
  }
  await commits.commit(reservation, event, reserved.expiresAt);
  if (kit.testCode(phone) !== undefined) await deliverTestSms(kit, reservation.sendId);
  return {
    kind: 'sent',
    id: reservation.sendId,
    phone,
    channel,
    expiresAt: new Date(reserved.expiresAt),
    resendAvailableAt: new Date(reserved.resendAt),
    code,
  };
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

function sendLimits(kit: VerificationKit, channelWindows: readonly SendWindow[], context: RequestContext | undefined): SendLimits {
  const { phone, ip, global } = kit.deps.guards.limits;
  return {
    channel: channelWindows,
    phone,
    ip: ip.length > 0 && context?.ip ? { address: context.ip, windows: ip } : undefined,
    global,
  };
}

function windowsOf(limits: SendLimits, scope: LimitScope): readonly SendWindow[] {
  return scope === 'ip' ? (limits.ip?.windows ?? []) : limits[scope];
}
