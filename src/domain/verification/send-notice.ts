import { namedEvent } from '../audit/audit.js';
import { generateSendId } from '../codes/code.js';
import { isPhoneAllowed } from '../phones/phone-policy.js';
import { auditContext, type VerificationKit } from './kit.js';
import type { SendNoticeRequest, SendNoticeResult } from './types.js';

const TEMPLATE_CODE = /^[A-Za-z0-9_.-]{1,64}$/;

/** A notification SMS: the caller's template and parameters, unchanged; no codes, no send limits. */
export async function sendNotice(kit: VerificationKit, request: SendNoticeRequest): Promise<SendNoticeResult> {
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
  const policy = kit.deps.policies.forChannel(channel);
  const outId = generateSendId();
  const outcome = await kit.sendSms({
    phone,
    signName: policy.signName,
    templateCode: request.templateCode,
    templateParam: request.templateParam,
    outId,
  });
  const event = kit.providerFields(request.templateCode, outId, outcome);
  if (!outcome.ok) {
    kit.logFailure(kit.log(request), 'notice', phone, channel, outcome);
    await kit.appendEvent(kit.log(request), context, namedEvent('notice.send_failed', event));
    return { kind: 'send_failed', failure: outcome.failure };
  }
  await kit.appendEvent(kit.log(request), context, namedEvent('notice.sent', event));
  return { kind: 'sent', phone, channel, bizId: outcome.bizId };
}
