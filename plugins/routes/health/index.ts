import type { FastifyPluginAsync, LogLevel } from 'fastify';
import fp from 'fastify-plugin';
import { answersWithin } from '../../decorators/store.js';

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
  const logLevel = probeLogLevel(fastify.log.level);
  const liveness = { summary: 'Liveness: the process runs', operationId: 'getLiveness', response: LIVENESS };
  fastify.get('/healthz', { logLevel, config: { auth: 'open' }, schema: liveness }, async () => ({ status: 'ok' }));

  const readiness = {
    summary: 'Readiness: the store answers and the process is not shutting down',
    operationId: 'getReadiness',
    response: READINESS,
  };
  fastify.get('/readyz', { logLevel, config: { auth: 'open' }, schema: readiness }, async (request, reply) => {
    if (fastify.draining) return reply.code(503).send({ status: 'draining' });
    const ready = await answersWithin(fastify.store, storeTimeoutMs);
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

const LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/**
 * Probes come every few seconds: their request lines ("incoming request", "request completed") count
 * as debug. The probe routes log at the service's level when that shows debug, else at `warn` or
 * above (what they log on purpose, such as an unreachable store, still shows).
 */
function probeLogLevel(serviceLevel: string | undefined): LogLevel | undefined {
  const rank = LEVELS.indexOf(serviceLevel as LogLevel);
  if (rank < 0) return undefined;
  return LEVELS[rank <= LEVELS.indexOf('debug') ? rank : Math.max(rank, LEVELS.indexOf('warn'))];
}
