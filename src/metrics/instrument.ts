import { performance } from 'node:perf_hooks';
import type { SmsProvider } from '../domain/sms-provider.js';
import type { VerificationStore } from '../domain/store.js';
import type { Metrics } from './metrics.js';

/**
 * The provider, with every `send` timed by provider and result and every failure counted by the
 * provider's error code. Everything else passes through to the provider unchanged.
 */
export function instrumentSmsProvider(provider: SmsProvider, metrics: Metrics): SmsProvider {
  const send: SmsProvider['send'] = async (message) => {
    const started = performance.now();
    const seconds = (): number => (performance.now() - started) / 1000;
    try {
      const outcome = await provider.send(message);
      metrics.observeProviderCall(provider.name, outcome.ok ? 'ok' : outcome.failure, seconds());
      if (!outcome.ok) metrics.countProviderError(provider.name, outcome.providerCode);
      return outcome;
    } catch (error) {
      metrics.observeProviderCall(provider.name, 'error', seconds());
      metrics.countProviderError(provider.name, error instanceof Error ? error.name : 'UnknownError');
      throw error;
    }
  };
  return new Proxy(provider, {
    get(target, property) {
      if (property === 'send') return send;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/**
 * The store, with every method that returns a promise timed by operation (the method's name) and
 * every rejection counted. A Proxy, so methods added to the interface later are measured too; the
 * audit reader's methods count as `audit.<name>`. Methods run on the store itself (not the proxy),
 * so private fields keep working.
 */
export function instrumentStore(store: VerificationStore, metrics: Metrics): VerificationStore {
  return instrumentAsyncMethods(store, metrics, '', { audit: (reader) => instrumentAsyncMethods(reader, metrics, 'audit.') });
}

function instrumentAsyncMethods<T extends object>(
  target: T,
  metrics: Metrics,
  prefix: string,
  nested: Record<string, (value: object) => object> = {},
): T {
  const wrapped = new Map<string, { readonly source: unknown; readonly result: unknown }>();
  return new Proxy(target, {
    get(object, property) {
      const value: unknown = Reflect.get(object, property, object);
      if (typeof property !== 'string') return value;
      const cached = wrapped.get(property);
      if (cached && cached.source === value) return cached.result;
      let result: unknown = value;
      const wrapNested = nested[property];
      if (wrapNested && value !== null && typeof value === 'object') {
        result = wrapNested(value);
      } else if (typeof value === 'function') {
        result = timed(prefix + property, value as (...args: unknown[]) => unknown, object, metrics);
      }
      wrapped.set(property, { source: value, result });
      return result;
    },
  });
}

function timed(
  operation: string,
  method: (...args: unknown[]) => unknown,
  self: object,
  metrics: Metrics,
): (...args: unknown[]) => unknown {
  return function (this: unknown, ...args: unknown[]): unknown {
    const started = performance.now();
    const done = (failed: boolean): void =>
      metrics.observeStoreOperation(operation, (performance.now() - started) / 1000, failed);
    let result: unknown;
    try {
      result = method.apply(self, args);
    } catch (error) {
      done(true);
      throw error;
    }
    if (!isThenable(result)) return result;
    return Promise.resolve(result).then(
      (value) => {
        done(false);
        return value;
      },
      (error: unknown) => {
        done(true);
        throw error;
      },
    );
  };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}
