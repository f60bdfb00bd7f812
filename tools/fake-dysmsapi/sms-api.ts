/** Dysmsapi double: the API handlers (SendSms validation, QuerySendDetails), reached only by authenticated requests. */
import { chinaTimestamp } from './receipts.js';
import { type Reply, businessReply, jsonReply, missingParameter, newRequestId } from './replies.js';
import type { RecordedRequest } from './fake-dysmsapi.js';

export const PHONE_NUMBER = /^(\+|00)?\d{5,20}$/;

export function validateSendSms(params: Record<string, string>): Reply | undefined {
  for (const name of ['PhoneNumbers', 'SignName', 'TemplateCode']) {
    if (!params[name]) return missingParameter(name);
  }
  const phones = params.PhoneNumbers!.split(',');
  if (phones.length > 1000) return businessReply('isv.MOBILE_COUNT_OVER_LIMIT');
  if (!phones.every((p) => PHONE_NUMBER.test(p.trim()))) return businessReply('isv.MOBILE_NUMBER_ILLEGAL');
  if (params.TemplateParam !== undefined && !isStringMap(params.TemplateParam)) return businessReply('isv.INVALID_JSON_PARAM');
  return undefined;
}

export function isStringMap(json: string): boolean {
  try {
    const value: unknown = JSON.parse(json);
    return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');
  } catch {
    return false;
  }
}

/** yyyyMMdd / yyyy-MM-dd HH:mm:ss in China Standard Time, as QuerySendDetails reports them. */
export function chinaTime(epochMs: number): { day: string; stamp: string } {
  const stamp = chinaTimestamp(epochMs);
  return { day: stamp.slice(0, 10).replaceAll('-', ''), stamp };
}

export function querySendDetails(params: Record<string, string>, history: RecordedRequest[]): Reply {
  for (const name of ['PhoneNumber', 'SendDate', 'PageSize', 'CurrentPage']) {
    if (!params[name]) return missingParameter(name);
  }
  const pageSize = Math.min(Math.max(Number(params.PageSize) || 10, 1), 50);
  const page = Math.max(Number(params.CurrentPage) || 1, 1);
  const matches = history.filter(
    (r) =>
      r.reply?.code === 'OK' &&
      r.query.PhoneNumbers?.split(',').includes(params.PhoneNumber!) &&
      chinaTime(r.receivedAt).day === params.SendDate &&
      (!params.BizId || r.reply.bizId === params.BizId),
  );
  const details = matches.slice((page - 1) * pageSize, page * pageSize).map((r) => ({
    PhoneNum: params.PhoneNumber,
    SendStatus: 3,
    ErrCode: 'DELIVERED',
    TemplateCode: r.query.TemplateCode,
    Content: `【${r.query.SignName}】${r.query.TemplateParam ?? ''}`,
    SendDate: chinaTime(r.receivedAt).stamp,
    ReceiveDate: chinaTime(r.receivedAt).stamp,
    OutId: r.query.OutId,
  }));
  const requestId = newRequestId();
  // The SDK model types TotalCount as a string, mirroring the real payload.
  return jsonReply(
    200,
    { Code: 'OK', Message: 'OK', RequestId: requestId, TotalCount: String(matches.length), SmsSendDetailDTOs: { SmsSendDetailDTO: details } },
    requestId,
  );
}
