import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.js';

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 3000,
      host: '0.0.0.0',
      redis: undefined,
      redisPrefix: 'sms:',
      codeLength: 4,
      codeTtlMs: 300_000,
      maxVerifyAttempts: 5,
      smsProvider: 'log',
      exposeCode: false,
      storeTimeoutMs: 1000,
    });
    expect(config.sendLimits.map((w) => w.label)).toEqual(['1/60s', '5/1h', '10/1d']);
    expect(config.limits.notice.map((w) => w.label)).toEqual(['10/1h', '50/1d']);
    expect(config.limits.ipChecks).toEqual([]);
    expect(config.noticeTemplates).toBeUndefined();
  });

  it('reads NOTICE_LIMITS, NOTICE_TEMPLATES and IP_CHECK_LIMITS', () => {
    const config = loadConfig({ NOTICE_LIMITS: 'off', NOTICE_TEMPLATES: ' SMS_1, SMS_2 ', IP_CHECK_LIMITS: '100/1h' });
    expect(config.limits.notice).toEqual([]);
    expect(config.noticeTemplates).toEqual(new Set(['SMS_1', 'SMS_2']));
    expect(config.limits.ipChecks).toEqual([{ count: 100, windowMs: 3_600_000, label: '100/1h' }]);
  });

  it('reads and converts values, treating empty ones as unset', () => {
    const config = loadConfig({ PORT: '0', CODE_LENGTH: '6', EXPOSE_CODE: 'true', REDIS_URL: '', SEND_LIMITS: '2/10s' });
    expect(config).toMatchObject({ port: 0, codeLength: 6, exposeCode: true, redis: undefined });
    expect(config.sendLimits).toEqual([{ count: 2, windowMs: 10_000, label: '2/10s' }]);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['CODE_LENGTH', '3'],
    ['CODE_LENGTH', '11'],
    ['CODE_TTL_SECONDS', '0'],
    ['MAX_VERIFY_ATTEMPTS', '1.5'],
    ['SEND_LIMITS', '5 per hour'],
    ['SMS_PROVIDER', 'twilio'],
    ['EXPOSE_CODE', 'maybe'],
    ['REDIS_URL', 'http://localhost'],
    ['REDIS_PREFIX', 'a{b}'],
    ['NOTICE_LIMITS', '10 an hour'],
    ['NOTICE_TEMPLATES', 'SMS_1,bad code'],
    ['NOTICE_TEMPLATES', ' , '],
    ['IP_CHECK_LIMITS', 'lots'],
  ])('stops on %s=%j with a message naming the variable', (variable, value) => {
    expect(() => loadConfig({ [variable]: value })).toThrowError(ConfigError);
    expect(() => loadConfig({ [variable]: value })).toThrowError(new RegExp(`\\b${variable}\\b`));
  });

  it('refuses more than one Redis topology', () => {
    expect(() => loadConfig({ REDIS_URL: 'redis://a', REDIS_SENTINELS: 'b:26379' })).toThrowError(
      /REDIS_URL, REDIS_SENTINELS are mutually exclusive/,
    );
  });

  it('never echoes a secret value in its message', () => {
    expect(() => loadConfig({ CODE_SECRET: 'short' })).toThrowError(/CODE_SECRET/);
    try {
      loadConfig({ REDIS_URL: 'http://user:hunter2@host' });
    } catch (error) {
      expect((error as Error).message).not.toContain('hunter2');
    }
  });
});
