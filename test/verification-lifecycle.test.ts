import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from './support/app.js';
import { STORE_KINDS } from './support/stores.js';

const PHONE = '+8613800000000';
const ID = /^[0-9a-f]{32}$/;

describe.each(STORE_KINDS)('verifications as resources on the %s store', (kind) => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });

  const send = (phone: string = PHONE, channel = 'login') => t.post('/v1/verifications', { phone, channel });
  const check = (code: string, phone: string = PHONE, channel = 'login') => t.post('/v1/verifications/check', { phone, channel, code });
  const checkById = (verificationId: string, code: string) => t.post('/v1/verifications/check', { verificationId, code });
  const get = async (id: string, token?: string) => {
    const response = await t.app.inject({ url: `/v1/verifications/${id}`, headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: response.statusCode, body: response.json() };
  };
  const cancel = async (id: string, token?: string) => {
    const response = await t.app.inject({
      method: 'POST',
      url: `/v1/verifications/${id}/cancel`,
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    return { status: response.statusCode, body: response.json() };
  };
  const events = async (name: string) => {
    const found: Array<Record<string, string>> = [];
    for await (const entry of t.harness.store.audit.scan({})) if (entry.fields.event === name) found.push({ ...entry.fields });
    return found;
  };

  it('a send answers its id, pending and when a resend passes the channel and phone windows; GET shows it', async () => {
    t = await buildTestApp(kind, { SEND_LIMITS: '1/60s,5/1h', PHONE_SEND_LIMITS: '20/1d' });
    const before = Date.now();
    const sent = await send();
    expect(sent.status).toBe(201);
    expect(sent.body).toEqual({
      phone: PHONE,
      channel: 'login',
      expiresAt: expect.any(String),
      id: expect.stringMatching(ID),
      status: 'pending',
      resendAvailableAt: expect.any(String),
    });
    if (kind !== 'memory') {
      // The 1/60s window is the only full one: the next send passes 60 s after this one.
      expect(Date.parse(sent.body.resendAvailableAt) - before).toBeGreaterThanOrEqual(59_000);
      expect(Date.parse(sent.body.resendAvailableAt) - before).toBeLessThan(61_000);
    }
    expect(t.sms.messages[0]?.outId).toBe(sent.body.id);
    const got = await get(sent.body.id);
    expect(got).toEqual({
      status: 200,
      body: {
        id: sent.body.id,
        phone: PHONE,
        channel: 'login',
        status: 'pending',
        createdAt: expect.any(String),
        expiresAt: sent.body.expiresAt,
        attempts: 0,
        delivery: { status: 'unknown' },
      },
    });
    expect(Date.parse(got.body.expiresAt) - Date.parse(got.body.createdAt)).toBe(300_000);
    expect(await get('0123456789abcdef0123456789abcdef')).toMatchObject({ status: 404, body: { code: 'VERIFICATION_NOT_FOUND' } });
    expect(await get('not-an-id')).toMatchObject({ status: 404, body: { code: 'VERIFICATION_NOT_FOUND' } });
  });

  it('resendAvailableAt is the send itself when no channel or phone window is full', async () => {
    t = await buildTestApp(kind, { SEND_LIMITS: '5/1h', PHONE_SEND_LIMITS: 'off', GLOBAL_SEND_LIMITS: '1/1h' });
    const sent = await send();
    // The global window is full, but resendAvailableAt leaves the deployment's and the IP's budgets out.
    expect(Math.abs(Date.parse(sent.body.resendAvailableAt) - Date.parse(sent.body.expiresAt) + 300_000)).toBeLessThan(2_000);
  });

  it('reads approved, max_attempts_reached and superseded, and counts wrong guesses', async () => {
    t = await buildTestApp(kind, { SEND_LIMITS: '10/1h', MAX_VERIFY_ATTEMPTS: '2' });
    const first = (await send()).body.id as string;
    expect((await check('0000' === t.sms.lastCode(PHONE) ? '1111' : '0000')).status).toBe(422);
    expect((await get(first)).body).toMatchObject({ status: 'pending', attempts: 1 });
    expect((await check(t.sms.lastCode(PHONE))).status).toBe(200);
    expect((await get(first)).body).toMatchObject({ status: 'approved', attempts: 1 });

    const second = (await send()).body.id as string;
    expect((await get(first)).body.status).toBe('approved');
    const third = (await send()).body.id as string;
    expect((await get(second)).body.status).toBe('superseded');
    expect((await get(third)).body.status).toBe('pending');
    const wrong = t.sms.lastCode(PHONE) === '0000' ? '1111' : '0000';
    await check(wrong);
    await check(wrong);
    expect((await get(third)).body).toMatchObject({ status: 'max_attempts_reached', attempts: 2 });
    expect(await cancel(third)).toMatchObject({ status: 409, body: { code: 'VERIFICATION_NOT_PENDING', status: 'max_attempts_reached' } });
  });

  it('reads failed when the provider refused the SMS, and the older code stays pending', async () => {
    t = await buildTestApp(kind, { SEND_LIMITS: '10/1h' });
    const first = (await send()).body.id as string;
    t.sms.failNext();
    expect((await send()).status).toBe(502);
    const failedId = t.sms.messages[1]?.outId as string;
    expect((await get(failedId)).body.status).toBe('failed');
    expect((await get(first)).body.status).toBe('pending');
  });

  it('reads unconfirmed when the provider never answered: the 502 names the id, it cannot be canceled, its code verifies', async () => {
    t = await buildTestApp(kind, { SEND_LIMITS: '10/1h' });
    t.sms.failNext('unconfirmed', 'Timeout');
    const unconfirmed = await send();
    expect(unconfirmed.status).toBe(502);
    expect(unconfirmed.body).toMatchObject({ code: 'SMS_SEND_UNCONFIRMED', id: t.sms.messages[0]?.outId });
    const id = unconfirmed.body.id as string;
    expect((await get(id)).body.status).toBe('unconfirmed');
    // Only a pending verification can be canceled.
    expect(await cancel(id)).toMatchObject({ status: 409, body: { code: 'VERIFICATION_NOT_PENDING', status: 'unconfirmed' } });
    // The SMS may have come: its code verifies.
    expect((await checkById(id, t.sms.lastCode(PHONE))).status).toBe(200);
    expect((await get(id)).body.status).toBe('approved');
  });

  it('cancel: pending becomes canceled, audited; its code never verifies; a second cancel answers 409 with the status', async () => {
    t = await buildTestApp(kind, { SEND_LIMITS: '10/1h' });
    const id = (await send()).body.id as string;
    const code = t.sms.lastCode(PHONE);
    const canceled = await cancel(id);
    expect(canceled).toMatchObject({ status: 200, body: { id, status: 'canceled', phone: PHONE, channel: 'login' } });
    expect(await cancel(id)).toMatchObject({ status: 409, body: { code: 'VERIFICATION_NOT_PENDING', status: 'canceled' } });
    expect(await check(code)).toMatchObject({ status: 404, body: { code: 'OTP_NOT_FOUND' } });
    expect(await checkById(id, code)).toMatchObject({ status: 404, body: { code: 'OTP_NOT_FOUND' } });
    expect((await get(id)).body.status).toBe('canceled');
    expect(await events('code.canceled')).toEqual([expect.objectContaining({ outId: id, phone: PHONE, channel: 'login' })]);
    expect(await cancel('0123456789abcdef0123456789abcdef')).toMatchObject({ status: 404, body: { code: 'VERIFICATION_NOT_FOUND' } });
    // A new send is pending again and verifies.
    const next = (await send()).body.id as string;
    expect((await check(t.sms.lastCode(PHONE))).status).toBe(200);
    expect((await get(next)).body.status).toBe('approved');
  });

  it('check by verificationId: the same answers; a superseded id answers OTP_NOT_FOUND, an unknown one VERIFICATION_NOT_FOUND', async () => {
    t = await buildTestApp(kind, { SEND_LIMITS: '10/1h' });
    const old = (await send()).body.id as string;
    const oldCode = t.sms.lastCode(PHONE);
    const current = (await send()).body.id as string;
    const code = t.sms.lastCode(PHONE);
    expect(await checkById(old, oldCode)).toMatchObject({ status: 404, body: { code: 'OTP_NOT_FOUND' } });
    const wrong = code === '0000' ? '1111' : '0000';
    expect(await checkById(current, wrong)).toMatchObject({ status: 422, body: { code: 'OTP_MISMATCH', attemptsRemaining: 4 } });
    expect(await checkById(current, code)).toMatchObject({ status: 200, body: { status: 'approved' } });
    expect(await checkById(current, code)).toMatchObject({ status: 409, body: { code: 'OTP_ALREADY_USED' } });
    expect(await checkById('0123456789abcdef0123456789abcdef', code)).toMatchObject({ status: 404, body: { code: 'VERIFICATION_NOT_FOUND' } });
    expect(await checkById(current, '12')).toMatchObject({ status: 400, body: { code: 'FST_ERR_VALIDATION' } });
    expect((await t.post('/v1/verifications/check', { verificationId: current, phone: PHONE, code })).status).toBe(400);
  });

  it('channel-restricted keys see and touch only their channels: another channel answers VERIFICATION_NOT_FOUND', async () => {
    const file = join(tmpdir(), `keys-${process.pid}-${Date.now()}.json`);
    writeFileSync(
      file,
      JSON.stringify([
        { name: 'all', token: 'token-all-0123456789', scopes: ['verify'] },
        { name: 'shop', token: 'token-shop-0123456789', channels: ['login'], scopes: ['verify'] },
      ]),
    );
    t = await buildTestApp(kind, { API_KEYS_FILE: file, SEND_LIMITS: '10/1h' });
    const sendAs = (token: string, channel: string) =>
      t.app.inject({ method: 'POST', url: '/v1/verifications', payload: { phone: PHONE, channel }, headers: { authorization: `Bearer ${token}` } });
    const pay = (await sendAs('token-all-0123456789', 'pay')).json().id as string;
    const login = (await sendAs('token-shop-0123456789', 'login')).json().id as string;
    expect((await get(pay, 'token-shop-0123456789')).body.code).toBe('VERIFICATION_NOT_FOUND');
    expect((await cancel(pay, 'token-shop-0123456789')).body.code).toBe('VERIFICATION_NOT_FOUND');
    const checkAs = await t.app.inject({
      method: 'POST',
      url: '/v1/verifications/check',
      payload: { verificationId: pay, code: t.sms.lastCode(PHONE) },
      headers: { authorization: 'Bearer token-shop-0123456789' },
    });
    expect(checkAs.json().code).toBe('VERIFICATION_NOT_FOUND');
    expect((await get(pay, 'token-all-0123456789')).body.status).toBe('pending');
    expect((await get(login, 'token-shop-0123456789')).body.status).toBe('pending');
    expect((await get(login)).status).toBe(401);
  });
});

describe.each(STORE_KINDS)('check with an Idempotency-Key on the %s store', (kind) => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });
  const check = async (body: object, key?: string) => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/v1/verifications/check',
      payload: body,
      headers: key === undefined ? {} : { 'idempotency-key': key },
    });
    return { status: response.statusCode, body: response.json(), replayed: response.headers['idempotent-replayed'] };
  };

  it('a retry with the same key and code gets the approval again; another key 409; the code is approved once', async () => {
    t = await buildTestApp(kind);
    const id = (await t.post('/v1/verifications', { phone: PHONE, channel: 'login' })).body.id as string;
    const body = { phone: PHONE, channel: 'login', code: t.sms.lastCode(PHONE) };
    expect(await check(body, 'retry-1')).toEqual({ status: 200, body: { status: 'approved' }, replayed: undefined });
    expect(await check(body, 'retry-1')).toEqual({ status: 200, body: { status: 'approved' }, replayed: 'true' });
    expect(await check({ verificationId: id, code: body.code }, 'retry-1')).toMatchObject({ status: 200, replayed: 'true' });
    expect(await check(body, 'retry-2')).toMatchObject({ status: 409, body: { code: 'OTP_ALREADY_USED' } });
    expect(await check(body)).toMatchObject({ status: 409, body: { code: 'OTP_ALREADY_USED' } });
    // Another code under the same key is a new check (of a code already used).
    expect(await check({ ...body, code: body.code === '0000' ? '1111' : '0000' }, 'retry-1')).toMatchObject({
      status: 409,
      body: { code: 'OTP_ALREADY_USED' },
    });
    expect(await check(body, '')).toMatchObject({ status: 400, body: { code: 'INVALID_IDEMPOTENCY_KEY' } });
    const approvals: string[] = [];
    for await (const entry of t.harness.store.audit.scan({})) if (entry.fields.event === 'code.approved') approvals.push(entry.id);
    expect(approvals).toHaveLength(1);
  });
});
