import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { buildTestApp, type TestApp } from './support/app.js';
import { DEFAULT_ACCESS_KEYS, FakeDysmsapi, type FakeBehaviour, type RecordedRequest } from '../tools/fake-dysmsapi/fake-dysmsapi.js';
import { STORE_KINDS, until } from './support/stores.js';
import { showsNumber, showsPhone } from './support/numbers.js';

const AK_ID = 'testAkId';
const AK_SECRET = DEFAULT_ACCESS_KEYS[AK_ID] as string;
const PHONE = '13800000000';
const E164 = '+8613800000000';
const SIGN = '阿里云短信测试';
const TEMPLATE = 'SMS_154950909';

let fake: FakeDysmsapi;
beforeAll(async () => {
  fake = await FakeDysmsapi.start();
});
afterAll(async () => {
  await fake.close();
});

function aliyunEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    SMS_PROVIDER: 'aliyun',
    ALIYUN_SMS_ENDPOINT: fake.url,
    ALIBABA_CLOUD_ACCESS_KEY_ID: AK_ID,
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: AK_SECRET,
    ALIYUN_SMS_SIGN_NAME: SIGN,
    ALIYUN_SMS_TEMPLATE_CODE: TEMPLATE,
    ALIYUN_SMS_TIMEOUT_MS: '2000',
    ...extra,
  };
}

function codeIn(request: RecordedRequest | undefined): string {
  const param = JSON.parse(request?.query.TemplateParam ?? '{}') as Record<string, string>;
  return Object.values(param)[0] as string;
}

