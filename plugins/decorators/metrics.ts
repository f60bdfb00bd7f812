import fp from 'fastify-plugin';
import { Metrics } from '../../src/metrics/metrics.js';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics;
  }
}

/** Route label for requests no route matched (404s): the raw URL is never a label. */
const UNMATCHED = 'unmatched';

/**
 * Decorates `fastify.metrics`, counts every answered request by route pattern, method and status,
 * and serves `GET /metrics` in the Prometheus text format. Register it before the parts it measures.
 */
export default fp(
  async (fastify) => {
    const metrics = new Metrics();
    fastify.decorate('metrics', metrics);

    fastify.addHook('onResponse', async (request, reply) => {
      metrics.observeHttp(request.routeOptions.url ?? UNMATCHED, request.method, reply.statusCode, reply.elapsedTime / 1000);
    });

    fastify.get(
      '/metrics',
      {
        schema: {
          summary: 'Prometheus metrics',
          operationId: 'getMetrics',
          description: 'Requests, sends, checks, notices, limits, provider and store latency, process metrics (text format 0.0.4).',
          tags: ['ops'],
        },
        config: { auth: 'ops', openapi: { response: { 200: { description: 'The metrics', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
      },
      async (_request, reply) => reply.type(metrics.contentType).send(await metrics.text()),
    );
  },
  { name: 'metrics', fastify: '5.x' },
);
