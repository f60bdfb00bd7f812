import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyInstance {
    /** Set when shutdown begins: `/readyz` answers 503 and responses close their connection. */
    draining: boolean;
  }
}

export interface HealthOptions {
  /** How long `/readyz` waits for the store before answering 503. */
  readonly storeTimeoutMs: number;
}

/**
 * `/healthz`: the process runs. `/readyz`: it can decide requests (the store answers) and is not
 * shutting down. Decorates `fastify.draining`; once it is set, every response says `Connection: close`,
 * so keep-alive clients do not hold the process open while it drains.
 */
const health: FastifyPluginAsync<HealthOptions> = async (fastify, { storeTimeoutMs }) => {
  fastify.decorate('draining', false);
  fastify.addHook('onSend', async (_request, reply) => {
    if (fastify.draining) reply.header('connection', 'close');
  });

  // Open: probes carry no key. The docs group and describe them from the same declaration.
  const liveness = { summary: 'Liveness: the process runs', operationId: 'getLiveness', response: LIVENESS };
  fastify.get('/healthz', { config: { auth: 'open' }, schema: liveness }, async () => ({ status: 'ok' }));

  const readiness = {
    summary: 'Readiness: the store answers and the process is not shutting down',
    operationId: 'getReadiness',
    response: READINESS,
  };
  fastify.get('/readyz', { config: { auth: 'open' }, schema: readiness }, async (request, reply) => {
    if (fastify.draining) return reply.code(503).send({ status: 'draining' });
    const ready = await withTimeout(fastify.store.ping(), storeTimeoutMs).then(
      () => true,
      () => false,
    );
    if (!ready) request.log.warn('readiness check: store unavailable');
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable' });
  });
};

const status = (values: string[], description: string) => ({
  description,
  type: 'object',
  properties: { status: { type: 'string', enum: values } },
  required: ['status'],
});
const LIVENESS = { 200: status(['ok'], 'The process runs') };
const READINESS = {
  200: status(['ready'], 'Ready for requests'),
  503: status(['unavailable', 'draining'], 'Not ready: the store did not answer in time, or the process is shutting down'),
};

export default fp(health, { name: 'health', fastify: '5.x', dependencies: ['store'] });

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
