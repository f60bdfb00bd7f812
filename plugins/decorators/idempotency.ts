import fp from 'fastify-plugin';
import type { Config } from '../../src/config/config.js';
import type { IdempotencyStore } from '../../src/domain/idempotency.js';
import { MemoryIdempotencyStore } from '../../src/stores/memory/memory-idempotency-store.js';
import { connectRedisIdempotencyStore } from '../../src/stores/redis/redis-idempotency-store.js';

declare module 'fastify' {
  interface FastifyInstance {
    idempotency: IdempotencyStore;
  }
}

export interface IdempotencyStorePluginOptions {
  readonly config: Config;
  /** A store made by the caller (tests); it is closed with the app all the same. */
  readonly store?: IdempotencyStore;
}

/**
 * Decorates `fastify.idempotency`: the records of `Idempotency-Key` requests, on the Redis the
 * settings name (its own connection, closed with the app), else in this process.
 */
export default fp<IdempotencyStorePluginOptions>(
  async (fastify, { config, store: given }) => {
    const store =
      given ??
      (config.redis
        ? await connectRedisIdempotencyStore(config.redis, { prefix: config.redisPrefix, commandTimeoutMs: config.storeTimeoutMs })
        : new MemoryIdempotencyStore());
    fastify.decorate('idempotency', store);
    fastify.addHook('onClose', async () => store.close());
  },
  { name: 'idempotency-store', fastify: '5.x' },
);
