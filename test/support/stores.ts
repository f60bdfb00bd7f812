import { randomUUID } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { inject } from 'vitest';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { connectRedisStore } from '../../src/stores/redis/redis-store.js';
import { parseHostPorts } from '../../src/config/redis-topology.js';
import type { VerificationStore } from '../../src/domain/store.js';

/** A store under test plus the means to move its time forward and look inside it. */
export interface StoreHarness {
  readonly store: VerificationStore;
  readonly prefix: string;
  /** Lets `ms` of the store's own clock pass (a fake clock, or Redis `TIME` awaited). */
  advance(ms: number): Promise<void>;
  /** Every key (Redis) or record (memory) the store holds for this harness, the audit trail aside. */
  stateCount(): Promise<number>;
  close(): Promise<void>;
}

export const TEST_AUDIT = { retentionMs: 86_400_000, maxLen: undefined };

export type StoreKind = 'memory' | 'redis' | 'cluster';
/** Every suite that runs on "each store" runs on these: the memory store, one Redis, a 3-primary Cluster. */
export const STORE_KINDS: StoreKind[] = ['memory', 'redis', 'cluster'];

export function requireRedisUrl(): string {
  const url = inject('redisUrl');
  if (!url) throw new Error(inject('redisError') || 'no Redis for the Redis suites');
  return url;
}

export function uniquePrefix(): string {
  return `test:${randomUUID().slice(0, 8)}:`;
}

export function requireClusterNodes(): string {
  const nodes = inject('redisClusterNodes');
  if (!nodes) throw new Error(inject('redisClusterError') || 'no Redis Cluster for the Cluster suites');
  return nodes;
}

/** Store settings a suite may change. */
export interface HarnessOptions {
  /** VERIFICATION_RETENTION (default 24h). */
  readonly verificationRetentionMs?: number;
}

export async function createHarness(kind: StoreKind, timeoutMs = 1000, options: HarnessOptions = {}): Promise<StoreHarness> {
  if (kind === 'memory') return memoryHarness(options);
  return kind === 'redis' ? redisHarness(timeoutMs, options) : clusterHarness(timeoutMs, options);
}

/**
 * Verification records and OutId indexes are kept `VERIFICATION_RETENTION` whatever the windows, so
 * `stateCount` (what a phone's codes and send windows leave behind) does not count them.
 */
function isRetainedRecord(key: string, prefix: string): boolean {
  return key.endsWith(':ver') || key.startsWith(`${prefix}out:`);
}

export async function clusterHarness(timeoutMs = 1000, options: HarnessOptions = {}): Promise<StoreHarness> {
  const nodes = parseHostPorts('REDIS_CLUSTER_NODES', requireClusterNodes());
  const prefix = uniquePrefix();
  const store = await connectRedisStore(
    { kind: 'cluster', nodes, tls: false },
    { prefix, commandTimeoutMs: timeoutMs, auditKey: `${prefix}audit`, audit: TEST_AUDIT, ...options },
  );
  const admin = new Cluster(nodes.map(({ host, port }) => ({ host, port })));
  const anyNode = new Redis({ host: nodes[0]?.host, port: nodes[0]?.port });
  return {
    store,
    prefix,
    advance: async (ms) => {
      const target = (await redisTimeMs(anyNode)) + ms;
      await until(async () => (await redisTimeMs(anyNode)) >= target, ms + 5_000, 5);
    },
    stateCount: async () => {
      const keys = (await Promise.all(admin.nodes('master').map((node) => keysWithPrefix(node, prefix)))).flat();
      return keys.filter((key) => key !== `${prefix}audit` && !isRetainedRecord(key, prefix)).length;
    },
    close: async () => {
      await store.close();
      admin.disconnect();
      anyNode.disconnect();
    },
  };
}

export function memoryHarness(options: HarnessOptions = {}): StoreHarness {
  let now = Date.UTC(2026, 0, 1);
  const store = new MemoryStore({ now: () => now, audit: TEST_AUDIT, ...options });
  return {
    store,
    prefix: '',
    advance: async (ms) => {
      now += ms;
    },
    stateCount: async () => store.size(),
    close: () => store.close(),
  };
}

export async function redisHarness(timeoutMs = 1000, options: HarnessOptions = {}): Promise<StoreHarness> {
  const url = requireRedisUrl();
  const prefix = uniquePrefix();
  const store = await connectRedisStore(url, {
    prefix,
    commandTimeoutMs: timeoutMs,
    auditKey: `${prefix}audit`,
    audit: TEST_AUDIT,
    ...options,
  });
  const admin = new Redis(url);
  return {
    store,
    prefix,
    advance: async (ms) => {
      const target = (await redisTimeMs(admin)) + ms;
      await until(async () => (await redisTimeMs(admin)) >= target, ms + 5_000, 5);
    },
    stateCount: async () =>
      (await keysWithPrefix(admin, prefix)).filter((key) => key !== `${prefix}audit` && !isRetainedRecord(key, prefix)).length,
    close: async () => {
      await store.close();
      admin.disconnect();
    },
  };
}

export async function redisTimeMs(redis: Redis): Promise<number> {
  const [seconds, micros] = await redis.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

export async function keysWithPrefix(redis: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

/** Polls `condition` until it holds: a condition awaited, not a fixed sleep. */
export async function until(condition: () => Promise<boolean> | boolean, timeoutMs = 5_000, everyMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