describe.each(STORE_KINDS)('Aliyun SMS end to end on the %s store', (kind) => {
  let t: TestApp;
  let logLines: string[];
  afterEach(async () => {
    await t?.close();
    fake.reset();
  });

  async function start(extra: Record<string, string> = {}) {
    logLines = [];
    t = await buildTestApp(kind, aliyunEnv(extra), { configuredSms: true, logLines });
  }
  const send = (phone = PHONE, channel = 'login') => t.post('/v1/verifications', { phone, channel });
  const check = (code: string, phone = PHONE, channel = 'login') => t.post('/v1/verifications/check', { phone, channel, code });

  it('sends one signed SendSms with every parameter, and the code it carried verifies', async () => {
    await start();
    const res = await send('+86 138-0000-0000');
    expect(res.status).toBe(201);
    expect(fake.requests).toHaveLength(1);
    const [request] = fake.sends();
    expect(request?.signatureValid).toBe(true);
    expect(request?.accessKeyId).toBe(AK_ID);
    expect(request?.action).toBe('SendSms');
    expect(request?.query).toEqual({
      PhoneNumbers: '13800000000',
      SignName: SIGN,
      TemplateCode: TEMPLATE,
      TemplateParam: expect.stringMatching(/^\{"code":"[0-9]{4}"\}$/),
      OutId: expect.stringMatching(/^[0-9a-f]{16}[0-9a-z]+$/),
    });
    expect((await check(codeIn(request))).status).toBe(200);
    const logs = logLines.join('\n');
    expect(showsNumber(logs, codeIn(request))).toBe(false);
    expect(logs).not.toContain(AK_SECRET);
    expect(showsPhone(logs, '13800000000')).toBe(false);
  });

  it('sends international numbers as country code + number without +', async () => {
    await start();
    expect((await send('00852 6123 4567')).status).toBe(201);
    expect(fake.sends()[0]?.query.PhoneNumbers).toBe('85261234567');
  });

  it('sends notices with the caller template and params unchanged, and no limits', async () => {
    await start();
    const legacy = await t.post('/sms_message/sendNotice', {
      phone: PHONE,
      channel: 'orders',
      template_code: 'SMS_900',
      template_param: '{"name":"张三","order":"A-1"}',
    });
    expect(legacy.body).toEqual({ code: 200, message: '请求成功!', data: {} });
    const v1 = await t.post('/v1/notifications', {
      phone: PHONE,
      channel: 'orders',
      templateCode: 'SMS_901',
      templateParam: { amount: '9.90' },
    });
    expect(v1.status).toBe(201);
    expect(v1.body.bizId).toMatch(/\^0$/);
    const [first, second] = fake.sends();
    expect(first?.query).toMatchObject({ SignName: SIGN, TemplateCode: 'SMS_900', TemplateParam: '{"name":"张三","order":"A-1"}' });
    expect(second?.query).toMatchObject({ TemplateCode: 'SMS_901', TemplateParam: '{"amount":"9.90"}' });
  });

  const failures: Array<[string, FakeBehaviour, number, string]> = [
    ['an illegal number', { kind: 'business', code: 'isv.MOBILE_NUMBER_ILLEGAL' }, 400, 'INVALID_PHONE'],
    ['provider flow control', { kind: 'business', code: 'isv.BUSINESS_LIMIT_CONTROL', message: '触发分钟级流控Permits:1' }, 429, 'PROVIDER_RATE_LIMITED'],
    ['another business error', { kind: 'business', code: 'isv.AMOUNT_NOT_ENOUGH' }, 502, 'SMS_SEND_FAILED'],
    ['HTTP 500', { kind: 'http', status: 500, code: 'isp.SYSTEM_ERROR' }, 502, 'SMS_SEND_FAILED'],
    ['throttling', { kind: 'http', status: 400, code: 'Throttling.User' }, 502, 'SMS_SEND_FAILED'],
    ['garbage', { kind: 'garbage' }, 502, 'SMS_SEND_FAILED'],
  ];
  // A reset connection once the request was written is an unknown outcome (issue 11 §6): the send
  // counts and its code verifies; test/cost-limits.test.ts covers it with the double's reset and hang modes.

  it.each(failures)('maps %s to %i %s, releases the reservation and leaves no valid code', async (_name, behaviour, status, code) => {
    await start();
    fake.respondWith(behaviour, 1);
    const res = await send();
    expect(res.status).toBe(status);
    expect(res.body.code).toBe(code);
    expect(JSON.stringify(res.body)).not.toMatch(/isv\.|isp\.|Throttling|RequestId|[0-9A-F]{8}-[0-9A-F]{4}/);
    const failedCode = codeIn(fake.sends()[0]);
    expect((await check(failedCode)).status).toBe(404);
    // Released: under 1/60s another send goes straight through.
    expect((await send()).status).toBe(201);
    const warn = logLines.map((l) => JSON.parse(l)).find((l) => l.level === 40 && l.sms?.providerCode);
    expect(warn?.sms.phone).toBe('+86138****0000');
    expect(showsPhone(logLines.join('\n'), PHONE)).toBe(false);
  });

  it('answers the legacy route 400 短信发送失败 for a provider failure', async () => {
    await start();
    fake.respondWith({ kind: 'business', code: 'isv.BUSINESS_LIMIT_CONTROL' }, 1);
    const res = await t.post('/sms_message/getVerificationCode', { phone: PHONE, channel: 'login' });
    expect(res.body).toEqual({ code: 400, message: '短信发送失败', data: {} });
  });

  it('keeps the previous code valid when a resend fails', async () => {
    await start({ SEND_LIMITS: '5/1h' });
    await send();
    const oldCode = codeIn(fake.sends()[0]);
    fake.respondWith({ kind: 'http', status: 503, code: 'ServiceUnavailable' }, 1);
    expect((await send()).status).toBe(502);
    expect((await check(oldCode)).status).toBe(200);
  });

  it('answers within the timeout plus a small margin when the provider hangs', async () => {
    await start({ ALIYUN_SMS_TIMEOUT_MS: '300' });
    fake.respondWith({ kind: 'hang' }, 1);
    const started = Date.now();
    const res = await send();
    expect(Date.now() - started).toBeLessThan(300 + 700);
    expect(res.status).toBe(502);
    // The SMS may have left (issue 11 §6): the send counts, so the retry waits for its window.
    expect(res.body.code).toBe('SMS_SEND_UNCONFIRMED');
    expect((await send()).status).toBe(429);
  });

  it('fails a send signed with a wrong secret, never revealing the secret', async () => {
    await start({ ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'wrong-secret-0123456789' });
    const res = await send();
    expect(res.status).toBe(502);
    expect(fake.requests[0]?.rejectedWith).toBe('SignatureDoesNotMatch');
    const everything = JSON.stringify(res.body) + logLines.join('\n');
    expect(everything).not.toContain('wrong-secret-0123456789');
    expect(logLines.join('\n')).toContain('SignatureDoesNotMatch');
  });

  it('uses per-channel sign name, template, variable, length and limits from CHANNELS_FILE', async () => {
    const file = join(tmpdir(), `channels-${process.pid}-${Date.now()}.json`);
    writeFileSync(
      file,
      JSON.stringify({ vip: { signName: 'VIP签名', templateCode: 'SMS_VIP', templateVariable: 'otp', codeLength: 6, sendLimits: '2/1h' } }),
    );
    await start({ CHANNELS_FILE: file });
    expect((await send(PHONE, 'vip')).status).toBe(201);
    expect((await send(PHONE, 'vip')).status).toBe(201);
    expect((await send(PHONE, 'vip')).status).toBe(429);
    const request = fake.sends()[1];
    expect(request?.query).toMatchObject({ SignName: 'VIP签名', TemplateCode: 'SMS_VIP', TemplateParam: expect.stringMatching(/^\{"otp":"[0-9]{6}"\}$/) });
    expect((await check(codeIn(request), PHONE, 'vip')).status).toBe(200);
    // Other channels keep the defaults.
    expect((await send(PHONE, 'login')).status).toBe(201);
    expect(fake.sends()[2]?.query).toMatchObject({ SignName: SIGN, TemplateCode: TEMPLATE, TemplateParam: expect.stringMatching(/^\{"code":"[0-9]{4}"\}$/) });
  });
});

