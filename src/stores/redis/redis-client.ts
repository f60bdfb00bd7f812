import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { silentLogger, type Logger } from '../../domain/logger.js';
import { describeTopology, type RedisTopology } from './topology.js';

export type RedisClient = Redis | Cluster;

/**
 * Fail fast while Redis is away: no offline queue, no retry of a command whose connection dropped
 * (it would run after its caller was answered), a bound on every command. ioredis keeps reconnecting
 * in the background. (The decision scripts also refuse to run past their deadline: see RedisDeadlines.)
 */
export function failFastOptions(commandTimeoutMs: number): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // Commands issued in the same tick share one write: about half the syscalls under load.
    enableAutoPipelining: true,
    commandTimeout: commandTimeoutMs,
    connectTimeout: Math.max(commandTimeoutMs, 1000),
    retryStrategy: (attempt: number) => Math.min(attempt * 100, 2000),
  };
}

const START_TIMEOUT_MS = 8_000;

/** Redis could not be reached at start-up: the message names the address (never a password) and the cause. */
export class RedisConnectError extends Error {
  override name = 'RedisConnectError';
}

/**
 * A connected client for the topology (a URL string is a single node). Losing the connection and
 * getting it back are logged once each, not once per retry.
 */
export async function connectRedis(topology: RedisTopology | string, commandTimeoutMs: number, logger: Logger = silentLogger): Promise<RedisClient> {
  const resolved: RedisTopology = typeof topology === 'string' ? { kind: 'single', url: topology } : topology;
  const address = describeTopology(resolved);
  const client = createRedisClient(resolved, commandTimeoutMs);
  let lastError: string | undefined;
  client.on('error', (error: Error) => {
    // Connection errors surface as failed commands (→ 503); ioredis reconnects by itself.
    lastError = errorText(error);
  });
  let lastNode: string | undefined;
  client.on('node error', (error: Error, node: string) => {
    lastNode = node;
    lastError ??= errorText(error);
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    // Sentinels are retried without end: give up before Fastify's plugin timeout (10 s) says less.
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no connection within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
    });
    await Promise.race([client.connect(), deadline]);
  } catch (error) {
    client.disconnect();
    const cause = `${lastError ?? errorText(error)}${lastNode ? ` (last node tried: ${lastNode})` : ''}`;
    throw new RedisConnectError(`cannot connect to Redis (${address}): ${redact(cause, resolved)}`);
  } finally {
    clearTimeout(timer);
  }
  // From here on, a cause is only news if it came after the last time the connection was good.
  client.on('ready', () => (lastError = undefined));
  watchConnection(client, address, logger, () => lastError);
  return client;
}

function watchConnection(client: RedisClient, address: string, logger: Logger, lastError: () => string | undefined): void {
  let lost = false;
  // 'reconnecting', not 'close': a close on purpose (quit at shutdown) is no loss. Every retry emits it.
  client.on('reconnecting', () => {
    if (lost) return;
    lost = true;
    const cause = lastError();
    logger.warn({ store: address, ...(cause ? { cause } : {}) }, 'Redis connection lost: requests that need the store answer 503 until it is back; reconnecting');
  });
  client.on('ready', () => {
    if (!lost) return;
    lost = false;
    logger.info({ store: address }, 'Redis connection back');
  });
}

/** The error's own words and, for a Cluster's, the last node's (`Failed to refresh slots cache.` says little). */
function errorText(error: unknown): string {
  const { message, lastNodeError } = error as { message?: string; lastNodeError?: { message?: string } };
  return [message, lastNodeError?.message].filter(Boolean).join(' ') || String(error);
}

function redact(text: string, topology: RedisTopology): string {
  const password = topology.kind === 'single' ? safeUrl(topology.url)?.password : topology.password;
  return password ? text.split(decodeURIComponent(password)).join('***').split(password).join('***') : text;
}

function safeUrl(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
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
      // Retries after a failover, a CLUSTERDOWN or TRYAGAIN, and redirections, all bounded inside the
      // command's own deadline: a command is retried at most until STORE_TIMEOUT_MS has passed.
      const retryDelayMs = Math.max(10, Math.min(100, Math.floor(commandTimeoutMs / 5)));
      const options: ClusterOptions = {
        lazyConnect: true,
        enableOfflineQueue: false,
        enableReadyCheck: true,
        retryDelayOnFailover: retryDelayMs,
        retryDelayOnClusterDown: retryDelayMs,
        retryDelayOnTryAgain: retryDelayMs,
        retryDelayOnMoved: 0,
        maxRedirections: Math.max(1, Math.floor(commandTimeoutMs / retryDelayMs)),
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
