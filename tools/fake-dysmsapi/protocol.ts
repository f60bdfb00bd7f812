/** Dysmsapi double: protocol constants and the business error texts. */
export const API_VERSION = '2017-05-25';
export const HOST_ID = 'dysmsapi.aliyuncs.com';
export const V3_ALGORITHM = 'ACS3-HMAC-SHA256';
export const CLOCK_SKEW_MS = 15 * 60 * 1000;
export const JSON_CONTENT_TYPE = 'application/json;charset=utf-8';

export const BUSINESS_MESSAGES: Record<string, string> = {
  OK: 'OK',
  'isv.BUSINESS_LIMIT_CONTROL': '触发分钟级流控Permits:1',
  'isv.DAY_LIMIT_CONTROL': '触发日发送限额',
  'isv.MOBILE_NUMBER_ILLEGAL': '非法手机号',
  'isv.MOBILE_COUNT_OVER_LIMIT': '手机号码数量超过限制',
  'isv.TEMPLATE_MISSING_PARAMETERS': '模板变量缺少对应参数值',
  'isv.INVALID_JSON_PARAM': 'JSON参数不合法，只接受字符串值',
  'isv.SMS_SIGNATURE_ILLEGAL': '签名不合法',
  'isv.SMS_TEMPLATE_ILLEGAL': '模板不合法',
  'isv.AMOUNT_NOT_ENOUGH': '账户余额不足',
  'isp.SYSTEM_ERROR': 'isp.SYSTEM_ERROR',
};

export const HTTP_DEFAULTS: Record<number, { code: string; message: string }> = {
  400: { code: 'Throttling.User', message: 'Request was denied due to user flow control.' },
  429: { code: 'Throttling.User', message: 'Request was denied due to user flow control.' },
  500: { code: 'InternalError', message: 'The request processing has failed due to some unknown error, exception or failure.' },
  503: { code: 'ServiceUnavailable', message: 'The request has failed due to a temporary failure of the server.' },
};
