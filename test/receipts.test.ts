import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../plugins/app.js';
import { FakeDysmsapi } from '../tools/fake-dysmsapi/fake-dysmsapi.js';
import { aliyunEnv } from './support/aliyun-env.js';
import { startInstance } from './support/app.js';
import { loadConfig } from '../src/config/config.js';
import { chinaTimestamp } from '../tools/fake-dysmsapi/receipts.js';
import { buildTestApp, type TestApp } from './support/app.js';
import { brokenStore } from './support/broken-store.js';
import { STORE_KINDS, until } from './support/stores.js';

const PHONE = '+8613800000000';
const TOKEN = 'receipt-token-0123456789';
const URL = `/v1/receipts/aliyun/${TOKEN}`;

function report(outId: string, delivered: boolean, extra: Record<string, unknown> = {}) {
  return {
    phone_number: '13800000000',
    send_time: chinaTimestamp(Date.now() - 2000),
    report_time: chinaTimestamp(Date.now()),
    success: delivered,
    err_code: delivered ? 'DELIVERED' : 'MK:0001',
    err_msg: delivered ? '用户接收成功' : '用户不存在',
    sms_size: '1',
    biz_id: '900000000000000000^0',
    out_id: outId,
    ...extra,
  };
}

describe.each(STORE_KINDS)('delivery receipts (Aliyun SmsReport) on the %s store', (kind) => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });

  const push = async (body: unknown, url = URL) => {
    const response = await t.app.inject({
      method: 'POST',
      url,
      payload: typeof body === 'string' ? body : JSON.stringify(body),
      headers: { 'content-type': 'application/json;charset=utf-8' },
    });
    return { status: response.statusCode, body: response.json() };
  };
  const send = (phone: string = PHONE, channel = 'login') => t.post('/v1/verifications', { phone, channel });
  const get = async (id: string) => (await t.app.inject({ url: `/v1/verifications/${id}` })).json();
  const events = async (name: string) => {
    const found: Array<Record<string, string>> = [];
    for await (const entry of t.harness.store.audit.scan({})) if (entry.fields.event === name) found.push({ ...entry.fields });
    return found;
  };

  it('records a report once however often it is pushed: delivery, one audit event, metrics', async () => {
    t = await buildTestApp(kind, { ALIYUN_RECEIPT_TOKEN: TOKEN });
    const id = (await send()).body.id as string;
    const batch = [report(id, true)];
    expect(await push(batch)).toEqual({ status: 200, body: { code: 0, msg: '成功' } });
    expect(await push(batch)).toEqual({ status: 200, body: { code: 0, msg: '成功' } });
    const view = await get(id);
    expect(view.delivery).toEqual({ status: 'delivered', errorCode: 'DELIVERED', reportedAt: expect.any(String) });
    expect(Math.abs(Date.parse(view.delivery.reportedAt) - Date.now())).toBeLessThan(5_000);
    expect(await events('code.delivered')).toEqual([expect.objectContaining({ outId: id, errorCode: 'DELIVERED', phone: PHONE, channel: 'login' })]);
    const metrics = (await t.app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/sms_receipts_total\{result="delivered",error_code="DELIVERED"\} 1/);
    expect(metrics).toMatch(/sms_receipts_total\{result="duplicate",error_code="DELIVERED"\} 1/);
    expect(metrics).toMatch(/sms_deliveries_total\{kind="code",channel="login",result="delivered"\} 1/);
  });

  it('acknowledges an unknown out_id and counts it; answers 400 {"code":1} for a malformed body', async () => {
    t = await buildTestApp(kind, { ALIYUN_RECEIPT_TOKEN: TOKEN });
    expect(await push([report('0123456789abcdef0123456789abcdef', true), report('', false), report('{+8613800000000}:login:code', true)])).toMatchObject({
      status: 200,
      body: { code: 0 },
    });
    expect((await t.app.inject({ url: '/metrics' })).body).toMatch(/sms_receipts_total\{result="unknown",error_code="DELIVERED"\} 2/);
    for (const bad of ['not json', '{"out_id":"x"}', '[1]', JSON.stringify([{ out_id: 'x', success: 'maybe' }])]) {
      const answer = await push(bad);
      expect(answer.status).toBe(400);
      expect(answer.body).toEqual({ code: 1, msg: expect.any(String) });
    }
    expect(await push([])).toMatchObject({ status: 200, body: { code: 0 } });
  });

  it('a wrong token answers 404 like an unknown path; the route is absent without ALIYUN_RECEIPT_TOKEN', async () => {
    t = await buildTestApp(kind, { ALIYUN_RECEIPT_TOKEN: TOKEN });
    const wrong = await push([], '/v1/receipts/aliyun/wrong-token-0123456789');
    const missing = await t.app.inject({ method: 'POST', url: '/v1/nothing/here' });
    expect(wrong.status).toBe(404);
    expect(wrong.body).toEqual(missing.json());
    await t.close();
    t = await buildTestApp(kind);
    expect((await push([])).status).toBe(404);
  });

  it('an undelivered report frees the send slot: the next send passes the 1-minute window at once', async () => {
    t = await buildTestApp(kind, { ALIYUN_RECEIPT_TOKEN: TOKEN, SEND_LIMITS: '1/60s,5/1h', PHONE_SEND_LIMITS: '1/1h', GLOBAL_SEND_LIMITS: '10/1h' });
    const id = (await send()).body.id as string;
    expect((await send()).status).toBe(429);
    expect(await push([report(id, false)])).toMatchObject({ status: 200, body: { code: 0 } });
    expect((await get(id)).delivery).toMatchObject({ status: 'undelivered', errorCode: 'MK:0001' });
    expect(await events('code.undelivered')).toEqual([expect.objectContaining({ outId: id, errorCode: 'MK:0001' })]);
    const next = await send();
    expect(next.status).toBe(201);
    // Once: a repeat of the report frees nothing more.
    expect(await push([report(id, false)])).toMatchObject({ status: 200 });
    expect((await send()).status).toBe(429);
    // A delivered report frees nothing.
    expect(await push([report(next.body.id, true)])).toMatchObject({ status: 200 });
    expect((await send()).status).toBe(429);
  });

  it('an undelivered report for a code that is no longer current frees nothing', async () => {
    t = await buildTestApp(kind, { ALIYUN_RECEIPT_TOKEN: TOKEN, SEND_LIMITS: '2/60s' });
    const first = (await send()).body.id as string;
    expect((await send()).status).toBe(201);
    expect(await push([report(first, false)])).toMatchObject({ status: 200 });
    expect((await get(first)).delivery.status).toBe('undelivered');
    expect((await send()).status).toBe(429);
  });

  it('notices: a report audits notice.delivered / notice.undelivered once', async () => {
    t = await buildTestApp(kind, { ALIYUN_RECEIPT_TOKEN: TOKEN });
    const sent = await t.post('/v1/notifications', { phone: PHONE, channel: 'orders', templateCode: 'SMS_1' });
    expect(sent.status).toBe(201);
    const outId = t.sms.messages[0]?.outId as string;
    await push([report(outId, false)]);
    await push([report(outId, false)]);
    expect(await events('notice.undelivered')).toEqual([expect.objectContaining({ outId, errorCode: 'MK:0001', channel: 'orders' })]);
  });
});

