/**
 * `npx tsx bench/store-cost.ts [--sends 300] [--concurrency 64] [--rounds 3]`
 *
 * What one successful send costs the Redis store alone, without HTTP or a provider: `concurrency`
 * loops each reserve a send of a new phone, yield one event-loop turn (where the provider call would
 * be), then commit it, `sends` times each, on a redis-server of its own. Prints, per round, Node CPU
 * and Redis CPU per send and Redis commands per send (`INFO commandstats`, the scripts' inner
 * commands included), with the commits of one turn sharing a call (the default) and with each commit
 * its own call. CPU per request is steadier here than in `npm run bench`, whose rounds share two
 * cores with the load generator and the double.
 */
import { Redis } from 'ioredis';
import { planSend } from '../src/domain/verification/rules.js';
import { connectRedisStore } from '../src/stores/redis/redis-store.js';
import { spawnRedisServer } from '../test/support/redis-server.js';

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}
const SENDS = flag('--sends', 300);
const CONCURRENCY = flag('--concurrency', 64);
const ROUNDS = flag('--rounds', 3);
const LIMITS = { channel: [{ count: 1_000_000, windowMs: 86_400_000, label: '1000000/1d' }], phone: [], ip: undefined, global: [] };

function redisCpuSeconds(info: string): number {
  return Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1]);
}

/** Commands Redis ran, scripts' inner commands included (EVAL/EVALSHA themselves counted too). */
function commandCount(stats: string): number {
  return [...stats.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)].filter(([, name]) => name !== 'info' && name !== 'config').reduce((sum, m) => sum + Number(m[2]), 0);
}

async function round(url: string, admin: Redis, batchCommits: boolean, first: number): Promise<string> {
  const prefix = `cost${first}:`;
  const store = await connectRedisStore(url, { prefix, commandTimeoutMs: 5_000, auditKey: `${prefix}audit`, audit: { retentionMs: 86_400_000, maxLen: undefined }, batchCommits });
  let next = first;
  const plan = () => {
    const phone = `+86139${String(next++).padStart(8, '0')}`;
    return planSend({ subject: { phone, channel: 'login' }, context: { phone, channel: 'login', ip: '10.0.0.1' }, sendId: `s${next}`, codeHash: 'abcdefghijklmnopqrstuv', codeTtlMs: 300_000, maxAttempts: 5, limits: LIMITS });
  };
  const loop = async (count: number): Promise<void> => {
    for (let i = 0; i < count; i++) {
      const p = plan();
      if (!(await store.reserveSend(p)).ok) throw new Error('reserve refused');
      await new Promise((resolve) => setImmediate(resolve));
      await store.commitSend(p, { provider: 'log', bizId: 'bench' });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, () => loop(Math.ceil(SENDS / 5)))); // warm-up
  await admin.config('RESETSTAT');
  const redisBefore = redisCpuSeconds(await admin.info('cpu'));
  const cpu = process.cpuUsage();
  const started = Date.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, () => loop(SENDS)));
  const node = process.cpuUsage(cpu);
  const wallMs = Date.now() - started;
  const redisSec = redisCpuSeconds(await admin.info('cpu')) - redisBefore;
  const commands = commandCount(await admin.info('commandstats'));
  await store.close();
  const sends = CONCURRENCY * SENDS;
  return `${batchCommits ? 'commits batched' : 'commit per call'}: ${((node.user + node.system) / sends).toFixed(1)} µs Node CPU/send, ${((redisSec * 1e6) / sends).toFixed(1)} µs Redis CPU/send, ${(commands / sends).toFixed(2)} Redis commands/send, ${Math.round((sends / wallMs) * 1000)} sends/s`;
}

const redis = await spawnRedisServer();
const admin = new Redis(redis.url);
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const batched of [true, false]) console.log(`round ${r + 1} ${await round(redis.url, admin, batched, (r * 2 + (batched ? 0 : 1)) * 1_000_000)}`);
  }
} finally {
  admin.disconnect();
  await redis.stop();
}
