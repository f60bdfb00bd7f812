import { afterEach, describe, expect, it } from 'vitest';
import { instrumentStore, Metrics } from '../src/metrics/metrics.js';
import { MemoryStore } from '../src/stores/memory/memory-store.js';
import type { VerificationStore } from '../src/domain/store.js';
import { buildTestApp, type TestApp } from './support/app.js';
import { brokenStore } from './support/broken-store.js';
import { samples, value } from './support/prometheus.js';
import { TEST_AUDIT } from './support/stores.js';
import { showsPhone } from './support/numbers.js';

const PHONE = '+8613800000000';
const OTHER = '+8613900000000';

const FAMILIES = [
  ['http_requests_total', 'counter'],
  ['http_request_duration_seconds', 'histogram'],
  ['sms_code_sends_total', 'counter'],
  ['sms_code_checks_total', 'counter'],
  ['sms_notices_total', 'counter'],
  ['sms_rate_limit_refusals_total', 'counter'],
  ['sms_provider_request_duration_seconds', 'histogram'],
  ['sms_provider_errors_total', 'counter'],
  ['store_operation_duration_seconds', 'histogram'],
  ['store_errors_total', 'counter'],
  // prom-client's default process metrics, on the same registry
  ['process_cpu_user_seconds_total', 'counter'],
  ['process_resident_memory_bytes', 'gauge'],
  ['nodejs_eventloop_lag_seconds', 'gauge'],
] as const;

