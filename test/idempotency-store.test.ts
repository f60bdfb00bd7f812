import { randomUUID } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { IdempotencyStore, KeptResponse } from '../src/domain/idempotency.js';
import { MemoryIdempotencyStore } from '../src/stores/memory/memory-idempotency-store.js';
import { connectRedisIdempotencyStore, idempotencyKey } from '../src/stores/redis/redis-idempotency-store.js';
import { parseHostPorts } from '../src/config/redis-topology.js';
import { requireClusterNodes, requireRedisUrl, uniquePrefix, until, type StoreKind } from './support/stores.js';

const ANSWER: KeptResponse = { statusCode: 201, headers: { 'content-type': 'application/json; charset=utf-8' }, body: '{"ok":true}' };
const HOUR = 3_600_000;

interface Harness {
  readonly store: IdempotencyStore;
  /** Lets `ms` pass on the store's clock (fake for memory, real for Redis). */
  advance(ms: number): Promise<void>;
  /** The record's remaining lifetime in ms (Redis PTTL), or undefined on memory. */
  pttl(id: string): Promise<number | undefined>;
  close(): Promise<void>;
}

async function harness(kind: StoreKind): Promise<Harness> {
  if (kind === 'memory') {
    let now = Date.UTC(2026, 0, 1);
    const store = new MemoryIdempotencyStore({ now: () => now });
    return { store, advance: async (ms) => void (now += ms), pttl: async () => undefined, close: () => store.close() };
  }
  const prefix = uniquePrefix();
  const topology = kind === 'redis' ? requireRedisUrl() : { kind: 'cluster' as const, nodes: parseHostPorts('nodes', requireClusterNodes()), tls: false };
  const store = await connectRedisIdempotencyStore(topology, { prefix, commandTimeoutMs: 5000 });
  const admin = typeof topology === 'string' ? new Redis(topology) : new Cluster(topology.nodes.map(({ host, port }) => ({ host, port })));
  return {
    store,
    advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    pttl: async (id) => admin.pttl(idempotencyKey(prefix, id)),
    close: async () => {
      await store.close();
      admin.disconnect();
    },
  };
}

describe.each<StoreKind>(['memory', 'redis', 'cluster'])('idempotency store on %s', (kind) => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  it('lets one request claim a key; the same body then sees it in flight, another body a mismatch', async () => {
    h = await harness(kind);
    const id = randomUUID();
    const claims = await Promise.all(Array.from({ length: 20 }, () => h.store.begin(id, 'fp', 60_000)));
    expect(claims.filter((c) => c.kind === 'started')).toHaveLength(1);
    expect(claims.filter((c) => c.kind === 'in_flight')).toHaveLength(19);
    expect(await h.store.begin(id, 'other', 60_000)).toEqual({ kind: 'mismatch' });
  });

  it('keeps the answer of the lease holder for the TTL, and replays it to the same body only', async () => {
    h = await harness(kind);
    const id = randomUUID();
    const begun = await h.store.begin(id, 'fp', 60_000);
    if (begun.kind !== 'started') throw new Error(`expected started, got ${begun.kind}`);
    const inFlight = await h.pttl(id);
    if (inFlight !== undefined) expect(inFlight).toBeGreaterThan(50_000);
    if (inFlight !== undefined) expect(inFlight).toBeLessThanOrEqual(60_000);
    expect(await h.store.complete(id, 'not-the-lease', ANSWER, 24 * HOUR)).toBe(false);
    expect(await h.store.complete(id, begun.lease, ANSWER, 24 * HOUR)).toBe(true);
    const kept = await h.pttl(id);
    if (kept !== undefined) expect(kept).toBeGreaterThan(23 * HOUR);
    if (kept !== undefined) expect(kept).toBeLessThanOrEqual(24 * HOUR);
    expect(await h.store.begin(id, 'fp', 60_000)).toEqual({ kind: 'replay', response: ANSWER });
    expect(await h.store.begin(id, 'other', 60_000)).toEqual({ kind: 'mismatch' });
  });

  it('frees an abandoned key at once, for a retry to run', async () => {
    h = await harness(kind);
    const id = randomUUID();
    const begun = await h.store.begin(id, 'fp', 60_000);
    if (begun.kind !== 'started') throw new Error(`expected started, got ${begun.kind}`);
    await h.store.abandon(id, 'not-the-lease');
    expect((await h.store.begin(id, 'fp', 60_000)).kind).toBe('in_flight');
    await h.store.abandon(id, begun.lease);
    expect((await h.store.begin(id, 'fp', 60_000)).kind).toBe('started');
  });

  it('frees a key whose request never finished once the in-flight bound passes; its late answer is dropped', async () => {
    h = await harness(kind);
    const id = randomUUID();
    const crashed = await h.store.begin(id, 'fp', 300);
    if (crashed.kind !== 'started') throw new Error(`expected started, got ${crashed.kind}`);
    await h.advance(310);
    let retry = await h.store.begin(id, 'fp', 60_000);
    // Redis expires keys within a millisecond or so of their deadline: wait for it rather than guess.
    if (retry.kind === 'in_flight') await until(async () => (retry = await h.store.begin(id, 'fp', 60_000)).kind !== 'in_flight', 5_000);
    if (retry.kind !== 'started') throw new Error(`expected started, got ${retry.kind}`);
    expect(await h.store.complete(id, crashed.lease, ANSWER, HOUR)).toBe(false);
    expect((await h.store.begin(id, 'fp', 60_000)).kind).toBe('in_flight');
    expect(await h.store.complete(id, retry.lease, { ...ANSWER, body: '{"retry":true}' }, HOUR)).toBe(true);
    expect(await h.store.begin(id, 'fp', 60_000)).toEqual({ kind: 'replay', response: { ...ANSWER, body: '{"retry":true}' } });
  });

  it('forgets an answer once its TTL has passed', async () => {
    h = await harness(kind);
    const id = randomUUID();
    const begun = await h.store.begin(id, 'fp', 60_000);
    if (begun.kind !== 'started') throw new Error(`expected started, got ${begun.kind}`);
    await h.store.complete(id, begun.lease, ANSWER, 300);
    await h.advance(310);
    await until(async () => (await h.store.begin(id, 'other', 60_000)).kind === 'started', 5_000);
  });
});
