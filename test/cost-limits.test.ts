import { unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeDysmsapi, type RecordedRequest } from '../tools/fake-dysmsapi/fake-dysmsapi.js';
import { aliyunEnv } from './support/aliyun-env.js';
import { buildTestApp, type TestApp } from './support/app.js';
import { STORE_KINDS } from './support/stores.js';

/**
 * Issue 11, the cost limits: notices inside the deployment's budget and their own per-phone windows,
 * verification templates never sent as notices, checks per client IP, and a send whose provider
 * outcome is unknown counted as sent.
 */
const PHONE = '+8613800000000';
const OTHER = '+8613900000000';
const NOTICE = { channel: 'login', templateCode: 'SMS_NOTICE_1', templateParam: { order: '42' } };
const QUIET = { PHONE_SEND_LIMITS: 'off', VERIFY_FAILURE_LIMITS: 'off', SEND_LIMITS: '100/1h' };

describe.each(STORE_KINDS)('notices inside the cost limits on the %s store', (kind) => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });

  const notice = (phone = PHONE, extra: Record<string, unknown> = {}) => t.post('/v1/notifications', { phone, ...NOTICE, ...extra });
  const send = (phone = PHONE, channel = 'login') => t.post('/v1/verifications', { phone, channel });
  const events = async () => (await t.harness.store.audit.page({}, { limit: 500 })).events.map((e) => e.fields);

  it('counts every notice in GLOBAL_SEND_LIMITS: 12 concurrent notices with a budget of 5 send exactly 5', async () => {
    t = await buildTestApp(kind, { ...QUIET, NOTICE_LIMITS: 'off', GLOBAL_SEND_LIMITS: '5/1h' });
    const answers = await Promise.all(Array.from({ length: 12 }, () => notice()));
    expect(answers.filter((a) => a.status === 201)).toHaveLength(5);
    const refused = answers.filter((a) => a.status === 429);
    expect(refused).toHaveLength(7);
    for (const answer of refused) {
      expect(answer.body).toMatchObject({ code: 'GLOBAL_RATE_LIMITED', limit: 'global:5/1h', retryAfter: expect.any(Number) });
      expect(Number(answer.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
    expect(t.sms.messages).toHaveLength(5);
    const limited = (await events()).filter((e) => e.event === 'notice.rate_limited');
    expect(limited).toHaveLength(7);
    expect(limited.every((e) => e.reason === 'global:5/1h')).toBe(true);
  });

  it('shares one deployment budget between codes and notices', async () => {
    t = await buildTestApp(kind, { ...QUIET, NOTICE_LIMITS: 'off', GLOBAL_SEND_LIMITS: '4/1h' });
    expect((await send(PHONE)).status).toBe(201);
    expect((await notice(PHONE)).status).toBe(201);
    expect((await send(OTHER)).status).toBe(201);
    expect((await notice(OTHER)).status).toBe(201);
    expect((await notice('+8613700000000')).body.code).toBe('GLOBAL_RATE_LIMITED');
    expect((await send('+8613700000000')).body.code).toBe('GLOBAL_RATE_LIMITED');
    expect(t.sms.messages).toHaveLength(4);
  });

  it('counts notices per client IP in IP_SEND_LIMITS', async () => {
    t = await buildTestApp(kind, { ...QUIET, NOTICE_LIMITS: 'off', IP_SEND_LIMITS: '2/1h' });
    expect((await notice(PHONE)).status).toBe(201);
    expect((await send(OTHER)).status).toBe(201);
    const refused = await notice('+8613700000000');
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ code: 'IP_RATE_LIMITED', limit: 'ip:2/1h' });
  });

  it('limits notices per phone with NOTICE_LIMITS, apart from the code limits in both directions', async () => {
    t = await buildTestApp(kind, { PHONE_SEND_LIMITS: '2/1h', SEND_LIMITS: '2/1h', VERIFY_FAILURE_LIMITS: 'off', NOTICE_LIMITS: '3/1h' });
    for (let i = 0; i < 3; i++) expect((await notice(PHONE)).status).toBe(201);
    const refused = await notice(PHONE);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ code: 'NOTICE_RATE_LIMITED', limit: 'notice:3/1h', retryAfter: expect.any(Number) });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(3500);
    // Notices never count in SEND_LIMITS or PHONE_SEND_LIMITS…
    expect((await send(PHONE)).status).toBe(201);
    expect((await send(PHONE, 'other')).status).toBe(201);
    // …and codes never in NOTICE_LIMITS: another phone's notices are untouched by its code sends.
    expect((await send(OTHER)).status).toBe(201);
    expect((await send(OTHER)).status).toBe(201);
    for (let i = 0; i < 3; i++) expect((await notice(OTHER)).status).toBe(201);
    const limited = (await events()).filter((e) => e.event === 'notice.rate_limited');
    expect(limited).toEqual([expect.objectContaining({ reason: 'notice:3/1h', phone: PHONE })]);
  });

  it('applies the default NOTICE_LIMITS (10/1h) when unset', async () => {
    t = await buildTestApp(kind, QUIET);
    const answers = [];
    for (let i = 0; i < 11; i++) answers.push(await notice(PHONE));
    expect(answers.slice(0, 10).every((a) => a.status === 201)).toBe(true);
    expect(answers[10]?.body).toMatchObject({ code: 'NOTICE_RATE_LIMITED', limit: 'notice:10/1h' });
  });

  it('never overshoots NOTICE_LIMITS under 20 concurrent notices to one phone', async () => {
    t = await buildTestApp(kind, { ...QUIET, NOTICE_LIMITS: '3/1h' });
    const answers = await Promise.all(Array.from({ length: 20 }, () => notice(PHONE)));
    expect(answers.filter((a) => a.status === 201)).toHaveLength(3);
    expect(answers.filter((a) => a.body.code === 'NOTICE_RATE_LIMITED')).toHaveLength(17);
    expect(t.sms.messages).toHaveLength(3);
  });

  it('releases a notice the provider refused: it counts nowhere', async () => {
    t = await buildTestApp(kind, { ...QUIET, NOTICE_LIMITS: '1/1h', GLOBAL_SEND_LIMITS: '1/1h' });
    t.sms.failNext();
    expect((await notice(PHONE)).status).toBe(502);
    expect((await notice(PHONE)).status).toBe(201);
    expect((await notice(PHONE)).body.code).toBe('NOTICE_RATE_LIMITED');
  });

  it('answers a refused legacy sendNotice in the seed style, with the code-send sentences', async () => {
    t = await buildTestApp(kind, { ...QUIET, NOTICE_LIMITS: '2/1h,5/1d' });
    const legacyNotice = () =>
      t.post('/sms_message/sendNotice', { phone: PHONE, channel: 'login', template_code: 'SMS_NOTICE_1', template_param: '{"order":"1"}' });
    expect((await legacyNotice()).body).toMatchObject({ code: 200 });
    expect((await legacyNotice()).body).toMatchObject({ code: 200 });
    expect((await legacyNotice()).body).toEqual({ code: 401, message: '短信1小时之内已经发送过2条,超出上限,请稍后再试', data: {} });
    await t.close();
    t = await buildTestApp(kind, { ...QUIET, NOTICE_LIMITS: 'off', GLOBAL_SEND_LIMITS: '1/1h' });
    expect((await legacyNotice()).body).toMatchObject({ code: 200 });
    expect((await legacyNotice()).body).toEqual({ code: 429, message: '短信发送量已达上限,请稍后再试', data: {} });
  });

  it('refuses to send a verification template as a notice, v1 and legacy', async () => {
    t = await buildTestApp(kind, { ...QUIET, ALIYUN_SMS_TEMPLATE_CODE: 'SMS_CODE_1' });
    const v1 = await notice(PHONE, { templateCode: 'SMS_CODE_1', templateParam: { code: '1234' } });
    expect(v1.status).toBe(400);
    expect(v1.body.code).toBe('TEMPLATE_NOT_ALLOWED');
    const legacy = await t.post('/sms_message/sendNotice', { phone: PHONE, channel: 'login', template_code: 'SMS_CODE_1', template_param: '{"code":"1234"}' });
    expect(legacy.body).toEqual({ code: 400, message: '参数错误: template_code', data: {} });
    expect(t.sms.messages).toHaveLength(0);
    expect((await notice(PHONE)).status).toBe(201);
  });

  it('allows only NOTICE_TEMPLATES as notices when it is set', async () => {
    t = await buildTestApp(kind, { ...QUIET, NOTICE_TEMPLATES: 'SMS_NOTICE_1, SMS_NOTICE_2' });
    expect((await notice(PHONE)).status).toBe(201);
    expect((await notice(PHONE, { templateCode: 'SMS_NOTICE_2' })).status).toBe(201);
    const other = await notice(PHONE, { templateCode: 'SMS_NOTICE_3' });
    expect(other.status).toBe(400);
    expect(other.body.code).toBe('TEMPLATE_NOT_ALLOWED');
  });
});

