import type { ReceiptReport } from '../../domain/verification/types.js';

/**
 * Aliyun's SmsReport "HTTP batch push": a JSON array of
 * `{phone_number, send_time, report_time, success, err_code, err_msg, sms_size, biz_id, out_id}`,
 * times in China Standard Time (`yyyy-MM-dd HH:mm:ss`). Parsed into the reports the service records;
 * anything else is malformed (the answer says what, never echoing the body).
 */
export type SmsReportParse = { readonly ok: true; readonly reports: ReceiptReport[] } | { readonly ok: false; readonly problem: string };

/** At most this many reports in one push (Aliyun sends batches of up to a few hundred). */
export const MAX_REPORTS = 1000;

export function parseSmsReports(body: string, now: number = Date.now()): SmsReportParse {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { ok: false, problem: 'the body is not JSON' };
  }
  if (!Array.isArray(parsed)) return { ok: false, problem: 'the body is not a JSON array of reports' };
  if (parsed.length > MAX_REPORTS) return { ok: false, problem: `more than ${MAX_REPORTS} reports in one push` };
  const reports: ReceiptReport[] = [];
  for (const [index, item] of parsed.entries()) {
    const report = parseReport(item, now);
    if (typeof report === 'string') return { ok: false, problem: `report ${index}: ${report}` };
    reports.push(report);
  }
  return { ok: true, reports };
}

function parseReport(item: unknown, now: number): ReceiptReport | string {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return 'not an object';
  const fields = item as Record<string, unknown>;
  const success = fields.success === true || fields.success === 'true' ? true : fields.success === false || fields.success === 'false' ? false : undefined;
  if (success === undefined) return 'success must be true or false';
  const outId = fields.out_id ?? '';
  if (typeof outId !== 'string' || outId.length > 256) return 'out_id must be a string';
  const errorCode = fields.err_code ?? '';
  if (typeof errorCode !== 'string' || errorCode.length > 64) return 'err_code must be a string';
  const reportTime = fields.report_time;
  if (reportTime !== undefined && typeof reportTime !== 'string') return 'report_time must be a string';
  return { outId, delivered: success, errorCode: errorCode || (success ? 'DELIVERED' : 'UNKNOWN'), reportedAt: chinaTime(reportTime) ?? now };
}

const CHINA_TIME = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;

/** `yyyy-MM-dd HH:mm:ss` in UTC+8 as epoch ms; undefined if it is not one. */
export function chinaTime(text: string | undefined): number | undefined {
  const match = text === undefined ? null : CHINA_TIME.exec(text);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s] = match.map(Number) as number[];
  const ms = Date.UTC(y as number, (mo as number) - 1, d, h, mi, s) - 8 * 3600_000;
  return Number.isFinite(ms) ? ms : undefined;
}
