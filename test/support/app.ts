import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../plugins/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { VerificationStore } from '../../src/store/store.js';
import { RecordingSmsProvider } from './recording-sms.js';
import { createHarness, type StoreHarness, type StoreKind } from './stores.js';

export interface TestApp {
  readonly app: FastifyInstance;
  readonly config: Config;
  readonly sms: RecordingSmsProvider;
  readonly harness: StoreHarness;
  post(url: string, payload: unknown): Promise<{ status: number; body: any; headers: Record<string, unknown> }>;
  close(): Promise<void>;
}

/** The whole app on a fresh store of `kind` (its own key prefix on Redis), settings from `env`. */
export async function buildTestApp(
  kind: StoreKind,
  env: Record<string, string> = {},
  options: { store?: VerificationStore } = {},
): Promise<TestApp> {
  const harness = await createHarness(kind);
  const config = loadConfig({ LOG_LEVEL: 'silent', ...env });
  const sms = new RecordingSmsProvider();
  const app = await buildApp(config, { logger: false, store: options.store ?? harness.store, sms });
  await app.ready();
  return {
    app,
    config,
    sms,
    harness,
    async post(url, payload) {
      const response = await app.inject({ method: 'POST', url, payload: payload as object });
      return { status: response.statusCode, body: response.json(), headers: response.headers };
    },
    async close() {
      await app.close();
      await harness.close();
    },
  };
}
