import { generateSendId, isWellFormedCode } from '../codes/code.js';
import { orUnavailable } from '../store-unavailable.js';
import type { Subject } from '../store.js';
import { auditContext, retryAfterSeconds, type VerificationKit } from './kit.js';
import { findVerification } from './lifecycle.js';
import type { CheckCodeRequest, CheckCodeResult } from './types.js';

/**
 * Check a code: one store decision (see rules.ts judgeCheck), audited by the store. By `{phone,
 * channel}` (the current code of that pair) or by `verificationId` (that verification's code only; on
 * Redis Cluster its index is read first, in its own slot, then the phone's script decides). Malformed
 * input answers before any limit; every well-formed check counts in IP_CHECK_LIMITS, whatever its outcome.
 */
export async function checkCode(kit: VerificationKit, request: CheckCodeRequest): Promise<CheckCodeResult> {
  let key: Subject;
  if (request.verificationId !== undefined) {
    const target = await findVerification(kit, request.verificationId, request.context);
    if (!target) return { kind: 'unknown_verification' };
    key = target.subject;
  } else {
    const subject = kit.subject(request);
    if ('kind' in subject) return subject;
    key = { channel: subject.channel, phone: subject.phone.e164 };
  }
  const policy = kit.deps.policies.forChannel(key.channel);
  if (!isWellFormedCode(request.code, policy.codeLength)) {
    return { kind: 'invalid', field: 'code', codeLength: policy.codeLength };
  }
  const { ipChecks } = kit.deps.guards.limits;
  const result = await orUnavailable(
    kit.deps.store.checkCode({
      subject: key,
      context: auditContext(key, request.context),
      codeHash: kit.hash(key, request.code),
      maxAttempts: policy.maxVerifyAttempts,
      checkId: generateSendId(),
      failureLimits: kit.deps.guards.limits.verifyFailures,
      verificationId: request.verificationId,
      idempotencyKey: request.idempotencyKey,
      ipChecks: ipChecks.length > 0 && request.context?.ip ? { address: request.context.ip, windows: ipChecks } : undefined,
    }),
  );
  return {
    kind: 'checked',
    status: result.status,
    attemptsRemaining: result.attemptsRemaining,
    retryAfterSeconds: result.status === 'verify_limited' || result.status === 'check_limited' ? retryAfterSeconds(result.retryAfterMs) : 0,
    replayed: result.replayed === true,
  };
}
