import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeDysmsapi } from '../tools/fake-dysmsapi/fake-dysmsapi.js';
import { freePort, spawnRedisServer, type SpawnedRedis } from './support/redis-server.js';
import { uniquePrefix, until } from './support/stores.js';
import { startInstance, type AppInstance } from './support/app.js';

const PHONE = '+8613800000000';
const STORE_TIMEOUT_MS = 300;

function instance(port: number, prefix: string, env: Record<string, string> = {}): Promise<AppInstance> {
  return startInstance({
    REDIS_URL: `redis://127.0.0.1:${port}`,
    REDIS_PREFIX: prefix,
    STORE_TIMEOUT_MS: String(STORE_TIMEOUT_MS),
    SEND_LIMITS: '1000/1s',
    PHONE_SEND_LIMITS: 'off',
    ...env,
  });
}

describe('Redis goes away and comes back', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  let redis: SpawnedRedis;
  let port: number;
  beforeAll(() => {
    process.on('unhandledRejection', onUnhandled);
  });
  afterAll(() => {
    process.off('unhandledRejection', onUnhandled);
  });
  afterEach(async () => {
    await redis?.stop();
    expect(unhandled).toEqual([]);
  });

  it('answers 503 / legacy 500 within STORE_TIMEOUT_MS while it is down, /readyz 503, and recovers by itself', async () => {
    port = await freePort();
    redis = await spawnRedisServer([], port);
    const a = await instance(port, uniquePrefix());
    expect((await a.post('/v1/verifications', { phone: PHONE, channel: 'login' })).status).toBe(201);

    // Load in flight while Redis dies.
    let stop = false;
    const answers: Array<{ status: number; ms: number; body: any }> = [];
    const load = Promise.all(
      Array.from({ length: 8 }, async (_, worker) => {
        for (let i = 0; !stop; i++) {
          answers.push(await a.post('/v1/verifications/check', { phone: PHONE, channel: 'login', code: '0000' }));
          if (i % 5 === worker % 5) answers.push(await a.post('/v1/verifications', { phone: `+86139${worker}000000${i % 10}`, channel: 'load' }));
        }
      }),
    );
    await until(() => answers.length > 50);
    await redis.stop();
    const downFrom = answers.length;
    await until(() => answers.slice(downFrom).filter((r) => r.status === 503).length >= 40, 10_000);

    const down = answers.slice(downFrom + 16);
    expect(down.length).toBeGreaterThan(20);
    for (const answer of down) {
      expect(answer.status).toBe(503);
      expect(answer.body).toEqual({
        statusCode: 503,
        code: 'STORE_UNAVAILABLE',
        error: 'Service Unavailable',
        message: 'The service is temporarily unavailable; retry shortly',
      });
      expect(answer.ms).toBeLessThan(STORE_TIMEOUT_MS + 200);
    }
    const legacy = await a.post('/sms_message/verify_code', { phone: PHONE, channel: 'login', code: '0000' });
    expect(legacy.body).toEqual({ code: 500, message: '服务暂不可用,请稍后再试', data: {} });
    expect(legacy.ms).toBeLessThan(STORE_TIMEOUT_MS + 200);
    const ready = await a.app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(503);

    // Back on the same port (empty: no persistence). No restart of the service.
    redis = await spawnRedisServer([], port);
    await until(async () => (await a.app.inject({ url: '/readyz' })).statusCode === 200, 10_000, 50);
    await until(async () => (await a.post('/v1/verifications', { phone: PHONE, channel: 'after' })).status === 201, 10_000, 50);
    stop = true;
    await load;
    // Scripts were loaded again (NOSCRIPT handled) and decide correctly.
    const code = a.sms.lastCode(PHONE);
    expect((await a.post('/v1/verifications/check', { phone: PHONE, channel: 'after', code })).status).toBe(200);
    expect((await a.post('/v1/verifications/check', { phone: PHONE, channel: 'after', code })).status).toBe(409);
    await a.app.close();
  });

  it('approves a code at most once while checks race a Redis restart, across two instances', async () => {
    port = await freePort();
    redis = await spawnRedisServer([], port);
    const prefix = uniquePrefix();
    const [a, b] = await Promise.all([instance(port, prefix), instance(port, prefix)]);
    await a.post('/v1/verifications', { phone: PHONE, channel: 'race' });
    const code = a.sms.lastCode(PHONE);
    let stop = false;
    const statuses: number[] = [];
    const racers = Promise.all(
      [a, b, a, b, a, b].map(async (i) => {
        while (!stop) statuses.push((await i.post('/v1/verifications/check', { phone: PHONE, channel: 'race', code })).status);
      }),
    );
    // The race is on: the code has been approved (or answered as used) before Redis goes.
    await until(() => statuses.includes(200) && statuses.length >= 12);
    await redis.stop();
    redis = await spawnRedisServer([], port);
    await until(() => statuses.slice(-20).length === 20 && statuses.slice(-20).every((s) => s !== 503), 10_000);
    stop = true;
    await racers;
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.every((s) => [200, 404, 409, 503].includes(s))).toBe(true);
    await Promise.all([a.app.close(), b.app.close()]);
  });

  it('keeps instances agreeing on the code secret after a restart that forgot it', async () => {
    port = await freePort();
    redis = await spawnRedisServer([], port);
    const prefix = uniquePrefix();
    const a = await instance(port, prefix);
    await redis.stop();
    redis = await spawnRedisServer([], port);
    await until(async () => (await a.app.inject({ url: '/readyz' })).statusCode === 200, 10_000, 50);
    // A new instance would mint its own secret if nobody had put one back.
    await until(async () => (await a.post('/v1/verifications', { phone: PHONE, channel: 'x' })).status === 201, 10_000, 50);
    const b = await instance(port, prefix);
    const code = a.sms.lastCode(PHONE);
    expect((await b.post('/v1/verifications/check', { phone: PHONE, channel: 'x', code })).status).toBe(200);
    await Promise.all([a.app.close(), b.app.close()]);
  });

  it('does not lose a send whose provider call succeeded while Redis was down: the code verifies once Redis is back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'redis-aof-'));
    const persistent = ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir];
    port = await freePort();
    redis = await spawnRedisServer(persistent, port);
    const fake = await FakeDysmsapi.start();
    try {
      const a = await instance(port, uniquePrefix(), {
        SMS_PROVIDER: 'aliyun',
        ALIYUN_SMS_ENDPOINT: fake.url,
        ALIBABA_CLOUD_ACCESS_KEY_ID: 'testAkId',
        ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'testAkSecret',
        ALIYUN_SMS_SIGN_NAME: 'sign',
        ALIYUN_SMS_TEMPLATE_CODE: 'SMS_1',
      });
      fake.respondWith({ kind: 'delay', ms: 400 }, 1);
      const sending = a.post('/v1/verifications', { phone: PHONE, channel: 'login' });
      await fake.waitForSends(1);
      await redis.stop();
      const answer = await sending;
      // The SMS went out: the caller is told so, whatever the store did.
      expect(answer.status).toBe(201);
      const code = JSON.parse(fake.sends()[0]?.query.TemplateParam ?? '{}').code as string;
      redis = await spawnRedisServer(persistent, port);
      await until(async () => (await a.post('/v1/verifications/check', { phone: PHONE, channel: 'login', code })).status === 200, 10_000, 100);
      await a.app.close();
    } finally {
      await fake.close();
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
