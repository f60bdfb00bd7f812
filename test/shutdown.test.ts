import { request } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from './support/app.js';
import { DEFAULT_ACCESS_KEYS, FakeDysmsapi } from '../tools/fake-dysmsapi/fake-dysmsapi.js';
import { startServer } from './support/node-process.js';


let fake: FakeDysmsapi;
beforeAll(async () => {
  fake = await FakeDysmsapi.start();
});
afterAll(async () => {
  await fake.close();
});
afterEach(() => {
  fake.reset();
});

function aliyunEnv(extra: Record<string, string>): Record<string, string> {
  return {
    SMS_PROVIDER: 'aliyun',
    ALIYUN_SMS_ENDPOINT: fake.url,
    ALIBABA_CLOUD_ACCESS_KEY_ID: 'testAkId',
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: DEFAULT_ACCESS_KEYS.testAkId as string,
    ALIYUN_SMS_SIGN_NAME: '阿里云短信测试',
    ALIYUN_SMS_TEMPLATE_CODE: 'SMS_154950909',
    ALIYUN_SMS_TIMEOUT_MS: '20000',
    ...extra,
  };
}

const sendCode = (base: string, phone: string) =>
  fetch(`${base}/v1/verifications`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ phone, channel: 'login' }),
  });

/** One request on a connection of its own (no pooled keep-alive socket): the status, or the socket error's code. */
function once(method: 'GET' | 'POST', url: string, body?: unknown): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(url, { method, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** What a new request during the drain may get: a 503, or no connection at all. */
const NOT_SERVED = [503, 'ECONNREFUSED', 'ECONNRESET'];

describe('readiness while draining', () => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });

  it('answers /readyz 503 as soon as the app is draining, and closes connections after each answer', async () => {
    t = await buildTestApp('memory');
    expect((await t.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    t.app.draining = true;
    const res = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ status: 'draining' });
    expect(res.headers.connection).toBe('close');
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});

describe('graceful shutdown of the server process', () => {
  it('on SIGTERM stops taking requests, finishes the ones in flight with 201, and exits 0', async () => {
    fake.respondWith({ kind: 'delay', ms: 1500 });
    const server = startServer(aliyunEnv({ SHUTDOWN_TIMEOUT_MS: '15000' }));
    const base = await server.listening;
    expect(await once('GET', `${base}/readyz`)).toBe(200);

    const phones = ['13800000001', '13800000002', '13800000003'];
    const inFlight = phones.map((phone) => sendCode(base, phone));
    await fake.waitForSends(3, 10_000);
    expect(fake.sends().every((request) => request.reply === undefined)).toBe(true);

    server.child.kill('SIGTERM');
    await server.waitForOutput(/shutting down: draining/);

    // Draining: readiness fails at once, or the listener is already closed (a connection still in the
    // accept backlog when it closes is reset); either way no new work is taken.
    expect(NOT_SERVED).toContain(await once('GET', `${base}/readyz`));
    expect(NOT_SERVED).toContain(await once('POST', `${base}/v1/verifications`, { phone: '13800000009', channel: 'login' }));

    const answers = await Promise.all(inFlight);
    expect(answers.map((res) => res.status)).toEqual([201, 201, 201]);
    // The answers closed their keep-alive connections, so idle clients do not hold the exit back.
    const answered = Date.now();
    expect(await server.exited).toBe(0);
    expect(Date.now() - answered).toBeLessThan(1500);
    // The requests were answered after the signal, and no further SMS went out.
    expect(fake.sends()).toHaveLength(3);
    expect(server.output().stdout).toMatch(/"msg":"shut down"/);
  });

  it('exits 1 with a log line when in-flight requests outlast SHUTDOWN_TIMEOUT_MS', async () => {
    fake.respondWith({ kind: 'hang' });
    const server = startServer(aliyunEnv({ SHUTDOWN_TIMEOUT_MS: '300' }));
    const base = await server.listening;
    const hanging = sendCode(base, '13800000004').then(
      (res) => res.status,
      () => 'aborted',
    );
    await fake.waitForSends(1, 10_000);

    const signalled = Date.now();
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(1);
    const took = Date.now() - signalled;
    expect(took).toBeGreaterThanOrEqual(300);
    expect(took).toBeLessThan(3000);
    expect(server.output().stdout).toMatch(/shutdown timed out/);
    expect(await hanging).toBe('aborted');
  });
});