describe.each(STORE_KINDS)('IP_CHECK_LIMITS on the %s store', (kind) => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });
  const check = (code: string, phone = PHONE, remoteAddress = '203.0.113.7') =>
    t.app
      .inject({ method: 'POST', url: '/v1/verifications/check', payload: { phone, channel: 'login', code }, remoteAddress })
      .then((r) => ({ status: r.statusCode, body: r.json(), retryAfter: r.headers['retry-after'] }));

  it('is off by default', async () => {
    t = await buildTestApp(kind, QUIET);
    for (let i = 0; i < 30; i++) expect((await check('0000', `+861380000${String(i).padStart(4, '0')}`)).status).toBe(404);
  });

  it('counts every check per client IP, whatever its outcome, and refuses with 429 CHECK_RATE_LIMITED + Retry-After', async () => {
    t = await buildTestApp(kind, { ...QUIET, IP_CHECK_LIMITS: '3/1h' });
    await t.post('/v1/verifications', { phone: PHONE, channel: 'login' });
    const code = t.sms.lastCode(PHONE);
    expect((await check('0000', OTHER)).status).toBe(404);
    expect((await check('0000')).status).toBe(422);
    expect((await check(code)).status).toBe(200);
    const refused = await check(code);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ code: 'CHECK_RATE_LIMITED', retryAfter: expect.any(Number) });
    expect(Number(refused.retryAfter)).toBeGreaterThan(3500);
    // Another address has its own bucket; malformed requests answer 400 before any limit.
    expect((await check(code, PHONE, '198.51.100.9')).status).toBe(409);
    expect((await check('12', PHONE)).status).toBe(400);
    const legacy = await t.app.inject({
      method: 'POST',
      url: '/sms_message/verify_code',
      payload: { phone: PHONE, channel: 'login', code },
      remoteAddress: '203.0.113.7',
    });
    expect(legacy.json()).toEqual({ code: 429, message: '请求过于频繁,请稍后再试', data: {} });
  });
});

