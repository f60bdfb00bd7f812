import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startInstance, type AppInstance } from './support/app.js';
import { spawnRedisCluster, type SpawnedCluster } from './support/redis-cluster.js';
import { spawnRedisServer, type SpawnedRedis } from './support/redis-server.js';
import { uniquePrefix, until } from './support/stores.js';

/**
 * Issue 11 §7: a decision the caller was told failed (503 STORE_UNAVAILABLE) never takes effect later,
 * whether Redis was only slow (its queue ran the script after the service gave up) or a Cluster primary
 * failed over and the client retried.
 */
const STORE_TIMEOUT_MS = 500;

describe('a paused Redis (DEBUG SLEEP)', () => {
  let redis: SpawnedRedis;
  let service: AppInstance;
  let admin: Redis;
  beforeAll(async () => {
    redis = await spawnRedisServer(['--enable-debug-command', 'yes']);
    admin = new Redis(redis.url);
  });
  afterAll(async () => {
    admin.disconnect();
    await redis.stop();
  });
  afterEach(async () => {
    await service?.app.close();
  });

  const start = () =>
    startInstance({
      REDIS_URL: redis.url,
      REDIS_PREFIX: uniquePrefix(),
      STORE_TIMEOUT_MS: String(STORE_TIMEOUT_MS),
      SEND_LIMITS: '1/60s',
      PHONE_SEND_LIMITS: 'off',
    });

  /** Blocks Redis for `seconds` on its own connection; resolves when Redis is awake again. */
  async function pause(seconds: number, during: () => Promise<void>): Promise<void> {
    const sleeper = new Redis(redis.url);
    await sleeper.ping();
    const asleep = sleeper.call('DEBUG', 'SLEEP', String(seconds));
    // Wait until the server is really blocked: a PING from another connection stops answering.
    await new Promise((resolve) => setTimeout(resolve, 100));
    try {
      await during();
    } finally {
      await asleep;
      sleeper.disconnect();
    }
  }

  it('a check answered 503 during the pause is not executed once Redis wakes: the code still verifies, once', async () => {
    service = await start();
    const phone = '+8613800000001';
    expect((await service.post('/v1/verifications', { phone, channel: 'login' })).status).toBe(201);
    const code = service.sms.lastCode(phone);
    await pause(2, async () => {
      const check = await service.post('/v1/verifications/check', { phone, channel: 'login', code });
      expect(check.status).toBe(503);
      expect(check.body.code).toBe('STORE_UNAVAILABLE');
    });
    await until(async () => (await admin.ping()) === 'PONG');
    const again = await service.post('/v1/verifications/check', { phone, channel: 'login', code });
    expect(again.status).toBe(200);
    expect((await service.post('/v1/verifications/check', { phone, channel: 'login', code })).status).toBe(409);
  });

  it('a wrong guess answered 503 during the pause is not counted once Redis wakes', async () => {
    service = await start();
    const phone = '+8613800000002';
    await service.post('/v1/verifications', { phone, channel: 'login' });
    await pause(2, async () => {
      expect((await service.post('/v1/verifications/check', { phone, channel: 'login', code: '0000' })).status).toBe(503);
    });
    const wrong = await service.post('/v1/verifications/check', { phone, channel: 'login', code: service.sms.lastCode(phone) === '0000' ? '1111' : '0000' });
    expect(wrong.body).toMatchObject({ code: 'OTP_MISMATCH', attemptsRemaining: 4 });
  });

  it('a send answered 503 during the pause leaves no trace: its retry is sent', async () => {
    service = await start();
    const phone = '+8613800000003';
    await pause(2, async () => {
      expect((await service.post('/v1/verifications', { phone, channel: 'login' })).status).toBe(503);
    });
    await until(async () => (await admin.ping()) === 'PONG');
    expect((await service.post('/v1/verifications', { phone, channel: 'login' })).status).toBe(201);
    expect(service.sms.messages).toHaveLength(1);
  });

  it('a notice answered 503 during the pause leaves no trace: it is not counted', async () => {
    service = await startInstance({
      REDIS_URL: redis.url,
      REDIS_PREFIX: uniquePrefix(),
      STORE_TIMEOUT_MS: String(STORE_TIMEOUT_MS),
      NOTICE_LIMITS: '1/1h',
    });
    const phone = '+8613800000004';
    const notice = () => service.post('/v1/notifications', { phone, channel: 'login', templateCode: 'SMS_NOTICE_1' });
    await pause(2, async () => {
      expect((await notice()).status).toBe(503);
    });
    expect((await notice()).status).toBe(201);
    expect(service.sms.messages).toHaveLength(1);
  });

  it('an idempotent send answered 503 during the pause leaves no in-flight claim: its retry with the same key is sent', async () => {
    service = await start();
    const phone = '+8613800000005';
    const send = () =>
      service.app
        .inject({ method: 'POST', url: '/v1/verifications', payload: { phone, channel: 'login' }, headers: { 'idempotency-key': 'late-1' } })
        .then((r) => ({ status: r.statusCode, code: r.json().code as string | undefined }));
    await pause(2, async () => {
      expect((await send()).status).toBe(503);
    });
    await until(async () => (await admin.ping()) === 'PONG');
    expect(await send()).toMatchObject({ status: 201 });
    expect(service.sms.messages).toHaveLength(1);
  });
});

