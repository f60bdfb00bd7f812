import fp from 'fastify-plugin';
import type { SendWindow } from '../../src/domain/limits/send-window.js';
import { joinClusterMetrics } from '../../src/metrics/cluster.js';
import { Metrics } from '../../src/metrics/metrics.js';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics;
  }
}

export interface MetricsPluginOptions {
  /** GLOBAL_SEND_LIMITS, reported as `sms_global_send_limit`. */
  readonly globalSendLimits?: readonly SendWindow[];
  /**
   * This process is one of the WORKERS (node:cluster): `/metrics` answers for every worker, through
   * the primary (see src/metrics/cluster.ts). Otherwise it answers for this app alone.
   */
  readonly clusterWorker?: boolean;
}

/** Route label for requests no route matched (404s): the raw URL is never a label. */
const UNMATCHED = 'unmatched';

/**
 * Decorates `fastify.metrics`, counts every answered request by route pattern, method and status,
 * and serves `GET /metrics` in the Prometheus text format. Register it before the parts it measures.
 */
export default fp<MetricsPluginOptions>(
  async (fastify, { globalSendLimits = [], clusterWorker = false }) => {
    const metrics = new Metrics();
    metrics.setGlobalSendLimits(globalSendLimits);
    fastify.decorate('metrics', metrics);
    const text = clusterWorker ? joinClusterMetrics(metrics.registry) : () => metrics.text();

    fastify.addHook('onResponse', async (request, reply) => {
      metrics.observeHttp(request.routeOptions.url ?? UNMATCHED, request.method, reply.statusCode, reply.elapsedTime / 1000);
    });

    fastify.get(
      '/metrics',
      {
        schema: {
          summary: 'Prometheus metrics',
          operationId: 'getMetrics',
          description:
            'Requests, sends, checks, notices, limits, provider and store latency, breaker and store state, build info, ' +
            'process metrics (text format 0.0.4). With WORKERS > 1, the sum over all workers.',
          tags: ['ops'],
        },
        config: { auth: 'ops', openapi: { response: { 200: { description: 'The metrics', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
      },
      async (request, reply) => {
        try {
          return await reply.type(metrics.contentType).send(await text());
        } catch (error) {
          request.log.warn({ reason: error instanceof Error ? error.message : String(error) }, 'metrics: could not collect every worker');
          return reply.code(503).type('text/plain; charset=utf-8').send('metrics unavailable: could not collect every worker; retry\n');
        }
      },
    );
  },
  { name: 'metrics', fastify: '5.x' },
);