describe.each(STORE_KINDS)('IP_CHECK_LIMITS buckets on the %s store', (kind) => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });
  const check = (remoteAddress: string) =>
    t.app
      .inject({ method: 'POST', url: '/v1/verifications/check', payload: { phone: PHONE, channel: 'login', code: '0000' }, remoteAddress })
      .then((r) => r.statusCode);

  it('counts an IPv6 /64 as one client and an IPv4-mapped address as its IPv4 address, like IP_SEND_LIMITS', async () => {
    t = await buildTestApp(kind, { ...QUIET, IP_CHECK_LIMITS: '2/1h' });
    expect(await check('2001:db8:1:2::1')).toBe(404);
    expect(await check('2001:db8:1:2:ffff::9')).toBe(404);
    expect(await check('2001:db8:1:2:abcd::1')).toBe(429);
    expect(await check('2001:db8:1:3::1')).toBe(404);
    expect(await check('203.0.113.7')).toBe(404);
    expect(await check('::ffff:203.0.113.7')).toBe(404);
    expect(await check('203.0.113.7')).toBe(429);
  });
});

describe.each(STORE_KINDS)('a send whose provider outcome is unknown, on the %s store', (kind) => {
  let fake: FakeDysmsapi;
  let t: TestApp;
  beforeAll(async () => {
    fake = await FakeDysmsapi.start();
  });
  afterAll(async () => {
    await fake.close();
  });
  afterEach(async () => {
    await t?.close();
    fake.reset();
  });

  /** The Aliyun provider against `endpoint`, with a short provider timeout and a one-a-minute resend window. */
  const aliyun = (endpoint: string) =>
    aliyunEnv(endpoint, { ALIYUN_SMS_TIMEOUT_MS: '300', SEND_LIMITS: '1/60s,5/1h', PHONE_SEND_LIMITS: 'off' });
  const codeIn = (request: RecordedRequest | undefined): string =>
    Object.values(JSON.parse(request?.query.TemplateParam ?? '{}') as Record<string, string>)[0] as string;

  it('costs one SendSms per window however often a client retries a hanging provider, and its code verifies', async () => {
    t = await buildTestApp(kind, aliyun(fake.url), { configuredSms: true });
    fake.respondWith({ kind: 'hang' });
    const first = await t.post('/v1/verifications', { phone: PHONE, channel: 'login' });
    expect(first.status).toBe(502);
    expect(first.body).toMatchObject({ code: 'SMS_SEND_UNCONFIRMED', limit: 'channel:1/60s', retryAfter: expect.any(Number) });
    expect(Number(first.headers['retry-after'])).toBeGreaterThan(50);
    for (let i = 0; i < 6; i++) {
      const retry = await t.post('/v1/verifications', { phone: PHONE, channel: 'login' });
      expect(retry.status).toBe(429);
      expect(retry.body.code).toBe('RATE_LIMITED');
    }
    expect(fake.sends()).toHaveLength(1);
    // The person may have received it: the code is current.
    const check = await t.post('/v1/verifications/check', { phone: PHONE, channel: 'login', code: codeIn(fake.sends()[0]) });
    expect(check.status).toBe(200);
    const events = (await t.harness.store.audit.page({}, { limit: 50 })).events.map((e) => e.fields);
    expect(events.filter((e) => e.event === 'code.send_unconfirmed')).toEqual([
      expect.objectContaining({ reason: 'Timeout', phone: PHONE, provider: 'aliyun' }),
    ]);
    expect(events.some((e) => e.event === 'code.send_failed')).toBe(false);
  });

  it('answers a legacy send with an unknown outcome as the seed did (400 短信发送失败), still counting it', async () => {
    t = await buildTestApp(kind, aliyun(fake.url), { configuredSms: true });
    fake.respondWith({ kind: 'reset' });
    const legacySend = () => t.post('/sms_message/getVerificationCode', { phone: PHONE, channel: 'login' });
    expect((await legacySend()).body).toEqual({ code: 400, message: '短信发送失败', data: {} });
    expect((await legacySend()).body.code).toBe(401);
    expect(fake.sends()).toHaveLength(1);
  });

  it('releases a send that provably did not leave (connection refused): the retry goes out', async () => {
    t = await buildTestApp(kind, aliyun('http://127.0.0.1:9'), { configuredSms: true });
    const first = await t.post('/v1/verifications', { phone: PHONE, channel: 'login' });
    expect(first.status).toBe(502);
    expect(first.body.code).toBe('SMS_SEND_FAILED');
    const second = await t.post('/v1/verifications', { phone: PHONE, channel: 'login' });
    expect(second.body.code).toBe('SMS_SEND_FAILED');
  });
});

describe('verification templates are never notices, whichever channel they belong to', () => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });

  it('refuses every channel template of CHANNELS_FILE and the log provider default, v1 and legacy', async () => {
    const file = join(tmpdir(), `channels-notice-${process.pid}-${Date.now()}.json`);
    writeFileSync(file, JSON.stringify({ vip: { templateCode: 'SMS_200' } }));
    try {
      t = await buildTestApp('memory', { ...QUIET, CHANNELS_FILE: file });
      for (const templateCode of ['SMS_200', 'verification-code']) {
        const v1 = await t.post('/v1/notifications', { phone: PHONE, channel: 'login', templateCode });
        expect(v1.status, templateCode).toBe(400);
        expect(v1.body.code).toBe('TEMPLATE_NOT_ALLOWED');
        const legacy = await t.post('/sms_message/sendNotice', { phone: PHONE, channel: 'vip', template_code: templateCode });
        expect(legacy.body).toEqual({ code: 400, message: '参数错误: template_code', data: {} });
      }
      expect(t.sms.messages).toHaveLength(0);
      const events = (await t.harness.store.audit.page({}, { limit: 50 })).events;
      expect(events).toHaveLength(0);
    } finally {
      unlinkSync(file);
    }
  });
});
