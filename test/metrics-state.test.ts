import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeDysmsapi } from '../tools/fake-dysmsapi/fake-dysmsapi.js';
import { aliyunEnv } from './support/aliyun-env.js';
import { buildTestApp, startInstance, type AppInstance, type TestApp } from './support/app.js';
import { brokenStore } from './support/broken-store.js';
import { matching, value } from './support/prometheus.js';
import { freePort, spawnRedisServer, type SpawnedRedis } from './support/redis-server.js';
import { uniquePrefix, until } from './support/stores.js';

const scrape = async (app: TestApp['app']): Promise<string> => {
  const res = await app.inject({ method: 'GET', url: '/metrics' });
  expect(res.statusCode).toBe(200);
  return res.body;
};

describe('state gauges on /metrics', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('reports the build: the version in package.json and the Node.js version', async () => {
    t = await buildTestApp('memory');
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    const text = await scrape(t.app);
    expect(text).toContain('# TYPE sms_verify_build_info gauge\n');
    expect(value(text, 'sms_verify_build_info', { version, node_version: process.version })).toBe(1);
    expect(matching(text, 'sms_verify_build_info')).toHaveLength(1);
  });

  it('reports store_connected 1 for a store that answers and 0 for one that does not', async () => {
    t = await buildTestApp('memory');
    expect(value(await scrape(t.app), 'store_connected')).toBe(1);
    await t.close();
    t = await buildTestApp('memory', {}, { store: brokenStore() });
    const text = await scrape(t.app);
    expect(value(text, 'store_connected')).toBe(0);
    // the scrape's own ping is not a store operation
    expect(value(text, 'store_operation_duration_seconds_count', { operation: 'ping' })).toBe(0);
  });

  it('reports the deployment send budget (GLOBAL_SEND_LIMITS) by limit and window, and nothing when it is off', async () => {
    t = await buildTestApp('memory', { GLOBAL_SEND_LIMITS: '100/1h,100000/1d' });
    const text = await scrape(t.app);
    expect(value(text, 'sms_global_send_limit', { limit: 'global:100/1h', window: '1h' })).toBe(100);
    // a budget of five digits or more is a setting, not a phone number: it keeps its label
    expect(value(text, 'sms_global_send_limit', { limit: 'global:100000/1d', window: '1d' })).toBe(100000);
    await t.close();
    t = await buildTestApp('memory');
    expect(matching(await scrape(t.app), 'sms_global_send_limit')).toEqual([]);
  });

  it('the global refusals carry the same limit label as the budget', async () => {
    t = await buildTestApp('memory', { GLOBAL_SEND_LIMITS: '1/1d' });
    expect((await t.post('/v1/verifications', { phone: '+8613800000001', channel: 'login' })).status).toBe(201);
    expect((await t.post('/v1/verifications', { phone: '+8613800000002', channel: 'login' })).status).toBe(429);
    const text = await scrape(t.app);
    const [budget] = matching(text, 'sms_global_send_limit');
    expect(value(text, 'sms_rate_limit_refusals_total', { limit: budget?.labels.limit as string })).toBe(1);
  });
});

describe('store_connected on Redis', () => {
  let redis: SpawnedRedis | undefined;
  let a: AppInstance | undefined;
  afterEach(async () => {
    await a?.app.close();
    await redis?.stop();
  });

  it('goes to 0 while Redis is down and back to 1 when it returns', async () => {
    const port = await freePort();
    redis = await spawnRedisServer([], port);
    a = await startInstance({ REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_PREFIX: uniquePrefix(), STORE_TIMEOUT_MS: '300' });
    const app = a.app;
    expect(value(await scrape(app), 'store_connected')).toBe(1);
    await redis.stop();
    await until(async () => value(await scrape(app), 'store_connected') === 0, 10_000, 50);
    redis = await spawnRedisServer([], port);
    await until(async () => value(await scrape(app), 'store_connected') === 1, 15_000, 100);
  });
});

