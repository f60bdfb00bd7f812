import fp from 'fastify-plugin';
import type { Config } from '../../src/config/config.js';
import type { Logger } from '../../src/domain/logger.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { instrumentStore } from '../../src/metrics/metrics.js';
import { connectRedisStore } from '../../src/stores/redis/redis-store.js';
import type { VerificationStore } from '../../src/domain/store.js';

declare module 'fastify' {
  interface FastifyInstance {
    store: VerificationStore;
  }
}

export interface StorePluginOptions {
  readonly config: Config;
  /** A store made by the caller (tests); it is closed with the app all the same. */
  readonly store?: VerificationStore;
}

/** Decorates `fastify.store`: Redis when `REDIS_URL` is set, else the in-memory store. */
export default fp<StorePluginOptions>(
  async (fastify, { config, store: given }) => {
    const store = given ?? (await createStore(config, fastify.log));
    if (store.kind === 'memory') {
      fastify.log.warn(
        'REDIS_URL is unset: using the in-memory store. State lives in this one process only and is lost on restart.',
      );
    }
    // Every store call is timed and its failures counted (`store_operation_duration_seconds`, `store_errors_total`).
    fastify.decorate('store', instrumentStore(store, fastify.metrics));
    // `store_connected`: a ping at each scrape (on the store itself, so scrapes do not count as operations),
    // bounded well inside the 5 s the primary waits for each worker's metrics with WORKERS > 1.
    const scrapePingMs = Math.min(config.storeTimeoutMs, 2000);
    fastify.metrics.watchStore(() => answersWithin(store, scrapePingMs));
    fastify.addHook('onClose', async () => store.close());
  },
  { name: 'store', fastify: '5.x', dependencies: ['metrics'] },
);

/** Whether `store` answers a ping within `ms`. */
export function answersWithin(store: VerificationStore, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), ms);
  });
  return Promise.race([store.ping(), timeout])
    .then(
      () => true,
      () => false,
    )
    .finally(() => clearTimeout(timer));
}

async function createStore(config: Config, logger: Logger): Promise<VerificationStore> {
  if (!config.redis) return new MemoryStore({ audit: config.audit, verificationRetentionMs: config.verificationRetentionMs });
  return connectRedisStore(config.redis, {
    prefix: config.redisPrefix,
    verificationRetentionMs: config.verificationRetentionMs,
    commandTimeoutMs: config.storeTimeoutMs,
    auditKey: config.audit.stream,
    audit: config.audit,
    logger,
  });
}
