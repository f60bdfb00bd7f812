import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, spawnRedisServer, type SpawnedRedis } from './support/redis-server.js';
import { uniquePrefix, until } from './support/stores.js';
import { startInstance } from './support/app.js';

const PHONE = '+8613800000000';

/** One primary, one replica, one sentinel, all spawned on free ports. */
describe('Redis Sentinel', () => {
  let primary: SpawnedRedis;
  let replica: SpawnedRedis;
  let sentinel: SpawnedRedis;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sentinel-'));
    primary = await spawnRedisServer();
    replica = await spawnRedisServer(['--replicaof', '127.0.0.1', String(primary.port)]);
    const sentinelPort = await freePort();
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `port ${sentinelPort}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor mymaster 127.0.0.1 ${primary.port} 1`,
        'sentinel down-after-milliseconds mymaster 2000',
        'sentinel failover-timeout mymaster 10000',
        '',
      ].join('\n'),
    );
    sentinel = await spawnRedisServer([conf, '--sentinel'], sentinelPort, { configFirst: true });
    const admin = new Redis(replica.port, '127.0.0.1');
    await until(async () => (await admin.info('replication')).includes('master_link_status:up'), 15_000, 50);
    admin.disconnect();
    const s = new Redis(sentinel.port, '127.0.0.1');
    await until(async () => {
      const replicas = (await s.call('SENTINEL', 'REPLICAS', 'mymaster')) as unknown[];
      return replicas.length === 1;
    }, 15_000, 50);
    s.disconnect();
  }, 60_000);

  afterAll(async () => {
    await Promise.all([sentinel?.stop(), replica?.stop(), primary?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const instance = (prefix: string) =>
    startInstance({
      REDIS_SENTINELS: `127.0.0.1:${sentinel.port}`,
      REDIS_SENTINEL_NAME: 'mymaster',
      REDIS_PREFIX: prefix,
      SEND_LIMITS: '5/1h',
    });

  it('follows a SENTINEL FAILOVER: keeps serving, keeps codes and the shared secret, never a wrong answer', async () => {
    const prefix = uniquePrefix();
    const before = await instance(prefix);
    expect((await before.post('/v1/verifications', { phone: PHONE, channel: 'login' })).status).toBe(201);
    expect((await before.post('/v1/verifications', { phone: PHONE, channel: 'other' })).status).toBe(201);
    const [loginCode, otherCode] = before.sms.messages.map((m) => m.templateParam.code as string);

    // Make sure the replica has everything, then promote it.
    const oldPrimary = new Redis(primary.port, '127.0.0.1');
    await oldPrimary.call('WAIT', '1', '5000');
    oldPrimary.disconnect();
    const s = new Redis(sentinel.port, '127.0.0.1');
    await s.call('SENTINEL', 'FAILOVER', 'mymaster');
    await until(async () => {
      const [, port] = (await s.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'mymaster')) as [string, string];
      return Number(port) === replica.port;
    }, 30_000, 50);
    s.disconnect();

    // The running instance follows: a short window of 503s is acceptable, wrong answers are not.
    const statuses: number[] = [];
    await until(async () => {
      const res = await before.post('/v1/verifications/check', { phone: PHONE, channel: 'login', code: loginCode as string });
      statuses.push(res.status);
      return res.status === 200;
    }, 30_000, 100);
    expect(statuses.every((status) => status === 200 || status === 503)).toBe(true);
    // Writes land on the new primary (scripts reloaded there after NOSCRIPT).
    expect((await before.post('/v1/verifications', { phone: '+8613900000000', channel: 'login' })).status).toBe(201);

    // A new instance after the failover shares the secret: a code from before the failover verifies.
    const after = await instance(prefix);
    let answer: { status: number; body: unknown } = { status: 503, body: {} };
    // Right after a failover a new client may still be settling on the new primary: 503s, never a wrong answer.
    await until(async () => {
      answer = await after.post('/v1/verifications/check', { phone: PHONE, channel: 'other', code: otherCode as string });
      return answer.status !== 503;
    }, 10_000, 50);
    expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: { status: 'approved' } });
    await Promise.all([before.app.close(), after.app.close()]);
  }, 90_000);
});
