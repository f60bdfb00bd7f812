/**
 * The data the check workloads need and what it costs Redis: a population of phones holding codes
 * (each proven to reject WRONG_CODE), and Redis memory per phone holding a code, under the bench
 * limits and under the service's default limits.
 */
import type { Redis } from 'ioredis';
import { CHANNEL, CHECK_PHONE_BASE, DEFAULTS_PHONE_BASE, log, phoneOf, PREFIX, WRONG_CODE } from './common.js';
import type { Options } from './options.js';
import { startService, withServer, type Env } from './service.js';

const MEMORY_SAMPLE = 100;

export interface Population {
  phones: number;
  seconds: number;
  /** Sends repeated because the probe code happened to be the right one. */
  resends: number;
}

/**
 * Sends a code to `count` phones (bounded concurrency), and checks WRONG_CODE once against each:
 * 422 proves it is wrong for that phone (in the rare case it was right, 200, the phone gets a new
 * code and is probed again), so every check of the workload answers 422.
 */
export async function populate(baseUrl: string, count: number, concurrency = 64): Promise<Population> {
  const started = Date.now();
  let next = 0;
  let resends = 0;
  const post = async (path: string, body: unknown): Promise<number> => {
    const response = await fetch(`${baseUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    if (response.status >= 500 || (path.endsWith('/verifications') && response.status !== 201)) {
      throw new Error(`population: POST ${path} answered ${response.status}: ${text.slice(0, 300)}`);
    }
    return response.status;
  };
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const phone = phoneOf(CHECK_PHONE_BASE + i);
      for (let attempt = 0; ; attempt++) {
        await post('/v1/verifications', { phone, channel: CHANNEL });
        const status = await post('/v1/verifications/check', { phone, channel: CHANNEL, code: WRONG_CODE });
        if (status === 422) break;
        if (status !== 200 || attempt >= 5) throw new Error(`population: probe check of ${phone} answered ${status}`);
        resends++;
        log(`population: the probe code was the right one for ${phone} (1 in 10^CODE_LENGTH); sent it a new code`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { phones: count, seconds: (Date.now() - started) / 1000, resends };
}

export interface RedisMemory {
  /** Keys of one phone holding a code, with MEMORY USAGE of each. */
  example: { phone: string; keys: Array<{ key: string; type: string; bytes: number }>; bytes: number };
  /** Average over `sampled` phones of the summed MEMORY USAGE of each phone's keys. */
  averageBytesPerPhone: number;
  maxBytesPerPhone: number;
  sampled: number;
  keysPerPhone: number;
  /** (used_memory after − before population) / phones: every byte, the audit stream included. */
  usedMemoryDeltaPerPhone: number;
  auditStream: { key: string; entries: number; bytes: number; bytesPerEntry: number } | undefined;
}

export async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? 0);
}

export async function measureRedisMemory(redis: Redis, phones: number, usedBefore: number, phoneBase = CHECK_PHONE_BASE): Promise<RedisMemory> {
  const step = Math.max(1, Math.floor(phones / MEMORY_SAMPLE));
  const sample = new Map<string, string[]>();
  for (let i = 0; i < phones && sample.size < MEMORY_SAMPLE; i += step) sample.set(`+86${phoneOf(phoneBase + i)}`, []);
  // One SCAN over the phone keys; the hash tag {<E.164>} names the phone of each key.
  let cursor = '0';
  do {
    const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}{+*}*`, 'COUNT', 1000);
    cursor = nextCursor;
    for (const key of keys) {
      const tag = /\{([^}]*)\}/.exec(key)?.[1];
      if (tag !== undefined) sample.get(tag)?.push(key);
    }
  } while (cursor !== '0');

  const perPhone: Array<{ phone: string; keys: Array<{ key: string; type: string; bytes: number }>; bytes: number }> = [];
  for (const [phone, keys] of sample) {
    const measured = [];
    for (const key of keys.sort()) {
      const bytes = Number((await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
      measured.push({ key, type: await redis.type(key), bytes });
    }
    perPhone.push({ phone, keys: measured, bytes: measured.reduce((sum, k) => sum + k.bytes, 0) });
  }
  const holding = perPhone.filter((p) => p.keys.length > 0);
  const usedAfter = await usedMemory(redis);

  const auditKey = `${PREFIX}audit`;
  let auditStream: RedisMemory['auditStream'];
  if ((await redis.exists(auditKey)) === 1) {
    const entries = await redis.xlen(auditKey);
    const bytes = Number((await redis.call('MEMORY', 'USAGE', auditKey, 'SAMPLES', '0')) ?? 0);
    auditStream = { key: auditKey, entries, bytes, bytesPerEntry: entries ? Math.round(bytes / entries) : 0 };
  }
  const example = holding[0] ?? { phone: '-', keys: [], bytes: 0 };
  return {
    example,
    averageBytesPerPhone: holding.length ? Math.round(holding.reduce((s, p) => s + p.bytes, 0) / holding.length) : 0,
    maxBytesPerPhone: Math.max(0, ...holding.map((p) => p.bytes)),
    sampled: holding.length,
    keysPerPhone: holding.length ? Math.round((holding.reduce((s, p) => s + p.keys.length, 0) / holding.length) * 100) / 100 : 0,
    usedMemoryDeltaPerPhone: Math.round((usedAfter - usedBefore) / phones),
    auditStream,
  };
}


/**
 * Redis memory per phone under the service's default limits (SEND_LIMITS 1/60s,5/1h,10/1d,
 * PHONE_SEND_LIMITS 20/1d, VERIFY_FAILURE_LIMITS 20/1d): the send logs and the wrong-guess log are
 * then kept for a day, next to the code. Each of MEMORY_SAMPLE phones gets one send and one wrong check.
 */
export async function measureDefaultLimitsMemory(env: Env, options: Options): Promise<RedisMemory> {
  await env.redisClient.flushall();
  return withServer(
    () => startService(env, 'memory-defaults', { ...options, profileDir: undefined }, { redis: true, exposeCode: false, defaultLimits: true }),
    async (server) => {
      const usedBefore = await usedMemory(env.redisClient);
      let next = 0;
      const worker = async (): Promise<void> => {
        for (let i = next++; i < MEMORY_SAMPLE; i = next++) {
          const phone = phoneOf(DEFAULTS_PHONE_BASE + i);
          for (const [path, body, ok] of [
            ['/v1/verifications', { phone, channel: CHANNEL }, [201]],
            ['/v1/verifications/check', { phone, channel: CHANNEL, code: WRONG_CODE }, [422, 200]],
          ] as const) {
            const response = await fetch(`${server.url}${path}`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify(body),
              signal: AbortSignal.timeout(10_000),
            });
            const text = await response.text();
            if (!(ok as readonly number[]).includes(response.status)) throw new Error(`default-limits memory: POST ${path} answered ${response.status}: ${text.slice(0, 200)}`);
          }
        }
      };
      await Promise.all(Array.from({ length: 16 }, worker));
      return measureRedisMemory(env.redisClient, MEMORY_SAMPLE, usedBefore, DEFAULTS_PHONE_BASE);
    },
  );
}