describe('a Redis Cluster primary killed under load (3 primaries + 3 replicas)', () => {
  let cluster: SpawnedCluster;
  let service: AppInstance;
  beforeAll(async () => {
    cluster = await spawnRedisCluster(3, { replicas: 1, nodeTimeoutMs: 2000 });
    service = await startInstance({
      REDIS_CLUSTER_NODES: cluster.nodes,
      REDIS_PREFIX: uniquePrefix(),
      STORE_TIMEOUT_MS: String(STORE_TIMEOUT_MS),
      SEND_LIMITS: '1/60s',
      PHONE_SEND_LIMITS: 'off',
      VERIFY_FAILURE_LIMITS: 'off',
    });
  }, 60_000);
  afterAll(async () => {
    await service?.app.close();
    await cluster?.stop();
  });

  /** The port of a live primary whose replica is live too (so that killing it fails over), from CLUSTER NODES. */
  async function primaryWithReplica(): Promise<number> {
    for (const server of cluster.servers) {
      if (server.process.exitCode !== null || server.process.signalCode !== null) continue;
      const client = new Redis({ port: server.port, lazyConnect: true, maxRetriesPerRequest: 0 });
      try {
        await client.connect();
        // <id> <ip:port@bus> <flags> <master id or -> … ; flags such as `master`, `slave`, `myself,master`, `master,fail`.
        const lines = String(await client.cluster('NODES')).trim().split('\n').map((line) => line.split(' '));
        const healthy = (flags: string) => !flags.includes('fail');
        const replicated = new Set(lines.filter(([, , flags]) => flags?.includes('slave') && healthy(flags)).map((l) => l[3]));
        const primary = lines.find(([id, , flags]) => flags?.includes('master') && healthy(flags) && replicated.has(id));
        if (primary) return Number(primary[1]?.split('@')[0]?.split(':')[1]);
      } catch {
        // try the next node
      } finally {
        client.disconnect();
      }
    }
    throw new Error('no live primary with a live replica');
  }

  for (const round of [1, 2, 3]) {
    it(`round ${round}: every 503 leaves no trace, and every code sent before the kill verifies exactly once`, async () => {
      const tag = `${round}${String(Date.now()).slice(-4)}`;
      const pool = Array.from({ length: 400 }, (_, i) => `+86138${tag}${String(i).padStart(3, '0')}`.slice(0, 14));
      for (const phone of pool) expect((await service.post('/v1/verifications', { phone, channel: 'c' })).status).toBe(201);
      const codes = new Map(pool.map((phone) => [phone, service.sms.lastCode(phone)]));

      const checked = new Map<string, number>();
      const sent = new Map<string, number>();
      const statuses: number[] = [];
      let next = 0;
      let fresh = 0;
      let stop = false;
      const workers = Array.from({ length: 4 }, async () => {
        while (!stop) {
          const phone = pool[next++];
          if (phone !== undefined) {
            const answer = await service.post('/v1/verifications/check', { phone, channel: 'c', code: codes.get(phone) });
            checked.set(phone, answer.status);
            statuses.push(answer.status);
          }
          const other = `+86139${tag}${String(fresh++).padStart(3, '0')}`.slice(0, 14);
          const answer = await service.post('/v1/verifications', { phone: other, channel: 'c' });
          sent.set(other, answer.status);
          statuses.push(answer.status);
          await new Promise((resolve) => setTimeout(resolve, 40));
        }
      });

      try {
        await until(() => statuses.length >= 40, 10_000);
        const port = await primaryWithReplica();
        cluster.servers.find((s) => s.port === port)?.process.kill('SIGKILL');
        await until(() => statuses.includes(503), 15_000);
        // Until the replica has taken over and answers flow again.
        await until(() => statuses.slice(-30).length === 30 && statuses.slice(-30).every((s) => s !== 503), 45_000, 50);
      } finally {
        stop = true;
        await Promise.all(workers);
      }

      expect(statuses.every((s) => s === 200 || s === 201 || s === 503 || (s >= 400 && s < 500))).toBe(true);
      expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(0);

      for (const phone of pool) {
        const during = checked.get(phone);
        const after = await service.post('/v1/verifications/check', { phone, channel: 'c', code: codes.get(phone) });
        const expected = during === 200 ? 409 : 200;
        expect(after.status, `${phone}: checked ${during} during the failover`).toBe(expected);
      }
      for (const [phone, during] of sent) {
        const after = await service.post('/v1/verifications', { phone, channel: 'c' });
        const expected = during === 201 ? 429 : 201;
        expect(after.status, `${phone}: sent ${during} during the failover`).toBe(expected);
      }
    }, 90_000);
  }
});
