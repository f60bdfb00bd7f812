import { generateSendId } from '../codes/code.js';
import { isPhoneAllowed } from '../phones/phone-policy.js';
import { TEMPLATE_CODE } from '../sms-provider.js';
import type { CommitRetry } from './commit-retry.js';
import { auditContext, type VerificationKit } from './kit.js';
import { SendReservation } from './reservation.js';
import { planNotice } from './rules.js';
import { ipLimit } from './send-code.js';
import { reserveAndSend } from './send-flow.js';
import type { SendNoticeRequest, SendNoticeResult } from './types.js';


/**
 * A notification SMS: the caller's template and parameters, unchanged; no code. Inside the budget:
 * it counts in NOTICE_LIMITS (per phone), IP_SEND_LIMITS and GLOBAL_SEND_LIMITS, reserved like a code
 * send (send-flow.ts). A verification template is never a notice (no OTP-looking text), and with
 * NOTICE_TEMPLATES set only those templates are.
 */
export async function sendNotice(kit: VerificationKit, commits: CommitRetry, request: SendNoticeRequest): Promise<SendNoticeResult> {
  const subject = kit.subject(request);
  if ('kind' in subject) return subject;
  const { phone, channel } = subject;
  const context = auditContext({ channel, phone: phone.e164 }, request.context);
  if (!isPhoneAllowed(kit.deps.guards.phonePolicy, phone)) {
    await kit.appendEvent(kit.log(request), context, { event: 'notice.send_failed', reason: 'phone_blocked' });
    return { kind: 'blocked' };
  }
  if (typeof request.templateCode !== 'string' || !TEMPLATE_CODE.test(request.templateCode)) {
    return { kind: 'invalid', field: 'templateCode' };
  }
  const templates = kit.deps.guards.notices;
  if (templates.verificationTemplates.has(request.templateCode) || (templates.allowed && !templates.allowed.has(request.templateCode))) {
    return { kind: 'template_not_allowed' };
  }
  const policy = kit.deps.policies.forChannel(channel);
  const { notice, global } = kit.deps.guards.limits;
  const reservation = new SendReservation(
    kit.deps.store,
    planNotice({
      subject: { channel, phone: phone.e164 },
      context,
      sendId: generateSendId(),
      limits: { notice, ip: ipLimit(kit, request.context), global },
    }),
  );
  const result = await reserveAndSend(
    kit,
    commits,
    reservation,
    { phone, signName: policy.signName, templateCode: request.templateCode, templateParam: request.templateParam, outId: reservation.sendId },
    { logger: kit.log(request), what: 'notice', phone },
  );
  if (result.kind !== 'sent') return result;
  return { kind: 'sent', phone, channel, bizId: result.bizId };
}
