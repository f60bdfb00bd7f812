import type { FastifyInstance } from 'fastify';
import { buildApp } from './plugins/app.js';
import { loggableError } from './plugins/errors.js';
import { ConfigError, loadConfig } from './src/config.js';

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

  const app = await buildApp(config);
  let closing = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (closing) return;
      closing = true;
      shutDown(app, signal, config.shutdownTimeoutMs);
    });
  }
  await app.listen({ port: config.port, host: config.host });
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