describe('GET /metrics', () => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });

  const metrics = async (app: TestApp = t): Promise<string> => {
    const res = await app.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    return res.body;
  };
  const send = (phone = PHONE, channel = 'login') => t.post('/v1/verifications', { phone, channel });
  const check = (code: string, phone = PHONE) => t.post('/v1/verifications/check', { phone, channel: 'login', code });

  it('answers in the Prometheus text format with every metric family', async () => {
    t = await buildTestApp('memory');
    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    for (const [name, type] of FAMILIES) expect(res.body).toContain(`# TYPE ${name} ${type}\n`);
  });

  it('counts sends, refusals, checks, notices, provider calls and store operations after traffic', async () => {
    t = await buildTestApp('memory', { SEND_LIMITS: '1/60s' });
    const before = await metrics();
    expect(value(before, 'sms_code_sends_total', { outcome: 'sent' })).toBe(0);

    expect((await send()).status).toBe(201);
    expect((await send()).status).toBe(429);
    const code = t.sms.lastCode(PHONE);
    expect((await check(code === '0000' ? '1111' : '0000')).status).toBe(422);
    expect((await check(code)).status).toBe(200);
    t.sms.failNext('failed', 'isp.SYSTEM_ERROR');
    expect((await send(OTHER)).status).toBe(502);
    expect((await t.post('/v1/verifications', { phone: 'not a phone', channel: 'login' })).status).toBe(400);
    expect((await t.post('/v1/notifications', { phone: OTHER, channel: 'orders', templateCode: 'SMS_1' })).status).toBe(201);
    expect((await t.post('/sms_message/getVerificationCode', { phone: '13700000000', channel: 'login' })).body.code).toBe(200);

    const text = await metrics();
    expect(value(text, 'sms_code_sends_total', { outcome: 'sent', reason: 'none' })).toBe(2);
    expect(value(text, 'sms_code_sends_total', { outcome: 'rate_limited', reason: 'channel:1/60s' })).toBe(1);
    expect(value(text, 'sms_code_sends_total', { outcome: 'send_failed', reason: 'failed' })).toBe(1);
    expect(value(text, 'sms_code_sends_total', { outcome: 'invalid', reason: 'phone' })).toBe(1);
    expect(value(text, 'sms_rate_limit_refusals_total', { limit: 'channel:1/60s' })).toBe(1);
    expect(value(text, 'sms_code_checks_total', { outcome: 'mismatch' })).toBe(1);
    expect(value(text, 'sms_code_checks_total', { outcome: 'approved' })).toBe(1);
    expect(value(text, 'sms_notices_total', { outcome: 'sent', reason: 'none' })).toBe(1);

    // 4 provider calls: two codes and a notice went out, one failed
    expect(value(text, 'sms_provider_request_duration_seconds_count', { provider: 'recording', result: 'ok' })).toBe(3);
    expect(value(text, 'sms_provider_request_duration_seconds_count', { provider: 'recording', result: 'failed' })).toBe(1);
    expect(value(text, 'sms_provider_errors_total', { provider: 'recording', code: 'isp.SYSTEM_ERROR' })).toBe(1);

    // 4 code sends and the notice (inside the send budget since issue 11: reserved like a code send)
    expect(value(text, 'store_operation_duration_seconds_count', { operation: 'reserveSend' })).toBe(5);
    expect(value(text, 'store_operation_duration_seconds_count', { operation: 'checkCode' })).toBe(2);
    expect(value(text, 'store_operation_duration_seconds_count', { operation: 'releaseSend' })).toBe(1);
    expect(value(text, 'store_errors_total', { operation: 'reserveSend' })).toBe(0);

    const v1 = { route: '/v1/verifications', method: 'POST' };
    expect(value(text, 'http_requests_total', { ...v1, status_code: '201' })).toBe(1);
    expect(value(text, 'http_requests_total', { ...v1, status_code: '429' })).toBe(1);
    expect(value(text, 'http_requests_total', { ...v1, status_code: '502' })).toBe(1);
    expect(value(text, 'http_request_duration_seconds_count', { ...v1, status_code: '201' })).toBe(1);
    expect(
      value(text, 'http_requests_total', { route: '/sms_message/getVerificationCode', method: 'POST', status_code: '200' }),
    ).toBe(1);
    // the metrics request before this one was counted too
    expect(value(text, 'http_requests_total', { route: '/metrics', method: 'GET', status_code: '200' })).toBe(1);
  });

  it('counts verify-limit refusals as limit="verify"', async () => {
    t = await buildTestApp('memory', { VERIFY_FAILURE_LIMITS: '1/1h', MAX_VERIFY_ATTEMPTS: '10' });
    await send();
    const code = t.sms.lastCode(PHONE);
    expect((await check(code === '0000' ? '1111' : '0000')).status).toBe(422);
    expect((await check(code)).body.code).toBe('VERIFY_RATE_LIMITED');
    const text = await metrics();
    expect(value(text, 'sms_code_checks_total', { outcome: 'verify_limited' })).toBe(1);
    expect(value(text, 'sms_rate_limit_refusals_total', { limit: 'verify' })).toBe(1);
  });

  it('counts notice and per-IP check refusals, and unconfirmed sends, by their limit', async () => {
    t = await buildTestApp('memory', { NOTICE_LIMITS: '1/1h', IP_CHECK_LIMITS: '1/1h', SEND_LIMITS: '1/60s' });
    const notice = () => t.post('/v1/notifications', { phone: PHONE, channel: 'login', templateCode: 'SMS_1' });
    expect((await notice()).status).toBe(201);
    expect((await notice()).body.code).toBe('NOTICE_RATE_LIMITED');
    const fromOneAddress = () =>
      t.app.inject({ method: 'POST', url: '/v1/verifications/check', payload: { phone: PHONE, channel: 'login', code: '0000' }, remoteAddress: '203.0.113.7' });
    expect((await fromOneAddress()).statusCode).toBe(404);
    expect((await fromOneAddress()).json().code).toBe('CHECK_RATE_LIMITED');
    t.sms.failNext('unconfirmed', 'Timeout');
    expect((await send(OTHER)).body.code).toBe('SMS_SEND_UNCONFIRMED');
    const text = await metrics();
    expect(value(text, 'sms_notices_total', { outcome: 'rate_limited', reason: 'notice:1/1h' })).toBe(1);
    expect(value(text, 'sms_rate_limit_refusals_total', { limit: 'notice:1/1h' })).toBe(1);
    expect(value(text, 'sms_code_checks_total', { outcome: 'check_limited' })).toBe(1);
    expect(value(text, 'sms_rate_limit_refusals_total', { limit: 'ip_check' })).toBe(1);
    expect(value(text, 'sms_code_sends_total', { outcome: 'send_unconfirmed', reason: 'unconfirmed' })).toBe(1);
  });

  it('labels requests by route pattern, never by the raw URL', async () => {
    t = await buildTestApp('memory');
    await t.app.inject({ method: 'GET', url: `/v1/audit?phone=${encodeURIComponent(PHONE)}` });
    await t.app.inject({ method: 'GET', url: '/v1/nothing-here/13800000000' });
    const text = await metrics();
    expect(value(text, 'http_requests_total', { route: '/v1/audit', method: 'GET', status_code: '200' })).toBe(1);
    expect(value(text, 'http_requests_total', { route: 'unmatched', method: 'GET', status_code: '404' })).toBe(1);
    expect(showsPhone(text, '13800000000')).toBe(false);
    expect(text).not.toContain('nothing-here');
  });

  it('counts store errors and their latency by operation', async () => {
    t = await buildTestApp('memory', {}, { store: brokenStore() });
    expect((await send()).status).toBe(503);
    expect((await send()).status).toBe(503);
    expect((await t.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    const text = await metrics();
    expect(value(text, 'store_errors_total', { operation: 'reserveSend' })).toBe(2);
    expect(value(text, 'store_errors_total', { operation: 'ping' })).toBe(1);
    expect(value(text, 'store_operation_duration_seconds_count', { operation: 'reserveSend' })).toBe(2);
    expect(value(text, 'http_requests_total', { route: '/v1/verifications', method: 'POST', status_code: '503' })).toBe(2);
  });

  it('never puts a phone number or a code in a label', async () => {
    t = await buildTestApp('memory', { SEND_LIMITS: '1/60s', EXPOSE_CODE: 'true' });
    const sent = await send('13800000000');
    await send('13800000000');
    const code = sent.body.code as string;
    await check(code === '0000' ? '1111' : '0000');
    await check(code);
    await t.post('/sms_message/verify_code', { phone: '13800000000', channel: 'login', code });
    const text = await metrics();
    expect(text).not.toMatch(/\+?(86)?138-?0000-?0000/);
    const labelValues = samples(text).flatMap((s) => Object.values(s.labels));
    expect(labelValues.length).toBeGreaterThan(20);
    for (const label of labelValues) {
      expect(label).not.toContain(code);
      expect(label).not.toContain('13800000000');
    }
  });

  it('keeps each app on its own registry', async () => {
    t = await buildTestApp('memory');
    const other = await buildTestApp('memory');
    try {
      expect((await send()).status).toBe(201);
      expect(value(await metrics(), 'sms_code_sends_total', { outcome: 'sent' })).toBe(1);
      expect(value(await metrics(other), 'sms_code_sends_total', { outcome: 'sent' })).toBe(0);
    } finally {
      await other.close();
    }
  });
});

