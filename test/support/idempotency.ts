import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../plugins/app.js';
import { loadConfig } from '../../src/config/config.js';
import type { SmsMessage, SmsOutcome } from '../../src/domain/sms-provider.js';
import type { VerificationStore } from '../../src/domain/store.js';
import { RecordingSmsProvider } from './recording-sms.js';
import { createHarness, requireClusterNodes, requireRedisUrl, type StoreHarness, type StoreKind } from './stores.js';

/** The settings that put an app (and its idempotency records) on `kind`. */
export function topologyEnv(kind: StoreKind, prefix: string): Record<string, string> {
  if (kind === 'memory') return {};
  const where: Record<string, string> = kind === 'redis' ? { REDIS_URL: requireRedisUrl() } : { REDIS_CLUSTER_NODES: requireClusterNodes() };
  return { ...where, REDIS_PREFIX: prefix, STORE_TIMEOUT_MS: '5000' };
}

/** A recording provider whose sends wait until `release()`: a request held in flight. */
export class GatedSmsProvider extends RecordingSmsProvider {
  private readonly gate = deferred();
  private readonly firstArrival = deferred();

  override async send(message: SmsMessage): Promise<SmsOutcome> {
    this.firstArrival.resolve();
    await this.gate.promise;
    return super.send(message);
  }

  /** Resolves once a send has reached the gate. */
  arrived(): Promise<void> {
    return this.firstArrival.promise;
  }

  release(): void {
    this.gate.resolve();
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

/** A store that fails as an unreachable Redis would (→ 503 STORE_UNAVAILABLE) while `down` is true. */
export function switchableStore(inner: VerificationStore): VerificationStore & { down: boolean } {
  const state = { down: false };
  return new Proxy(inner, {
    get(target, property, receiver) {
      if (property === 'down') return state.down;
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (state.down && property === 'reserveSend') return Promise.reject(new Error('connect ECONNREFUSED'));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
    set(_target, property, value) {
      if (property !== 'down') return false;
      state.down = Boolean(value);
      return true;
    },
  }) as VerificationStore & { down: boolean };
}

export interface IdemApp {
  readonly app: FastifyInstance;
  readonly sms: RecordingSmsProvider;
  readonly harness: StoreHarness;
  send(url: string, body: unknown, key?: string, headers?: Record<string, string>): Promise<Answer>;
  close(): Promise<void>;
}

export interface Answer {
  readonly status: number;
  readonly body: any;
  readonly raw: string;
  readonly headers: Record<string, unknown>;
}

/** The app on a fresh store of `kind` (its own prefix), idempotency records on the same Redis. */
export async function idemApp(
  kind: StoreKind,
  env: Record<string, string> = {},
  options: { sms?: RecordingSmsProvider; wrap?: (store: VerificationStore) => VerificationStore } = {},
): Promise<IdemApp> {
  const harness = await createHarness(kind, 5000);
  const config = loadConfig({ LOG_LEVEL: 'silent', ...topologyEnv(kind, harness.prefix), ...env });
  const sms = options.sms ?? new RecordingSmsProvider();
  const app = await buildApp(config, { logger: false, sms, store: options.wrap ? options.wrap(harness.store) : harness.store });
  await app.ready();
  return {
    app,
    sms,
    harness,
    send: sender(app),
    async close() {
      await app.close();
      await harness.close();
    },
  };
}

export function sender(app: FastifyInstance): IdemApp['send'] {
  return async (url, body, key, headers = {}) => {
    const response = await app.inject({
      method: 'POST',
      url,
      payload: typeof body === 'string' ? body : JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...(key === undefined ? {} : { 'idempotency-key': key }), ...headers },
    });
    return { status: response.statusCode, body: response.json(), raw: response.body, headers: response.headers };
  };
}
