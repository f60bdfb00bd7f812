import { TEMPLATE_CODE } from '../domain/sms-provider.js';
import { commaList } from './comma-list.js';
import { ConfigError } from './config-error.js';

/** `NOTICE_TEMPLATES`: a comma list of template codes; unset, any template that is not a verification one. */
export function noticeTemplates(text: string | undefined): ReadonlySet<string> | undefined {
  if (text === undefined) return undefined;
  const codes = commaList(text);
  const bad = codes.find((code) => !TEMPLATE_CODE.test(code));
  if (codes.length === 0 || bad !== undefined) {
    throw new ConfigError('NOTICE_TEMPLATES', `is invalid: expected a comma list of template codes such as SMS_100,SMS_200${bad ? ` (got ${JSON.stringify(bad)})` : ''}`);
  }
  return new Set(codes);
}
