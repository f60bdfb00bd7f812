import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisTopology } from './topology.js';

export type RedisClient = Redis | Cluster;

/**
 * Fail fast while Redis is away: no offline queue, one try per command, a bound
 * on every command. ioredis keeps reconnecting in the background.
 */
export function failFastOptions(commandTimeoutMs: number): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // Commands issued in the same tick share one write: about half the syscalls under load.
    enableAutoPipelining: true,
    commandTimeout: commandTimeoutMs,
    connectTimeout: Math.max(commandTimeoutMs, 1000),
    retryStrategy: (attempt: number) => Math.min(attempt * 100, 2000),
  };
}

/** A connected client for the topology (a URL string is a single node). */
export async function connectRedis(topology: RedisTopology | string, commandTimeoutMs: number): Promise<RedisClient> {
  const client = createRedisClient(typeof topology === 'string' ? { kind: 'single', url: topology } : topology, commandTimeoutMs);
  client.on('error', () => {
    // Connection errors surface as failed commands (→ 503); ioredis reconnects by itself.
  });
  await client.connect();
  return client;
}

function createRedisClient(topology: RedisTopology, commandTimeoutMs: number): RedisClient {
  const base = failFastOptions(commandTimeoutMs);
  switch (topology.kind) {
    case 'single':
      return new Redis(topology.url, base);
    case 'sentinel':
      return new Redis({
        ...base,
        sentinels: topology.sentinels.map(({ host, port }) => ({ host, port })),
        name: topology.name,
        ...(topology.password ? { password: topology.password, sentinelPassword: topology.password } : {}),
        ...(topology.tls ? { tls: {}, enableTLSForSentinelMode: true } : {}),
        // After a failover, talk to the new primary at once.
        failoverDetector: true,
      });
    case 'cluster': {
      // The cluster connects its nodes itself; a node-level lazyConnect makes connect() hang at times.
      // No auto-pipelining on Cluster: it picks a command's slot from its first argument, which for
      // our scripts is the key count, so a script could run on the wrong node (seen in the races test).
      const { lazyConnect: _nodeLazy, enableAutoPipelining: _pipelining, ...nodeOptions } = base;
      const options: ClusterOptions = {
        lazyConnect: true,
        enableOfflineQueue: false,
        enableReadyCheck: true,
        clusterRetryStrategy: (attempt: number) => Math.min(attempt * 100, 2000),
        redisOptions: {
          ...nodeOptions,
          ...(topology.password ? { password: topology.password } : {}),
          ...(topology.tls ? { tls: {} } : {}),
        },
      };
      return new Cluster(topology.nodes.map(({ host, port }) => ({ host, port })), options);
    }
  }
}
