import { generateCode, generateVerificationId } from '../codes/code.js';
import type { SendWindow } from '../limits/send-window.js';
import { isPhoneAllowed } from '../phones/phone-policy.js';
import type { SendLimits, Subject } from '../store.js';
import type { CommitRetry } from './commit-retry.js';
import { auditContext, type VerificationKit } from './kit.js';
import { SendReservation } from './reservation.js';
import { planSend } from './rules.js';
import { reserveAndSend } from './send-flow.js';
import type { RequestContext, SendCodeRequest, SendCodeResult } from './types.js';

/**
 * Send a verification code: reserve the send (every limit, all or nothing), send the SMS, then
 * commit the reservation (the code becomes current) or release it (it counts for nothing); see
 * send-flow.ts, which notices share.
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
  const result = await reserveAndSend(
    kit,
    commits,
    reservation,
    {
      phone,
      signName: policy.signName,
      templateCode: policy.templateCode,
      templateParam: { [policy.templateVariable]: code },
      outId: reservation.sendId,
    },
    { logger: kit.log(request), what: 'verification code', phone },
  );
  if (result.kind === 'send_unconfirmed') return { ...result, verificationId: reservation.sendId };
  if (result.kind !== 'sent') return result;
  return {
    kind: 'sent',
    id: reservation.sendId,
    phone,
    channel,
    expiresAt: new Date(result.expiresAt),
    resendAvailableAt: new Date(result.resendAt),
    code,
  };
}

function sendLimits(kit: VerificationKit, channelWindows: readonly SendWindow[], context: RequestContext | undefined): SendLimits {
  const { phone, global } = kit.deps.guards.limits;
  return { channel: channelWindows, phone, ip: ipLimit(kit, context), global };
}

/** The per-IP send limit of a request (codes and notices alike); none without an IP or a limit. */
export function ipLimit(kit: VerificationKit, context: RequestContext | undefined): SendLimits['ip'] {
  const { ip } = kit.deps.guards.limits;
  return ip.length > 0 && context?.ip ? { address: context.ip, windows: ip } : undefined;
}
