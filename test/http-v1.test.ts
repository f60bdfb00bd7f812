import { afterEach, describe, expect, it } from 'vitest';
import { STORE_KINDS } from './support/stores.js';
import { buildTestApp, type TestApp } from './support/app.js';
import { brokenStore } from './support/broken-store.js';

const PHONE = '+8613800000000';

describe.each(STORE_KINDS)('v1 API on the %s store', (kind) => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });

  const send = (phone: string = PHONE, channel = 'login') => t.post('/v1/verifications', { phone, channel });
  const check = (code: string, phone: string = PHONE, channel = 'login') =>
    t.post('/v1/verifications/check', { phone, channel, code });

  it('sends a code: 201 with E.164 phone, channel and expiry, and no code unless exposed', async () => {
    t = await buildTestApp(kind);
    const before = Date.now();
    const res = await send('13800000000');
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      phone: PHONE,
      channel: 'login',
      expiresAt: expect.any(String),
      // Issue 12: the verification resource's id, status and resend time.
      id: expect.any(String),
      status: 'pending',
      resendAvailableAt: expect.any(String),
    });
    if (kind === 'redis') {
      const expires = Date.parse(res.body.expiresAt);
      expect(expires - before).toBeGreaterThan(299_000);
      expect(expires - before).toBeLessThan(301_000);
    }
    const sent = t.sms.messages[0];
    expect(sent?.phone.aliyun).toBe('13800000000');
    expect(sent?.templateParam.code).toMatch(/^[0-9]{4}$/);
  });

  it('returns the code only with EXPOSE_CODE=true, at CODE_LENGTH digits', async () => {
    t = await buildTestApp(kind, { EXPOSE_CODE: 'true', CODE_LENGTH: '8' });
    const res = await send();
    expect(res.body.code).toMatch(/^[0-9]{8}$/);
    expect(res.body.code).toBe(t.sms.lastCode(PHONE));
  });

  it('approves the right code once; then already used', async () => {
    t = await buildTestApp(kind);
    await send();
    const code = t.sms.lastCode(PHONE);
    expect(await check(code)).toMatchObject({ status: 200, body: { status: 'approved' } });
    const again = await check(code);
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ statusCode: 409, code: 'OTP_ALREADY_USED', error: 'Conflict' });
  });

  it('answers 404 OTP_NOT_FOUND when no code was sent', async () => {
    t = await buildTestApp(kind);
    const res = await check('1234');
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('OTP_NOT_FOUND');
  });

  it('answers 422 OTP_MISMATCH with attemptsRemaining, then 429 OTP_TOO_MANY_ATTEMPTS even for the right code', async () => {
    t = await buildTestApp(kind, { MAX_VERIFY_ATTEMPTS: '2' });
    await send();
    const code = t.sms.lastCode(PHONE);
    const wrong = code === '0000' ? '1111' : '0000';
    const first = await check(wrong);
    expect(first.status).toBe(422);
    expect(first.body).toMatchObject({ code: 'OTP_MISMATCH', attemptsRemaining: 1 });
    expect((await check(wrong)).body).toMatchObject({ code: 'OTP_MISMATCH', attemptsRemaining: 0 });
    const locked = await check(code);
    expect(locked.status).toBe(429);
    expect(locked.body.code).toBe('OTP_TOO_MANY_ATTEMPTS');
  });

  it('answers 410 OTP_EXPIRED after the TTL', async () => {
    t = await buildTestApp(kind, { CODE_TTL_SECONDS: '1', SEND_LIMITS: '5/1h' });
    await send();
    const code = t.sms.lastCode(PHONE);
    await t.harness.advance(1000);
    const res = await check(code);
    expect(res.status).toBe(410);
    expect(res.body.code).toBe('OTP_EXPIRED');
  });

  it('refuses a second send inside 60 s with 429 RATE_LIMITED and a Retry-After header', async () => {
    t = await buildTestApp(kind);
    expect((await send()).status).toBe(201);
    const res = await send();
    expect(res.status).toBe(429);
    expect(res.body).toMatchObject({ statusCode: 429, code: 'RATE_LIMITED', error: 'Too Many Requests' });
    const retryAfter = Number(res.headers['retry-after']);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(59);
    expect(retryAfter).toBeLessThanOrEqual(60);
  });

  it('limits per (channel, phone): another channel or phone is not limited', async () => {
    t = await buildTestApp(kind);
    expect((await send()).status).toBe(201);
    expect((await send(PHONE, 'reset')).status).toBe(201);
    expect((await send('+8613900000000')).status).toBe(201);
  });

  it('normalizes every form of one phone to the same codes and limits', async () => {
    t = await buildTestApp(kind);
    expect((await send('+86 138-0000-0000')).status).toBe(201);
    for (const form of ['13800000000', '8613800000000', '008613800000000']) {
      expect((await send(form)).status, form).toBe(429);
    }
    expect((await check(t.sms.lastCode(PHONE), '008613800000000')).status).toBe(200);
  });

  it('accepts international numbers as +852…, 00852… and 852…', async () => {
    t = await buildTestApp(kind);
    const res = await send('+852 6123 4567');
    expect(res.body.phone).toBe('+85261234567');
    expect(t.sms.messages[0]?.phone.aliyun).toBe('85261234567');
    expect((await send('0085261234567')).status).toBe(429);
    expect((await send('85261234567')).status).toBe(429);
    expect((await check(t.sms.lastCode('+85261234567'), '85261234567')).status).toBe(200);
  });

  it('refuses non-mobile and invalid numbers with 400 INVALID_PHONE', async () => {
    t = await buildTestApp(kind);
    for (const phone of ['01012345678', '12345', '１３８００１３８０００', '+86 138 0000 000x']) {
      const res = await send(phone);
      expect(res.status, phone).toBe(400);
      expect(res.body.code, phone).toBe('INVALID_PHONE');
    }
    expect(t.sms.messages).toHaveLength(0);
  });

  it('refuses malformed bodies with 400 FST_ERR_VALIDATION', async () => {
    t = await buildTestApp(kind);
    const bodies = [
      {},
      { phone: PHONE },
      { phone: PHONE, channel: 'a{b}' },
      { phone: PHONE, channel: 'a:b' },
      { phone: PHONE, channel: 'x'.repeat(65) },
      { phone: PHONE, channel: '' },
      { phone: 13800000000, channel: 'login' },
      { phone: PHONE, channel: 'login', extra: 1 },
    ];
    for (const body of bodies) {
      const res = await t.post('/v1/verifications', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body).toMatchObject({ statusCode: 400, code: 'FST_ERR_VALIDATION', error: 'Bad Request' });
    }
  });

  it('refuses a code that is not CODE_LENGTH ASCII digits without counting an attempt', async () => {
    t = await buildTestApp(kind, { MAX_VERIFY_ATTEMPTS: '1' });
    await send();
    for (const code of ['123', '12345', '１２３４', '١٢٣٤', 'abcd']) {
      expect((await check(code)).status, code).toBe(400);
    }
    expect((await check(t.sms.lastCode(PHONE))).status).toBe(200);
  });

  it('answers 502 SMS_SEND_FAILED when the provider fails, releasing the reservation and keeping the old code', async () => {
    t = await buildTestApp(kind, { SEND_LIMITS: '1/300ms' });
    await send();
    const oldCode = t.sms.lastCode(PHONE);
    await t.harness.advance(300);
    t.sms.failNext();
    const failed = await send();
    expect(failed.status).toBe(502);
    expect(failed.body).toEqual({
      statusCode: 502,
      code: 'SMS_SEND_FAILED',
      error: 'Bad Gateway',
      message: 'The SMS could not be sent',
    });
    const failedCode = t.sms.lastCode(PHONE);
    if (failedCode !== oldCode) expect((await check(failedCode)).status).toBe(422);
    expect((await check(oldCode)).status).toBe(200);
    expect((await send()).status).toBe(201);
  });

  it('does not count a failed send and leaves no valid code from it', async () => {
    t = await buildTestApp(kind, { SEND_LIMITS: '1/60s' });
    t.sms.failNext();
    expect((await send()).status).toBe(502);
    const failedCode = t.sms.lastCode(PHONE);
    expect((await check(failedCode)).status).toBe(404);
    expect((await send()).status).toBe(201);
  });

  it('maps provider refusals: invalid number → 400 INVALID_PHONE, provider limit → 429 PROVIDER_RATE_LIMITED', async () => {
    t = await buildTestApp(kind, { SEND_LIMITS: '5/1h' });
    t.sms.failNext('invalid_phone', 'isv.MOBILE_NUMBER_ILLEGAL');
    const invalid = await send();
    expect(invalid.status).toBe(400);
    expect(invalid.body.code).toBe('INVALID_PHONE');
    t.sms.failNext('rate_limited', 'isv.BUSINESS_LIMIT_CONTROL');
    const limited = await send();
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe('PROVIDER_RATE_LIMITED');
    expect(JSON.stringify([invalid.body, limited.body])).not.toMatch(/isv\.|provider said no|R1/);
  });

  it('never leaks a provider exception to the client', async () => {
    t = await buildTestApp(kind);
    t.sms.throwNext();
    const res = await send();
    expect(res.status).toBe(502);
    expect(JSON.stringify(res.body)).not.toMatch(/exploded|secret|stack|at /);
  });

  it('of 30 concurrent sends to one phone accepts exactly one', async () => {
    t = await buildTestApp(kind);
    const results = await Promise.all(Array.from({ length: 30 }, () => send()));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 429)).toHaveLength(29);
  });

  it('of 30 concurrent checks with the right code approves exactly one; the rest are already used', async () => {
    t = await buildTestApp(kind);
    await send();
    const code = t.sms.lastCode(PHONE);
    const results = await Promise.all(Array.from({ length: 30 }, () => check(code)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(29);
  });

  it('sends notifications without touching codes or send limits', async () => {
    t = await buildTestApp(kind);
    await send();
    const code = t.sms.lastCode(PHONE);
    for (let i = 0; i < 3; i++) {
      const res = await t.post('/v1/notifications', {
        phone: PHONE,
        channel: 'login',
        templateCode: 'SMS_123',
        templateParam: { name: '张三', order: '42' },
      });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ phone: PHONE, channel: 'login', templateCode: 'SMS_123', bizId: expect.any(String) });
    }
    expect(t.sms.messages.at(-1)).toMatchObject({ templateCode: 'SMS_123', templateParam: { name: '张三', order: '42' } });
    expect((await check(code)).status).toBe(200);
    expect((await send(PHONE, 'other')).status).toBe(201);
  });

  it('answers 400 for a bad notification and 502 when it cannot be sent', async () => {
    t = await buildTestApp(kind);
    const bad = await t.post('/v1/notifications', { phone: PHONE, channel: 'login', templateCode: 'SMS_1', templateParam: { n: 5 } });
    expect(bad.status).toBe(400);
    t.sms.failNext();
    const failed = await t.post('/v1/notifications', { phone: PHONE, channel: 'login', templateCode: 'SMS_1' });
    expect(failed.status).toBe(502);
    expect(failed.body.code).toBe('SMS_SEND_FAILED');
  });

  it('reports health and readiness', async () => {
    t = await buildTestApp(kind);
    expect((await t.app.inject({ url: '/healthz' })).statusCode).toBe(200);
    const ready = await t.app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready' });
  });
});

describe('v1 API when the store is unavailable', () => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });

  it('answers 503 STORE_UNAVAILABLE with no internal detail, and /readyz 503', async () => {
    t = await buildTestApp('memory', {}, { store: brokenStore() });
    for (const [url, body] of [
      ['/v1/verifications', { phone: PHONE, channel: 'login' }],
      ['/v1/verifications/check', { phone: PHONE, channel: 'login', code: '1234' }],
    ] as const) {
      const res = await t.post(url, body);
      expect(res.status).toBe(503);
      expect(res.body).toEqual({
        statusCode: 503,
        code: 'STORE_UNAVAILABLE',
        error: 'Service Unavailable',
        message: 'The service is temporarily unavailable; retry shortly',
      });
    }
    expect((await t.app.inject({ url: '/readyz' })).statusCode).toBe(503);
    expect((await t.app.inject({ url: '/healthz' })).statusCode).toBe(200);
  });
});
