import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { SendPlan } from '../src/domain/store.js';
import { planSend } from '../src/domain/verification/rules.js';
import { subjectKeys } from '../src/stores/keys.js';
import { connectRedisStore, type RedisStore } from '../src/stores/redis/redis-store.js';
import { MAX_COMMITS_PER_CALL } from '../src/stores/redis/scripts/commit-send.js';
import { spawnRedisServer, type SpawnedRedis } from './support/redis-server.js';
import { TEST_AUDIT, uniquePrefix } from './support/stores.js';

/**
 * Issue 13: one store round trip per successful send. The commits asked for in one event-loop turn
 * share one script call on one node (CommitSends); each decides as if alone, against its own
 * deadline. (test/store-model.test.ts proves a shared call decides like the same commits in order.)
 * Its own redis-server: the test counts the scripts Redis ran.
 */
let redis: SpawnedRedis;
let admin: Redis;
let store: RedisStore | undefined;
let prefix: string;

beforeAll(async () => {
  redis = await spawnRedisServer();
  admin = new Redis(redis.url);
});
afterAll(async () => {
  admin.disconnect();
  await redis.stop();
});
afterEach(async () => {
  vi.restoreAllMocks();
  await store?.close();
  store = undefined;
});

async function connect(): Promise<RedisStore> {
  prefix = uniquePrefix();
  store = await connectRedisStore(redis.url, { prefix, commandTimeoutMs: 2_000, auditKey: `${prefix}audit`, audit: TEST_AUDIT });
  return store;
}

const plan = (n: number): SendPlan =>
  planSend({
    subject: { phone: `+86138000${String(n).padStart(5, '0')}`, channel: 'login' },
    context: { phone: `+86138000${String(n).padStart(5, '0')}`, channel: 'login', ip: `10.0.0.${n % 250}` },
    sendId: `send-${n}`,
    codeHash: `H${n}`,
    codeTtlMs: 60_000,
    maxAttempts: 3,
    limits: { channel: [{ count: 5, windowMs: 60_000, label: '5/1m' }], phone: [], ip: undefined, global: [] },
  });

/** Script runs Redis counted so far (EVALSHA and EVAL: ioredis falls back to EVAL on NOSCRIPT). */
async function scriptRuns(): Promise<number> {
  const stats = await admin.info('commandstats');
  return [...stats.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

async function reserveAll(s: RedisStore, plans: SendPlan[]): Promise<void> {
  for (const p of plans) expect((await s.reserveSend(p)).ok).toBe(true);
}

async function sentEvents(): Promise<Array<Record<string, string>>> {
  const entries = (await admin.xrange(`${prefix}audit`, '-', '+')) as Array<[string, string[]]>;
  return entries
    .map(([, fields]) => Object.fromEntries(fields.reduce<string[][]>((pairs, v, i) => (i % 2 ? pairs : [...pairs, [v, fields[i + 1] as string]]), [])))
    .filter((fields) => fields.event === 'code.sent');
}

describe('commits of one event-loop turn share one script call (one node)', () => {
  it('runs 10 concurrent commits as one script; each promotes its own code and audits with its own context', async () => {
    const s = await connect();
    const plans = Array.from({ length: 10 }, (_, i) => plan(i + 1));
    await reserveAll(s, plans);
    const before = await scriptRuns();
    const results = await Promise.all(plans.map((p) => s.commitSend(p, { provider: 'test', outId: p.sendId })));
    expect(await scriptRuns()).toBe(before + 1);
    expect(results).toEqual(plans.map(() => 'promoted'));
    for (const p of plans) {
      expect((await s.checkCode({ subject: p.subject, context: p.context, codeHash: p.codeHash as string, maxAttempts: 3, checkId: `c-${p.sendId}`, failureLimits: [] })).status).toBe('approved');
    }
    const events = await sentEvents();
    expect(events.map((e) => [e.phone, e.ip, e.outId])).toEqual(plans.map((p) => [p.context.phone, p.context.ip, p.sendId]));
  });

  it(`splits a turn of more than ${MAX_COMMITS_PER_CALL} commits into calls of at most that many`, async () => {
    const s = await connect();
    const plans = Array.from({ length: MAX_COMMITS_PER_CALL + 3 }, (_, i) => plan(100 + i));
    await reserveAll(s, plans);
    const before = await scriptRuns();
    const results = await Promise.all(plans.map((p) => s.commitSend(p, { provider: 'test' })));
    expect(await scriptRuns()).toBe(before + 2);
    expect(new Set(results)).toEqual(new Set(['promoted']));
  });

  it('a commit that raises an error inside the script fails alone; the others in its call are decided', async () => {
    const s = await connect();
    const [broken, fine] = [plan(301), plan(302)];
    await reserveAll(s, [broken, fine]);
    // A verification record the script cannot read: committing that send raises a Lua error.
    await admin.hset(subjectKeys(prefix, broken.subject).verifications, broken.sendId, 'not a record');
    const before = await scriptRuns();
    const [brokenCommit, fineCommit] = await Promise.allSettled([s.commitSend(broken, { provider: 'test' }), s.commitSend(fine, { provider: 'test' })]);
    expect(await scriptRuns()).toBe(before + 1);
    expect(brokenCommit).toMatchObject({ status: 'rejected', reason: { name: 'CommitFailedError' } });
    expect(fineCommit).toEqual({ status: 'fulfilled', value: 'promoted' });
    expect((await sentEvents()).map((e) => e.phone)).toEqual([fine.context.phone]);
  });

  it('a commit past its deadline does nothing and fails alone; the others in its call are decided', async () => {
    const s = await connect();
    const [late, onTime] = [plan(201), plan(202)];
    await reserveAll(s, [late, onTime]);
    const before = await scriptRuns();
    // The late commit is asked while this process's monotonic clock reads an hour behind: its
    // deadline (taken when asked) is an hour gone by the time the shared call runs.
    const realNow = performance.now.bind(performance);
    const spy = vi.spyOn(performance, 'now').mockImplementation(() => realNow() - 3_600_000);
    const lateCommit = s.commitSend(late, { provider: 'test' });
    spy.mockRestore();
    const onTimeCommit = s.commitSend(onTime, { provider: 'test' });
    await expect(lateCommit).rejects.toMatchObject({ name: 'LateScriptError' });
    expect(await onTimeCommit).toBe('promoted');
    expect(await scriptRuns()).toBe(before + 1);
    // Nothing of the late commit was written: no event, and its pending code is still pending, so a
    // retry promotes it.
    expect((await sentEvents()).map((e) => e.phone)).toEqual([onTime.context.phone]);
    expect(await s.commitSend(late, { provider: 'test' })).toBe('promoted');
  });
});
