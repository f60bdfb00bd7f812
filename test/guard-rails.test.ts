import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { buildTestApp, type TestApp } from './support/app.js';
import { STORE_KINDS } from './support/stores.js';

const SHOP_TOKEN = 'shop-token-0123456789abcdef';
const CRM_TOKEN = 'crm-token-fedcba9876543210';
const PHONE = '+8613800000000';

describe('caller authentication', () => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });

  async function call(method: 'GET' | 'POST', url: string, token?: string, payload?: object) {
    const res = await t.app.inject({
      method,
      url,
      ...(payload ? { payload } : {}),
      headers: token === undefined ? {} : { authorization: token },
    });
    return { status: res.statusCode, body: res.json(), headers: res.headers };
  }

  const sendBody = { phone: PHONE, channel: 'login' };

  it('is off without API_KEYS: every route answers without a token', async () => {
    t = await buildTestApp('memory');
    expect((await call('POST', '/v1/verifications', undefined, sendBody)).status).toBe(201);
  });

  it('requires a valid bearer token on v1 and legacy routes, with the same 401 for every failure', async () => {
    t = await buildTestApp('memory', { API_KEYS: `shop:${SHOP_TOKEN},crm:${CRM_TOKEN}` });
    const unauthorized = { statusCode: 401, code: 'UNAUTHORIZED', error: 'Unauthorized', message: 'Authentication required' };
    for (const token of [undefined, '', SHOP_TOKEN, `Bearer ${SHOP_TOKEN}x`, `Bearer ${SHOP_TOKEN.slice(0, -1)}`, 'Basic abc', `bearer ${SHOP_TOKEN}`]) {
      for (const url of ['/v1/verifications', '/sms_message/getVerificationCode']) {
        const res = await call('POST', url, token, sendBody);
        expect(res.status, `${url} ${token}`).toBe(401);
        expect(res.body).toEqual(unauthorized);
        expect(res.headers['www-authenticate']).toBe('Bearer');
      }
    }
    expect(t.sms.messages).toHaveLength(0);
    expect((await call('POST', '/v1/verifications', `Bearer ${SHOP_TOKEN}`, sendBody)).status).toBe(201);
    const legacy = await call('POST', '/sms_message/getVerificationCode', `Bearer ${CRM_TOKEN}`, { phone: PHONE, channel: 'other' });
    expect(legacy.body).toEqual({ code: 200, message: '请求成功!', data: {} });
    expect((await call('GET', '/v1/audit', undefined)).status).toBe(401);
  });

  it('protects /metrics and /docs with the same keys unless PROTECT_OPS_ROUTES=false', async () => {
    const file = join(tmpdir(), `keys-ops-${process.pid}-${Date.now()}.json`);
    writeFileSync(file, JSON.stringify([{ name: 'shop', token: SHOP_TOKEN, channels: ['login'] }]));
    t = await buildTestApp('memory', { API_KEYS_FILE: file });
    for (const url of ['/metrics', '/docs/json']) {
      expect((await t.app.inject({ url })).statusCode, url).toBe(401);
      // A key limited to some channels still reads the ops routes: they belong to no channel.
      expect((await t.app.inject({ url, headers: { authorization: `Bearer ${SHOP_TOKEN}` } })).statusCode, url).toBe(200);
    }
    await t.close();
    t = await buildTestApp('memory', { API_KEYS: `shop:${SHOP_TOKEN}`, PROTECT_OPS_ROUTES: 'false' });
    expect((await t.app.inject({ url: '/metrics' })).statusCode).toBe(200);
    expect((await call('POST', '/v1/verifications', undefined, sendBody)).status).toBe(401);
  });

  it('keeps /healthz and /readyz open', async () => {
    t = await buildTestApp('memory', { API_KEYS: `shop:${SHOP_TOKEN}` });
    expect((await call('GET', '/healthz')).status).toBe(200);
    expect((await call('GET', '/readyz')).status).toBe(200);
  });

  it('refuses a key outside its channels with 403, on every API', async () => {
    const file = join(tmpdir(), `keys-${process.pid}-${Date.now()}.json`);
    // shop also reads the audit trail (its own channel's): the audit needs the `audit` scope.
    writeFileSync(
      file,
      JSON.stringify([
        { name: 'shop', token: SHOP_TOKEN, channels: ['login'], scopes: ['verify', 'notify', 'audit'] },
        { name: 'crm', token: CRM_TOKEN },
      ]),
    );
    t = await buildTestApp('memory', { API_KEYS_FILE: file });
    const shop = `Bearer ${SHOP_TOKEN}`;
    const forbidden = { statusCode: 403, code: 'FORBIDDEN', error: 'Forbidden', message: 'Forbidden' };
    expect((await call('POST', '/v1/verifications', shop, { phone: PHONE, channel: 'login' })).status).toBe(201);
    expect(await call('POST', '/v1/verifications', shop, { phone: PHONE, channel: 'reset' })).toMatchObject({ status: 403, body: forbidden });
    expect(await call('POST', '/sms_message/sendNotice', shop, { phone: PHONE, channel: 'reset', template_code: 'SMS_1' })).toMatchObject({
      status: 403,
      body: forbidden,
    });
    expect((await call('POST', '/v1/verifications/check', shop, { phone: PHONE, channel: 'x', code: '1234' })).status).toBe(403);
    expect((await call('GET', '/v1/audit', shop)).status).toBe(403);
    expect((await call('GET', '/v1/audit?channel=login', shop)).status).toBe(200);
    expect((await call('POST', '/v1/verifications', `Bearer ${CRM_TOKEN}`, { phone: PHONE, channel: 'reset' })).status).toBe(201);
  });

  it("records the caller's key name in every audit event", async () => {
    t = await buildTestApp('memory', { API_KEYS: `shop:${SHOP_TOKEN}` });
    await call('POST', '/v1/verifications', `Bearer ${SHOP_TOKEN}`, sendBody);
    await call('POST', '/v1/verifications', `Bearer ${SHOP_TOKEN}`, sendBody);
    await call('POST', '/sms_message/verify_code', `Bearer ${SHOP_TOKEN}`, { ...sendBody, code: '0000' });
    const events = (await t.harness.store.audit.page({}, { limit: 10 })).events;
    expect(events.map((e) => e.fields.event)).toEqual(['code.sent', 'code.rate_limited', 'code.rejected']);
    expect(events.every((e) => e.fields.caller === 'shop')).toBe(true);
  });

  it('refuses to start in production without keys unless ALLOW_UNAUTHENTICATED=true', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrowError(ConfigError);
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrowError(/API_KEYS .*ALLOW_UNAUTHENTICATED/);
    // The other settings production requires (code secret, explicit cost choices), so only the keys are at stake.
    const required = { CODE_SECRET: 'c'.repeat(32), ALLOWED_COUNTRIES: '*', GLOBAL_SEND_LIMITS: 'off' };
    expect(loadConfig({ NODE_ENV: 'production', ALLOW_UNAUTHENTICATED: 'true', ...required }).apiKeys).toEqual([]);
    expect(loadConfig({ NODE_ENV: 'production', API_KEYS: `shop:${SHOP_TOKEN}`, ...required }).apiKeys).toHaveLength(1);
  });

  it('validates keys without echoing tokens', () => {
    for (const value of ['shop', 'shop:short', `:${SHOP_TOKEN}`, `a b:${SHOP_TOKEN}`, `shop:${SHOP_TOKEN},shop:${CRM_TOKEN}`]) {
      try {
        loadConfig({ API_KEYS: value });
        throw new Error(`accepted ${value}`);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as Error).message).not.toContain(SHOP_TOKEN);
      }
    }
    expect(() => loadConfig({ API_KEYS: `a:${SHOP_TOKEN}`, API_KEYS_FILE: '/x' })).toThrowError(/mutually exclusive/);
  });
});

