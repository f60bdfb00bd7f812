import cluster from 'node:cluster';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './plugins/app.js';
import { loggableError } from './plugins/hooks/errors.js';
import { ConfigError, loadConfig } from './src/config/config.js';
import { answerPrimary, serveClusterMetrics } from './src/metrics/cluster.js';
import { describeSetup } from './src/config/describe.js';

/** The process entry: read the config once, build the app, listen, close on a signal. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }

  if (config.workers > 1 && cluster.isPrimary) {
    superviseWorkers(config.workers, config.shutdownTimeoutMs);
    return;
  }

  if (cluster.isWorker) answerPrimary();
  const app = await buildApp(config, { clusterWorker: cluster.isWorker });
  let closing = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (closing) return;
      closing = true;
      shutDown(app, signal, config.shutdownTimeoutMs);
    });
  }
  const address = await app.listen({ port: config.port, host: config.host });
  const { store, provider } = describeSetup(config);
  const docs = `${address}/docs`;
  app.log.info({ store, provider, docs }, `ready: store ${store}, provider ${provider}, API docs at ${docs}`);
}

/**
 * `WORKERS` > 1: this process only forks the workers, which share the listening socket
 * (Node's cluster module), and passes SIGTERM/SIGINT on to them; it exits when they all have,
 * with 0 only if each of them drained cleanly. A worker that dies unasked is replaced.
 * It also answers the workers' `/metrics` with the sum over all of them.
 */
function superviseWorkers(count: number, shutdownTimeoutMs: number): void {
  serveClusterMetrics();
  let stopping = false;
  let failed = false;
  for (let i = 0; i < count; i++) cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      failed ||= code !== 0;
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(failed ? 1 : 0);
      return;
    }
    process.stderr.write(`worker ${worker.process.pid} exited (${signal ?? code}); starting another\n`);
    cluster.fork();
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
      // The workers bound themselves by SHUTDOWN_TIMEOUT_MS; this is only a backstop.
      setTimeout(() => process.exit(1), shutdownTimeoutMs + 5_000).unref();
    });
  }
}

/**
 * Drains, then exits: `/readyz` answers 503 at once, the listener stops taking connections,
 * in-flight requests finish (their responses close their connections), then the store and the
 * provider close. Exits 0, or 1 if that took longer than `SHUTDOWN_TIMEOUT_MS` or failed.
 */
function shutDown(app: FastifyInstance, signal: NodeJS.Signals, timeoutMs: number): void {
  app.draining = true;
  app.log.info({ signal, timeoutMs }, 'shutting down: draining in-flight requests');
  const timer = setTimeout(() => {
    app.log.error({ timeoutMs }, 'shutdown timed out: exiting with requests still in flight');
    process.exit(1);
  }, timeoutMs);
  app.close().then(
    () => {
      clearTimeout(timer);
      app.log.info('shut down');
      process.exit(0);
    },
    (error: unknown) => {
      clearTimeout(timer);
      app.log.error({ error: loggableError(error) }, 'shutdown failed');
      process.exit(1);
    },
  );
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  process.stderr.write(`Failed to start: ${message}\n`);
  process.exit(1);
});