describe('sms_provider_circuit_state', () => {
  let fake: FakeDysmsapi;
  let t: TestApp | undefined;
  beforeAll(async () => {
    fake = await FakeDysmsapi.start();
  });
  afterAll(async () => {
    await fake.close();
  });
  afterEach(async () => {
    await t?.close();
    t = undefined;
    fake.reset();
  });

  const aliyun = (extra: Record<string, string>) => aliyunEnv(fake.url, extra);
  const state = (text: string) =>
    Object.fromEntries(matching(text, 'sms_provider_circuit_state', { provider: 'aliyun' }).map((s) => [s.labels.state, s.value]));

  it('is closed at first, open after PROVIDER_BREAKER_THRESHOLD outages, closed again after a good probe', async () => {
    t = await buildTestApp('memory', aliyun({ PROVIDER_BREAKER_THRESHOLD: '2', PROVIDER_BREAKER_COOLDOWN_MS: '2000', SEND_LIMITS: '100/60s' }), {
      configuredSms: true,
    });
    const app = t.app;
    const send = (i: number) => t!.post('/v1/verifications', { phone: `1380000000${i}`, channel: 'login' });
    expect(state(await scrape(app))).toEqual({ closed: 1, open: 0, half_open: 0, isolated: 0 });

    fake.respondWith({ kind: 'http', status: 503, code: 'ServiceUnavailable' });
    expect((await send(1)).status).toBe(502);
    expect(state(await scrape(app))).toMatchObject({ closed: 1, open: 0 });
    expect((await send(2)).status).toBe(502);
    expect(state(await scrape(app))).toEqual({ closed: 0, open: 1, half_open: 0, isolated: 0 });
    expect((await send(3)).status).toBe(503);

    fake.respondWith({ kind: 'ok' });
    await until(async () => (await send(4)).status === 201, 10_000, 100);
    expect(state(await scrape(app))).toEqual({ closed: 1, open: 0, half_open: 0, isolated: 0 });
  });

  it('has no series for a provider without a breaker', async () => {
    t = await buildTestApp('memory');
    expect(matching(await scrape(t.app), 'sms_provider_circuit_state')).toEqual([]);
  });
});

describe('health probe logging', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  const probe = async (lines: string[], ...urls: string[]) => {
    for (const url of urls) await t!.app.inject({ method: 'GET', url });
    return lines.map((line) => JSON.parse(line) as { msg: string; level: number; req?: { url: string } });
  };

  it('writes no request lines for /healthz and /readyz at LOG_LEVEL=info, while other routes keep theirs', async () => {
    const lines: string[] = [];
    t = await buildTestApp('memory', { LOG_LEVEL: 'info' }, { logLines: lines });
    lines.length = 0;
    const logged = await probe(lines, '/healthz', '/readyz', '/healthz', '/readyz', '/metrics');
    expect(logged.filter((l) => l.msg === 'incoming request').map((l) => l.req?.url)).toEqual(['/metrics']);
    expect(logged.filter((l) => l.msg === 'request completed')).toHaveLength(1);
  });

  it('writes them at LOG_LEVEL=debug, as debug lines', async () => {
    const lines: string[] = [];
    t = await buildTestApp('memory', { LOG_LEVEL: 'debug' }, { logLines: lines });
    lines.length = 0;
    const logged = await probe(lines, '/healthz', '/readyz');
    expect(logged.filter((l) => l.msg === 'incoming request').map((l) => l.req?.url)).toEqual(['/healthz', '/readyz']);
    expect(logged.filter((l) => l.msg === 'request completed')).toHaveLength(2);
  });

  it('still warns when readiness fails at LOG_LEVEL=info', async () => {
    const lines: string[] = [];
    t = await buildTestApp('memory', { LOG_LEVEL: 'info' }, { store: brokenStore(), logLines: lines });
    lines.length = 0;
    const logged = await probe(lines, '/readyz');
    expect(logged.map((l) => l.msg)).toEqual(['readiness check: store unavailable']);
  });
});
