/** Dysmsapi double: response bodies in the POP gateway's shapes. */
import { randomInt, randomUUID } from 'node:crypto';
import { BUSINESS_MESSAGES, HOST_ID, HTTP_DEFAULTS, JSON_CONTENT_TYPE } from './protocol.js';

export function newRequestId(): string {
  return randomUUID().toUpperCase();
}

export function newBizId(): string {
  const digits = Array.from({ length: 18 }, (_, i) => randomInt(i === 0 ? 1 : 0, 10)).join('');
  return `${digits}^0`;
}

export interface Reply {
  status: number;
  body: string;
  contentType: string;
  requestId: string;
  code?: string;
  bizId?: string;
}

export function jsonReply(status: number, payload: Record<string, unknown>, requestId: string): Reply {
  const code = typeof payload.Code === 'string' ? payload.Code : undefined;
  const bizId = typeof payload.BizId === 'string' ? payload.BizId : undefined;
  return { status, body: JSON.stringify(payload), contentType: JSON_CONTENT_TYPE, requestId, code, bizId };
}

/** POP gateway error shape: `{RequestId, HostId, Code, Message, Recommend}`. */
export function gatewayError(status: number, code: string, message: string): Reply {
  const requestId = newRequestId();
  return jsonReply(
    status,
    {
      RequestId: requestId,
      HostId: HOST_ID,
      Code: code,
      Message: message,
      Recommend: `https://api.aliyun.com/troubleshoot?q=${encodeURIComponent(code)}&product=Dysmsapi&requestId=${requestId}`,
    },
    requestId,
  );
}

export function missingParameter(name: string): Reply {
  return gatewayError(400, `Missing${name}`, `${name} is mandatory for this action.`);
}

export function businessReply(code: string, message?: string): Reply {
  const requestId = newRequestId();
  return jsonReply(200, { Code: code, Message: message ?? BUSINESS_MESSAGES[code] ?? code, RequestId: requestId }, requestId);
}

export function okReply(): Reply {
  const requestId = newRequestId();
  return jsonReply(200, { Code: 'OK', Message: 'OK', BizId: newBizId(), RequestId: requestId }, requestId);
}

export function httpErrorReply(status: number, code?: string, message?: string): Reply {
  const fallback = HTTP_DEFAULTS[status] ?? { code: status >= 500 ? 'InternalError' : 'InvalidParameter', message: `HTTP ${status}` };
  return gatewayError(status, code ?? fallback.code, message ?? fallback.message);
}

export function garbageReply(status = 502): Reply {
  const body = `<html><head><title>${status}</title></head><body><center><h1>${status} Bad Gateway</h1></center><hr><center>Tengine</center></body></html>`;
  return { status, body, contentType: 'text/html', requestId: newRequestId() };
}