describe('instrumentStore', () => {
  it('measures methods the interface does not list yet, and the audit reader, and keeps kind', async () => {
    const metrics = new Metrics();
    const base = new MemoryStore({ audit: TEST_AUDIT });
    const extended = Object.assign(base, { flushAll: async () => 'flushed', sync: () => 42 });
    const store = instrumentStore(extended, metrics) as VerificationStore & typeof extended;
    expect(store.kind).toBe('memory');
    expect(await store.flushAll()).toBe('flushed');
    expect(store.sync()).toBe(42);
    await store.ping();
    expect(await store.audit.page({}, { limit: 5 })).toMatchObject({ events: [] });
    await expect(instrumentStore(brokenStore(), metrics).checkCode({} as never)).rejects.toThrow('ECONNREFUSED');
    const text = await metrics.text();
    expect(value(text, 'store_operation_duration_seconds_count', { operation: 'flushAll' })).toBe(1);
    expect(value(text, 'store_operation_duration_seconds_count', { operation: 'ping' })).toBe(1);
    expect(value(text, 'store_operation_duration_seconds_count', { operation: 'audit.page' })).toBe(1);
    expect(value(text, 'store_errors_total', { operation: 'checkCode' })).toBe(1);
    // synchronous results are passed through unmeasured
    expect(value(text, 'store_operation_duration_seconds_count', { operation: 'sync' })).toBe(0);
  });
});