describe.each(STORE_KINDS)('abuse limits on the %s store', (kind) => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });

  const OFF = { PHONE_SEND_LIMITS: 'off', VERIFY_FAILURE_LIMITS: 'off', SEND_LIMITS: '100/1h' };
  const send = (phone: string, channel = 'login', headers: Record<string, string> = {}) =>
    t.app.inject({ method: 'POST', url: '/v1/verifications', payload: { phone, channel }, headers }).then((r) => ({
      status: r.statusCode,
      body: r.json(),
      retryAfter: r.headers['retry-after'],
    }));

  it('PHONE_SEND_LIMITS counts a phone across channels, refusing at the exact count until the window frees', async () => {
    t = await buildTestApp(kind, { ...OFF, PHONE_SEND_LIMITS: '3/1s' });
    for (const channel of ['a', 'b', 'c']) expect((await send(PHONE, channel)).status).toBe(201);
    const refused = await send(PHONE, 'd');
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ code: 'PHONE_RATE_LIMITED', limit: 'phone:3/1s' });
    expect(refused.retryAfter).toBe('1');
    expect((await send('+8613900000000', 'd')).status).toBe(201);
    const legacy = await t.post('/sms_message/getVerificationCode', { phone: PHONE, channel: 'e' });
    expect(legacy.body).toEqual({ code: 403, message: '该手机号1秒之内已经接收过3条短信,超出上限,请稍后再试', data: {} });
    await t.harness.advance(1000);
    expect((await send(PHONE, 'd')).status).toBe(201);
  });

  it('IP_SEND_LIMITS counts a client IP across phones', async () => {
    t = await buildTestApp(kind, { ...OFF, IP_SEND_LIMITS: '2/1s' });
    expect((await send('+8613800000001')).status).toBe(201);
    expect((await send('+8613800000002')).status).toBe(201);
    const refused = await send('+8613800000003');
    expect(refused.status).toBe(429);
    expect(refused.body.code).toBe('IP_RATE_LIMITED');
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    expect((await t.post('/sms_message/getVerificationCode', { phone: '+8613800000004', channel: 'x' })).body).toEqual({
      code: 429,
      message: '请求过于频繁,请稍后再试',
      data: {},
    });
    await t.harness.advance(1000);
    expect((await send('+8613800000003')).status).toBe(201);
  });

  it('GLOBAL_SEND_LIMITS caps the whole deployment', async () => {
    t = await buildTestApp(kind, { ...OFF, GLOBAL_SEND_LIMITS: '3/1s', TRUST_PROXY: 'true' });
    for (let i = 1; i <= 3; i++) expect((await send(`+861380000000${i}`, 'x', { 'x-forwarded-for': `203.0.113.${i}` })).status).toBe(201);
    const refused = await send('+8613800000009', 'y', { 'x-forwarded-for': '203.0.113.9' });
    expect(refused.status).toBe(429);
    expect(refused.body.code).toBe('GLOBAL_RATE_LIMITED');
    await t.harness.advance(1000);
    expect((await send('+8613800000009', 'y')).status).toBe(201);
  });

  it('refused sends do not count toward any limit', async () => {
    t = await buildTestApp(kind, { ...OFF, SEND_LIMITS: '1/1h', PHONE_SEND_LIMITS: '2/1h' });
    expect((await send(PHONE, 'a')).status).toBe(201);
    for (let i = 0; i < 5; i++) expect((await send(PHONE, 'a')).body.code).toBe('RATE_LIMITED');
    expect((await send(PHONE, 'b')).status).toBe(201);
    expect((await send(PHONE, 'c')).body.code).toBe('PHONE_RATE_LIMITED');
  });

  it('a send refused by the IP or global limit counts nowhere else', async () => {
    t = await buildTestApp(kind, { ...OFF, SEND_LIMITS: '1/1h', IP_SEND_LIMITS: '1/1h', GLOBAL_SEND_LIMITS: '3/1h', TRUST_PROXY: 'true' });
    const from = (ip: string) => ({ 'x-forwarded-for': ip });
    expect((await send('+8613800000001', 'x', from('203.0.113.1'))).status).toBe(201);
    expect((await send('+8613800000002', 'x', from('203.0.113.1'))).body.code).toBe('IP_RATE_LIMITED');
    // Had the refused send kept its (channel, phone) or global reservation, these would be refused.
    expect((await send('+8613800000002', 'x', from('203.0.113.2'))).status).toBe(201);
    expect((await send('+8613800000003', 'x', from('203.0.113.3'))).status).toBe(201);
    expect((await send('+8613800000004', 'x', from('203.0.113.4'))).body.code).toBe('GLOBAL_RATE_LIMITED');
    expect((await t.post('/v1/verifications/check', { phone: '+8613800000004', channel: 'x', code: '0000' })).status).toBe(404);
  });

  it('VERIFY_FAILURE_LIMITS refuses checks of a phone after that many wrong guesses across codes', async () => {
    t = await buildTestApp(kind, { ...OFF, VERIFY_FAILURE_LIMITS: '3/1500ms', MAX_VERIFY_ATTEMPTS: '10' });
    await send(PHONE, 'a');
    await send(PHONE, 'b');
    const codeA = t.sms.messages[0]?.templateParam.code as string;
    const wrong = (code: string) => (code === '0000' ? '1111' : '0000');
    const check = (channel: string, code: string) => t.post('/v1/verifications/check', { phone: PHONE, channel, code });
    expect((await check('a', wrong(codeA))).status).toBe(422);
    expect((await check('b', wrong(t.sms.lastCode(PHONE)))).status).toBe(422);
    expect((await check('a', wrong(codeA))).status).toBe(422);
    const refused = await check('a', codeA);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ code: 'VERIFY_RATE_LIMITED' });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect((await t.post('/sms_message/verify_code', { phone: PHONE, channel: 'a', code: codeA })).body).toEqual({
      code: 401,
      message: '验证失败次数过多,请稍后再试',
      data: {},
    });
    await t.harness.advance(1500);
    expect((await check('a', codeA)).status).toBe(200);
  });

  it('honours X-Forwarded-For only with TRUST_PROXY', async () => {
    t = await buildTestApp(kind, { ...OFF, IP_SEND_LIMITS: '1/1h' });
    expect((await send('+8613800000001', 'x', { 'x-forwarded-for': '203.0.113.1' })).status).toBe(201);
    // Ignored: both requests come from the same socket address.
    expect((await send('+8613800000002', 'x', { 'x-forwarded-for': '203.0.113.2' })).body.code).toBe('IP_RATE_LIMITED');
    await t.close();

    t = await buildTestApp(kind, { ...OFF, IP_SEND_LIMITS: '1/1h', TRUST_PROXY: '127.0.0.1/8' });
    expect((await send('+8613800000001', 'x', { 'x-forwarded-for': '203.0.113.1' })).status).toBe(201);
    expect((await send('+8613800000002', 'x', { 'x-forwarded-for': '203.0.113.2' })).status).toBe(201);
    expect((await send('+8613800000003', 'x', { 'x-forwarded-for': '203.0.113.2' })).body.code).toBe('IP_RATE_LIMITED');
    const events = (await t.harness.store.audit.page({}, { limit: 10 })).events;
    expect(events.map((e) => e.fields.ip)).toEqual(['203.0.113.1', '203.0.113.2', '203.0.113.2']);
  });

  it('refuses blocked prefixes and countries outside ALLOWED_COUNTRIES before any send', async () => {
    t = await buildTestApp(kind, { ...OFF, BLOCKED_PREFIXES: '+86170,+86171', ALLOWED_COUNTRIES: 'CN' });
    const blocked = await send('17012345678');
    expect(blocked.status).toBe(403);
    expect(blocked.body).toMatchObject({ statusCode: 403, code: 'PHONE_BLOCKED' });
    expect((await send('+85261234567')).body.code).toBe('PHONE_BLOCKED');
    expect((await send('13800000000')).status).toBe(201);
    const notice = await t.post('/v1/notifications', { phone: '+85261234567', channel: 'x', templateCode: 'SMS_1' });
    expect(notice.status).toBe(403);
    expect((await t.post('/sms_message/getVerificationCode', { phone: '17112345678', channel: 'x' })).body).toEqual({
      code: 400,
      message: '该手机号码不支持发送短信',
      data: {},
    });
    expect(t.sms.messages.map((m) => m.phone.e164)).toEqual(['+8613800000000']);
    const refusals = (await t.harness.store.audit.page({ phone: '+8617012345678' }, { limit: 10 })).events;
    expect(refusals.map((e) => [e.fields.event, e.fields.reason])).toEqual([['code.send_failed', 'phone_blocked']]);
  });
});

