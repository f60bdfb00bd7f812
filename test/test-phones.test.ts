import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { buildTestApp, type TestApp } from './support/app.js';
import { STORE_KINDS } from './support/stores.js';

const TEST_PHONE = '+8613800138000';

describe.each(STORE_KINDS)('TEST_PHONES on the %s store', (kind) => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });

  it('never reaches the provider, is delivered, verifies the fixed code once, and every limit still applies', async () => {
    t = await buildTestApp(kind, { TEST_PHONES: `${TEST_PHONE}:1234,+85291234567:5678`, SEND_LIMITS: '1/60s' });
    const sent = await t.post('/v1/verifications', { phone: TEST_PHONE, channel: 'login' });
    expect(sent.status).toBe(201);
    expect(t.sms.messages).toHaveLength(0);
    const view = (await t.app.inject({ url: `/v1/verifications/${sent.body.id}` })).json();
    expect(view).toMatchObject({ status: 'pending', delivery: { status: 'delivered' } });
    const events: Array<Record<string, string>> = [];
    for await (const entry of t.harness.store.audit.scan({})) events.push({ ...entry.fields });
    expect(events.find((e) => e.event === 'code.sent')).toMatchObject({ provider: 'test', outId: sent.body.id });
    expect(events.find((e) => e.event === 'code.delivered')).toMatchObject({ outId: sent.body.id });
    expect((await t.post('/v1/verifications/check', { phone: TEST_PHONE, channel: 'login', code: '4321' })).status).toBe(422);
    expect((await t.post('/v1/verifications/check', { phone: TEST_PHONE, channel: 'login', code: '1234' })).status).toBe(200);
    expect((await t.post('/v1/verifications/check', { phone: TEST_PHONE, channel: 'login', code: '1234' })).status).toBe(409);
    expect((await t.post('/v1/verifications', { phone: TEST_PHONE, channel: 'login' })).status).toBe(429);
    // Other numbers are real sends.
    expect((await t.post('/v1/verifications', { phone: '+8613800000001', channel: 'login' })).status).toBe(201);
    expect(t.sms.messages).toHaveLength(1);
    // Notices to a test phone never reach the provider either.
    expect((await t.post('/v1/notifications', { phone: '+85291234567', channel: 'orders', templateCode: 'SMS_1' })).status).toBe(201);
    expect(t.sms.messages).toHaveLength(1);
  });
});

describe('TEST_PHONES settings', () => {
  const load = (env: Record<string, string>) => () => loadConfig({ LOG_LEVEL: 'silent', ...env });

  it('refuses a code that does not fit CODE_LENGTH, a number not in E.164, a code that is not digits', () => {
    expect(load({ TEST_PHONES: `${TEST_PHONE}:12345` })).toThrow(/TEST_PHONES.*5 digits but CODE_LENGTH is 4/);
    expect(load({ TEST_PHONES: `${TEST_PHONE}:123456`, CODE_LENGTH: '6' })).not.toThrow();
    expect(load({ TEST_PHONES: '13800138000:1234' })).toThrow(ConfigError);
    expect(load({ TEST_PHONES: `${TEST_PHONE}:12a4` })).toThrow(/TEST_PHONES.*ASCII digits/);
    expect(load({ TEST_PHONES: `${TEST_PHONE}` })).toThrow(/TEST_PHONES/);
    try {
      load({ TEST_PHONES: `${TEST_PHONE}:12345` })();
    } catch (error) {
      expect((error as Error).message).not.toContain('12345');
      expect((error as Error).message).not.toContain(TEST_PHONE);
    }
  });

  it('is allowed in production, with a start-up warning listing the numbers masked', () => {
    const config = loadConfig({
      NODE_ENV: 'production',
      API_KEYS: 'svc:token-0123456789abcdef',
      CODE_SECRET: 'x'.repeat(32),
      ALLOWED_COUNTRIES: 'CN,HK',
      GLOBAL_SEND_LIMITS: '1000/1d',
      TEST_PHONES: `${TEST_PHONE}:1234,+85291234567:5678`,
    });
    const warning = config.warnings.find((w) => w.includes('TEST_PHONES'));
    expect(warning).toBeDefined();
    expect(warning).not.toContain(TEST_PHONE);
    expect(warning).not.toContain('1234');
    expect(warning).toMatch(/\+86.*\*.*, \+852.*\*/);
  });
});
