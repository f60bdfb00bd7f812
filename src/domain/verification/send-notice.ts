import { namedEvent } from '../audit/audit.js';
import { generateSendId } from '../codes/code.js';
import { isPhoneAllowed } from '../phones/phone-policy.js';
import type { Subject } from '../store.js';
import { auditContext, type VerificationKit } from './kit.js';
import { deliverTestSms } from './receipts.js';
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
  await registerNotice(kit, request, outId, { channel, phone: phone.e164 });
  const outcome = await kit.sendSms({
    phone,
    signName: policy.signName,
    templateCode: request.templateCode,
    templateParam: request.templateParam,
    outId,
  });
  const event = kit.providerFields(request.templateCode, outId, outcome, phone);
  if (!outcome.ok) {
    kit.logFailure(kit.log(request), 'notice', phone, channel, outcome);
    await kit.appendEvent(kit.log(request), context, namedEvent('notice.send_failed', event));
    return { kind: 'send_failed', failure: outcome.failure };
  }
  await kit.appendEvent(kit.log(request), context, namedEvent('notice.sent', event));
  if (kit.testCode(phone) !== undefined) await deliverTestSms(kit, outId);
  return { kind: 'sent', phone, channel, bizId: outcome.bizId };
}

/**
 * Where the notice's OutId leads, for its delivery report. The SMS does not depend on it: if the store
 * cannot take it this instant, the report will be acknowledged as unknown (and the log says why).
 */
async function registerNotice(kit: VerificationKit, request: SendNoticeRequest, outId: string, subject: Subject): Promise<void> {
  try {
    await kit.deps.store.registerNotice(outId, subject);
  } catch (error) {
    kit.log(request).warn({ audit: { outId, channel: subject.channel }, error: (error as Error).name }, 'notice OutId not kept: its delivery report will not be matched');
  }
}