describe('logs', () => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });

  it('never carry a full phone number, a code, a token or a secret', async () => {
    const logLines: string[] = [];
    t = await buildTestApp(
      'memory',
      { API_KEYS: `shop:${SHOP_TOKEN}`, CODE_SECRET: 'code-secret-0123456789', EXPOSE_CODE: 'true', CODE_LENGTH: '10', LOG_LEVEL: 'debug' },
      { logLines },
    );
    const auth = { authorization: `Bearer ${SHOP_TOKEN}` };
    const codes: string[] = [];
    for (const channel of ['a', 'b']) {
      const res = await t.app.inject({ method: 'POST', url: '/v1/verifications', payload: { phone: '13812345678', channel }, headers: auth });
      codes.push(res.json().code);
    }
    t.sms.failNext();
    await t.app.inject({ method: 'POST', url: '/v1/verifications', payload: { phone: '13812345678', channel: 'c' }, headers: auth });
    await t.app.inject({ method: 'POST', url: '/v1/verifications/check', payload: { phone: '13812345678', channel: 'a', code: codes[0] }, headers: auth });
    await t.app.inject({ method: 'POST', url: '/v1/verifications', payload: { phone: '13812345678', channel: 'a' }, headers: { authorization: 'Bearer wrong-token-0000000000' } });
    await t.app.inject({ method: 'POST', url: '/sms_message/getVerificationCode', payload: { phone: '13812345678', channel: 'd' }, headers: auth });
    await t.app.inject({ method: 'GET', url: '/v1/audit?phone=13812345678&channel=a', headers: auth });
    expect(logLines.length).toBeGreaterThan(10);
    const text = logLines.join('\n');
    for (const forbidden of ['13812345678', '12345678', SHOP_TOKEN, 'wrong-token-0000000000', 'code-secret-0123456789', ...codes]) {
      expect(text).not.toContain(forbidden);
    }
    expect(text).toContain('+86138****5678');
  });
});
