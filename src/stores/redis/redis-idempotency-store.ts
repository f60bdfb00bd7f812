import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { BeginResult, IdempotencyStore, KeptResponse } from '../../domain/idempotency.js';
import { orUnavailable } from '../../domain/store-unavailable.js';
import { RedisDeadlines } from './deadlines.js';
import { connectRedis, type RedisClient } from './redis-client.js';
import type { RedisTopology } from './topology.js';

const lua = (name: string): string => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');

interface IdempotencyCommands {
  idemBegin(key: string, fingerprint: string, lease: string, inFlightMs: number, deadline: number | ''): Promise<[string, string?]>;
  idemComplete(key: string, lease: string, response: string, ttlMs: number): Promise<number>;
  idemAbandon(key: string, lease: string): Promise<number>;
}

/** The record key of an idempotency id: `<prefix>idem:{<id>}`, one key (one slot) per decision. */
export function idempotencyKey(prefix: string, id: string): string {
  return `${prefix}idem:{${id}}`;
}

export async function connectRedisIdempotencyStore(
  topology: RedisTopology | string,
  options: { readonly prefix: string; readonly commandTimeoutMs: number },
): Promise<RedisIdempotencyStore> {
  const client = await connectRedis(topology, options.commandTimeoutMs);
  const deadlines = new RedisDeadlines(client, options.commandTimeoutMs);
  await deadlines.sync();
  deadlines.watch();
  return new RedisIdempotencyStore(client, options.prefix, deadlines);
}

/**
 * Idempotency records on Redis (single node, Sentinel or Cluster): each call is one Lua script on one
 * key, so two instances can never both claim a key. Every record has a TTL. A Redis failure is
 * `StoreUnavailableError` (→ 503, nothing kept). A claim carries its request's deadline on Redis's
 * clock (RedisDeadlines) and is refused past it, so a request answered 503 leaves no in-flight record
 * behind (which would answer its retry 409 IDEMPOTENCY_KEY_IN_USE).
 */
export class RedisIdempotencyStore implements IdempotencyStore {
  readonly kind = 'redis' as const;
  private readonly client: RedisClient & IdempotencyCommands;

  constructor(
    client: RedisClient,
    private readonly prefix: string,
    private readonly deadlines?: RedisDeadlines,
  ) {
    client.defineCommand('idemBegin', { numberOfKeys: 1, lua: lua('idempotency-begin') });
    client.defineCommand('idemComplete', { numberOfKeys: 1, lua: lua('idempotency-complete') });
    client.defineCommand('idemAbandon', { numberOfKeys: 1, lua: lua('idempotency-abandon') });
    this.client = client as RedisClient & IdempotencyCommands;
  }

  async begin(id: string, fingerprint: string, inFlightMs: number): Promise<BeginResult> {
    const lease = randomUUID();
    const deadline = this.deadlines?.deadline() ?? '';
    const [kind, response] = await orUnavailable(this.client.idemBegin(this.key(id), fingerprint, lease, inFlightMs, deadline));
    switch (kind) {
      case 'started':
        return { kind, lease };
      case 'replay':
        return { kind, response: JSON.parse(response as string) as KeptResponse };
      case 'mismatch':
      case 'in_flight':
        return { kind };
      default:
        throw new Error(`unexpected idempotency reply ${String(kind)}`);
    }
  }

  async complete(id: string, lease: string, response: KeptResponse, ttlMs: number): Promise<boolean> {
    return (await orUnavailable(this.client.idemComplete(this.key(id), lease, JSON.stringify(response), ttlMs))) === 1;
  }

  async abandon(id: string, lease: string): Promise<void> {
    await orUnavailable(this.client.idemAbandon(this.key(id), lease));
  }

  async close(): Promise<void> {
    await this.client.quit().catch(() => this.client.disconnect());
  }

  private key(id: string): string {
    return idempotencyKey(this.prefix, id);
  }
}
