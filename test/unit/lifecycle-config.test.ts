import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { chinaTime, parseSmsReports } from '../../src/providers/aliyun/sms-report.js';

const load = (env: Record<string, string>) => () => loadConfig({ LOG_LEVEL: 'silent', ...env });

describe('VERIFICATION_RETENTION and ALIYUN_RECEIPT_TOKEN', () => {
  it('default to 24h and no receipt route; refuse what would not work, naming the variable', () => {
    const config = loadConfig({});
    expect(config.verificationRetentionMs).toBe(86_400_000);
    expect(config.receiptToken).toBeUndefined();
    expect(loadConfig({ VERIFICATION_RETENTION: '7d' }).verificationRetentionMs).toBe(7 * 86_400_000);
    expect(load({ VERIFICATION_RETENTION: 'soon' })).toThrow(/VERIFICATION_RETENTION/);
    expect(load({ VERIFICATION_RETENTION: '10s' })).toThrow(/VERIFICATION_RETENTION.*at least 1m/);
    expect(load({ VERIFICATION_RETENTION: '2m', CODE_TTL_SECONDS: '300' })).toThrow(/VERIFICATION_RETENTION.*longest code TTL \(300 s/);
    expect(loadConfig({ VERIFICATION_RETENTION: '5m', CODE_TTL_SECONDS: '300' }).verificationRetentionMs).toBe(300_000);
    expect(load({ ALIYUN_RECEIPT_TOKEN: 'short' })).toThrow(/ALIYUN_RECEIPT_TOKEN.*16/);
    expect(load({ ALIYUN_RECEIPT_TOKEN: 'has a space in it 0123' })).toThrow(/ALIYUN_RECEIPT_TOKEN/);
    expect(loadConfig({ ALIYUN_RECEIPT_TOKEN: 'abcdefghijklmnop' }).receiptToken).toBe('abcdefghijklmnop');
    try {
      load({ ALIYUN_RECEIPT_TOKEN: 'secret value' })();
    } catch (error) {
      expect((error as Error).message).not.toContain('secret value');
    }
  });
});

describe('Aliyun SmsReport parsing', () => {
  it('reads China Standard Time, success as a boolean or its string, and refuses what is not a report', () => {
    expect(chinaTime('2026-12-02 10:15:00')).toBe(Date.UTC(2026, 11, 2, 2, 15, 0));
    expect(chinaTime('2026-12-02T10:15:00')).toBeUndefined();
    const parsed = parseSmsReports(
      JSON.stringify([
        { out_id: 'a', success: true, err_code: 'DELIVERED', report_time: '2026-12-02 10:15:00' },
        { out_id: 'b', success: 'false', err_code: 'MK:0001' },
      ]),
      42,
    );
    expect(parsed).toEqual({
      ok: true,
      reports: [
        { outId: 'a', delivered: true, errorCode: 'DELIVERED', reportedAt: Date.UTC(2026, 11, 2, 2, 15, 0) },
        { outId: 'b', delivered: false, errorCode: 'MK:0001', reportedAt: 42 },
      ],
    });
    expect(parseSmsReports('{}')).toMatchObject({ ok: false });
    expect(parseSmsReports('[{"out_id":1,"success":true}]')).toMatchObject({ ok: false, problem: 'report 0: out_id must be a string' });
    expect(parseSmsReports('[null]')).toMatchObject({ ok: false });
  });
});