describe('Aliyun configuration', () => {
  it('refuses to start with SMS_PROVIDER=aliyun and no sign name or template, naming what is missing', () => {
    expect(() => loadConfig({ SMS_PROVIDER: 'aliyun' })).toThrowError(/ALIYUN_SMS_SIGN_NAME, ALIYUN_SMS_TEMPLATE_CODE is required/);
    expect(() => loadConfig({ SMS_PROVIDER: 'aliyun', ALIYUN_SMS_SIGN_NAME: 'x' })).toThrowError(/ALIYUN_SMS_TEMPLATE_CODE is required/);
  });

  it('refuses half an AccessKey and a malformed endpoint', () => {
    expect(() => loadConfig({ ALIBABA_CLOUD_ACCESS_KEY_ID: 'id' })).toThrowError(/ALIBABA_CLOUD_ACCESS_KEY_SECRET/);
    expect(() => loadConfig({ ALIYUN_SMS_ENDPOINT: 'dysmsapi.aliyuncs.com' })).toThrowError(/ALIYUN_SMS_ENDPOINT/);
    expect(() => loadConfig({ ALIYUN_SMS_TIMEOUT_MS: 'soon' })).toThrowError(/ALIYUN_SMS_TIMEOUT_MS/);
  });

  it('validates CHANNELS_FILE at start-up, naming it', () => {
    const bad = join(tmpdir(), `channels-bad-${process.pid}.json`);
    for (const content of ['{', '{"a b":{}}', '{"vip":{"codeLength":3}}', '{"vip":{"colour":"red"}}', '{"vip":{"sendLimits":"lots"}}']) {
      writeFileSync(bad, content);
      expect(() => loadConfig({ CHANNELS_FILE: bad }), content).toThrowError(ConfigError);
      expect(() => loadConfig({ CHANNELS_FILE: bad }), content).toThrowError(/CHANNELS_FILE/);
    }
    expect(() => loadConfig({ CHANNELS_FILE: '/nonexistent/channels.json' })).toThrowError(/CHANNELS_FILE/);
  });
});

describe('provider circuit breaker', () => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
    fake.reset();
  });

  it('fails sends fast with 503 PROVIDER_UNAVAILABLE after consecutive outages, then probes after the cool-down', async () => {
    t = await buildTestApp('memory', aliyunEnv({ PROVIDER_BREAKER_THRESHOLD: '3', PROVIDER_BREAKER_COOLDOWN_MS: '300', SEND_LIMITS: '1/60s' }), {
      configuredSms: true,
    });
    const send = (i: number) => t.post('/v1/verifications', { phone: `1380000000${i}`, channel: 'login' });
    fake.respondWith({ kind: 'http', status: 503, code: 'ServiceUnavailable' });
    for (let i = 0; i < 3; i++) expect((await send(i)).body.code).toBe('SMS_SEND_FAILED');
    expect(fake.requests).toHaveLength(3);
    // Open: no request reaches the provider, and the answer comes at once.
    const started = Date.now();
    const fast = await send(4);
    expect(Date.now() - started).toBeLessThan(500);
    expect(fast.status).toBe(503);
    expect(fast.body).toMatchObject({ statusCode: 503, code: 'PROVIDER_UNAVAILABLE' });
    expect(fake.requests).toHaveLength(3);
    // Released: the refused send's phone can be sent to at once when the provider is back.
    expect((await t.post('/sms_message/getVerificationCode', { phone: '13800000005', channel: 'login' })).body).toEqual({
      code: 400,
      message: '短信发送失败',
      data: {},
    });
    fake.respondWith({ kind: 'ok' });
    await until(async () => (await send(4)).status === 201, 5_000, 50);
    expect(fake.sends().filter((r) => r.reply?.status === 200).length).toBeGreaterThanOrEqual(1);
    expect((await send(6)).status).toBe(201);
  });

  it('does not open on business errors of single messages', async () => {
    t = await buildTestApp('memory', aliyunEnv({ PROVIDER_BREAKER_THRESHOLD: '2', SEND_LIMITS: '100/1h' }), { configuredSms: true });
    fake.respondWith({ kind: 'business', code: 'isv.MOBILE_NUMBER_ILLEGAL' }, 3);
    for (let i = 0; i < 3; i++) expect((await t.post('/v1/verifications', { phone: `1380000000${i}`, channel: 'x' })).status).toBe(400);
    expect((await t.post('/v1/verifications', { phone: '13800000009', channel: 'x' })).status).toBe(201);
  });
});