describe('delivery receipts when the store is down', () => {
  it('answers 503 so that Aliyun pushes the batch again', async () => {
    const config = loadConfig({ LOG_LEVEL: 'silent', ALIYUN_RECEIPT_TOKEN: TOKEN });
    const app = await buildApp(config, { logger: false, store: brokenStore() });
    try {
      const response = await app.inject({ method: 'POST', url: URL, payload: [report('0123456789abcdef0123456789abcdef', true)] });
      expect(response.statusCode).toBe(503);
      expect(response.json()).toMatchObject({ code: 1 });
      expect(response.body).not.toMatch(/ECONNREFUSED|hunter2/);
    } finally {
      await app.close();
    }
  });
});

describe('the whole loop offline: the Dysmsapi double pushes SmsReport to the service', () => {
  const cleanup: Array<() => Promise<unknown> | void> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it('delivered and undelivered reports reach the verifications; the undelivered one frees the resend window', async () => {
    // The service's port is chosen first: the double needs the receipt URL when it starts.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const fake = await FakeDysmsapi.start({
      receipts: { url: `http://127.0.0.1:${port}${URL}`, delayMs: 50, retryDelaysMs: [200, 200], undelivered: ['+8613800000002'] },
    });
    cleanup.push(() => fake.close());
    const service = await startInstance(aliyunEnv(fake.url, { ALIYUN_RECEIPT_TOKEN: TOKEN, SEND_LIMITS: '1/60s,5/1h' }));
    cleanup.push(() => service.app.close());
    await service.app.listen({ port, host: '127.0.0.1' });

    const delivered = await service.post('/v1/verifications', { phone: '+8613800000001', channel: 'login' });
    const undelivered = await service.post('/v1/verifications', { phone: '+8613800000002', channel: 'login' });
    expect([delivered.status, undelivered.status]).toEqual([201, 201]);
    expect(fake.sends().map((s) => s.query.OutId).sort()).toEqual([delivered.body.id, undelivered.body.id].sort());
    const view = async (id: string) => (await service.app.inject({ url: `/v1/verifications/${id}` })).json();
    await until(async () => (await view(undelivered.body.id)).delivery.status !== 'unknown' && (await view(delivered.body.id)).delivery.status !== 'unknown', 10_000);
    expect((await view(delivered.body.id)).delivery).toMatchObject({ status: 'delivered', errorCode: 'DELIVERED' });
    expect((await view(undelivered.body.id)).delivery).toMatchObject({ status: 'undelivered', errorCode: 'MK:0001' });
    await fake.receipts?.idle();
    expect(fake.receipts?.pushes.every((p) => p.acknowledged)).toBe(true);
    // The SMS never came: a new code may be asked for at once; the delivered number still waits out its minute.
    expect((await service.post('/v1/verifications', { phone: '+8613800000002', channel: 'login' })).status).toBe(201);
    expect((await service.post('/v1/verifications', { phone: '+8613800000001', channel: 'login' })).status).toBe(429);
    const audit = (await service.app.inject({ url: '/v1/audit?limit=100' })).json().events as Array<{ event: string }>;
    expect(audit.filter((e) => e.event === 'code.delivered')).toHaveLength(1);
    expect(audit.filter((e) => e.event === 'code.undelivered')).toHaveLength(1);
  });
});

describe('the receipt route in the OpenAPI document', () => {
  it('is described when ALIYUN_RECEIPT_TOKEN is set (the token a path parameter, never its value), absent otherwise', async () => {
    for (const [env, present] of [[{ ALIYUN_RECEIPT_TOKEN: TOKEN }, true], [{}, false]] as const) {
      const app = await buildApp(loadConfig({ LOG_LEVEL: 'silent', ...env }), { logger: false });
      try {
        const text = (await app.inject({ url: '/docs/json' })).body;
        const doc = JSON.parse(text);
        expect(Boolean(doc.paths['/v1/receipts/aliyun/{token}']?.post)).toBe(present);
        expect(text).not.toContain(TOKEN);
        if (present) expect(doc.paths['/v1/receipts/aliyun/{token}'].post.security).toEqual([]);
      } finally {
        await app.close();
      }
    }
  });
});
