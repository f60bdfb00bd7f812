/**
 * The baseline of the benchmark: a bare Fastify route that runs one tiny Lua script (EVALSHA via
 * ioredis `defineCommand`) on the same Redis as the service, and nothing else: no schema, no
 * hashing, no audit. Its throughput is what one Redis round trip per request allows on this
 * machine; bench/run.ts prints each workload's throughput as a ratio of it.
 *
 * Env: PORT, HOST (127.0.0.1), REDIS_URL (required). `node --import tsx bench/baseline-server.ts`
 */
import Fastify from 'fastify';
import { Redis } from 'ioredis';

interface BaselineRedis extends Redis {
  benchTouch(key: string): Promise<number>;
}

async function main(): Promise<void> {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error('REDIS_URL is required');
  const redis = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 }) as BaselineRedis;
  redis.defineCommand('benchTouch', { numberOfKeys: 1, lua: "return redis.call('INCR', KEYS[1])" });
  await redis.connect();

  const app = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'warn' } });
  app.post('/baseline', async (request) => {
    const body = request.body as { phone?: unknown };
    const n = await redis.benchTouch(`bench:{${String(body.phone)}}:n`);
    return { n };
  });
  app.get('/healthz', async () => ({ ok: true }));

  const close = (): void => {
    app.close().finally(() => {
      redis.disconnect();
      process.exit(0);
    });
  };
  process.once('SIGTERM', close);
  process.once('SIGINT', close);
  await app.listen({ port: Number(process.env.PORT ?? '0'), host: process.env.HOST ?? '127.0.0.1' });
}

main().catch((error: unknown) => {
  process.stderr.write(`baseline failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
