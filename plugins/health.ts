import type { FastifyPluginAsync } from 'fastify';

export interface HealthOptions {
  /** How long `/readyz` waits for the store before answering 503. */
  readonly storeTimeoutMs: number;
}

/** `/healthz`: the process runs. `/readyz`: it can decide requests (the store answers). */
const health: FastifyPluginAsync<HealthOptions> = async (fastify, { storeTimeoutMs }) => {
  fastify.get('/healthz', async () => ({ status: 'ok' }));

  fastify.get('/readyz', async (request, reply) => {
    const ready = await withTimeout(fastify.store.ping(), storeTimeoutMs).then(
      () => true,
      () => false,
    );
    if (!ready) request.log.warn('readiness check: store unavailable');
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable' });
  });
};

export default health;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
