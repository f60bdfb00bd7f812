import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../plugins/app.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import type { VerificationStore } from '../../src/domain/store.js';
import { RecordingSmsProvider } from './recording-sms.js';
import { createHarness, type StoreHarness, type StoreKind } from './stores.js';

export interface PostAnswer {
  readonly status: number;
  readonly body: any;
  readonly headers: Record<string, unknown>;
  /** How long the answer took, in ms. */
  readonly ms: number;
}

/** `POST url` with a JSON body through `app.inject`. */
export function poster(app: FastifyInstance): (url: string, payload: unknown) => Promise<PostAnswer> {
  return async (url, payload) => {
    const started = Date.now();
    const response = await app.inject({ method: 'POST', url, payload: payload as object });
    return { status: response.statusCode, body: response.json(), headers: response.headers, ms: Date.now() - started };
  };
}

/** An app built from settings alone (its store from them too), with the recording SMS provider unless `SMS_PROVIDER` is set. */
export interface AppInstance {
  readonly app: FastifyInstance;
  readonly sms: RecordingSmsProvider;
  post(url: string, payload: unknown): Promise<PostAnswer>;
}

export async function startInstance(env: Record<string, string>): Promise<AppInstance> {
  const config = loadConfig({ LOG_LEVEL: 'silent', ...env });
  const sms = new RecordingSmsProvider();
  const app = await buildApp(config, { logger: false, ...(env.SMS_PROVIDER ? {} : { sms }) });
  return { app, sms, post: poster(app) };
}

export interface TestApp {
  readonly app: FastifyInstance;
  readonly config: Config;
  readonly sms: RecordingSmsProvider;
  readonly harness: StoreHarness;
  post(url: string, payload: unknown): Promise<PostAnswer>;
  close(): Promise<void>;
}

/** The whole app on a fresh store of `kind` (its own key prefix on Redis), settings from `env`. */
export interface TestAppOptions {
  readonly store?: VerificationStore;
  /** Use the provider `SMS_PROVIDER` names (e.g. Aliyun against the double) instead of the recording one. */
  readonly configuredSms?: boolean;
  /** Receives every log line (JSON) at `LOG_LEVEL` (default info). */
  readonly logLines?: string[];
}

export async function buildTestApp(
  kind: StoreKind,
  env: Record<string, string> = {},
  options: TestAppOptions = {},
): Promise<TestApp> {
  const harness = await createHarness(kind);
  const config = loadConfig({ LOG_LEVEL: options.logLines ? 'info' : 'silent', ...env });
  const sms = new RecordingSmsProvider();
  const lines = options.logLines;
  const logger = lines ? { level: config.logLevel, stream: { write: (line: string) => void lines.push(line) } } : false;
  const app = await buildApp(config, {
    logger,
    store: options.store ?? harness.store,
    sms: options.configuredSms ? undefined : sms,
  });
  await app.ready();
  return {
    app,
    config,
    sms,
    harness,
    post: poster(app),
    async close() {
      await app.close();
      await harness.close();
    },
  };
}
