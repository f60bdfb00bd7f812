import { performance } from 'node:perf_hooks';
import type { SmsProvider } from '../domain/sms-provider.js';
import type { VerificationStore } from '../domain/store.js';
import type { Metrics, OperationMetrics, ProviderCallMetrics } from './metrics.js';

/**
 * The provider, with every `send` timed by provider and result and every failure counted by the
 * provider's error code (children of the provider's label, bound once). Every other method and
 * property is the provider's own.
 */
export function instrumentSmsProvider(provider: SmsProvider, metrics: Metrics): SmsProvider {
  const calls = metrics.providerCalls(provider.name);
  const send = (message: Parameters<SmsProvider['send']>[0]): Promise<Awaited<ReturnType<SmsProvider['send']>>> =>
    timedSend(provider, message, calls, performance.now());
  return forwarding(provider, (name) => (name === 'send' ? send : calling(provider, name)));
}

async function timedSend(provider: SmsProvider, message: Parameters<SmsProvider['send']>[0], calls: ProviderCallMetrics, started: number) {
  try {
    const outcome = await provider.send(message);
    calls.observe(outcome.ok ? 'ok' : outcome.failure, (performance.now() - started) / 1000);
    if (!outcome.ok) calls.countError(outcome.providerCode);
    return outcome;
  } catch (error) {
    calls.observe('error', (performance.now() - started) / 1000);
    calls.countError(error instanceof Error ? error.name : 'UnknownError');
    throw error;
  }
}

/**
 * The store, with every method that returns a promise timed by operation (the method's name) and
 * every rejection counted; the audit reader's methods count as `audit.<name>`. The methods are found
 * once, here (the store's own and its prototype chain's, so methods added to the interface later are
 * measured too), each wrapped with its operation's metric children bound in advance: no Proxy and no
 * label objects per call. Each call reads the method from the store and runs it on the store itself,
 * so private fields, methods replaced later and Proxy stores (tests) keep working.
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
  const result = forwarding(target, (name) => timed(metrics.storeOperation(prefix + name), target, name));
  for (const [name, wrap] of Object.entries(nested)) {
    let source: unknown;
    let wrapped: unknown;
    Object.defineProperty(result, name, {
      enumerable: true,
      get: () => {
        const value: unknown = Reflect.get(target, name, target);
        if (value === null || typeof value !== 'object') return value;
        if (value !== source) {
          source = value;
          wrapped = wrap(value);
        }
        return wrapped;
      },
    });
  }
  return result;
}

/**
 * A plain object standing for `target`: each method (own or inherited, found now) replaced by what
 * `wrapMethod` makes of its name, every other property read from `target` when it is read.
 */
function forwarding<T extends object>(target: T, wrapMethod: (name: string) => unknown): T {
  const result: Record<string, unknown> = {};
  const seen = new Set<string>();
  for (let object: object | null = target; object && object !== Object.prototype; object = Object.getPrototypeOf(object) as object | null) {
    for (const name of Object.getOwnPropertyNames(object)) {
      if (seen.has(name) || name === 'constructor') continue;
      seen.add(name);
      const descriptor = Object.getOwnPropertyDescriptor(object, name) as PropertyDescriptor;
      if (typeof descriptor.value === 'function') {
        result[name] = wrapMethod(name);
      } else {
        Object.defineProperty(result, name, { enumerable: true, configurable: true, get: () => Reflect.get(target, name, target) });
      }
    }
  }
  return result as T;
}

/** Calls `target[name]` as read at each call (as a Proxy would: a method replaced later, or made by a Proxy target, is the one called). */
function calling(target: object, name: string): (...args: unknown[]) => unknown {
  return (...args) => (Reflect.get(target, name, target) as (...a: unknown[]) => unknown).apply(target, args);
}

function timed(operation: OperationMetrics, target: object, name: string): (...args: unknown[]) => unknown {
  return function (this: unknown, ...args: unknown[]): unknown {
    const started = performance.now();
    let result: unknown;
    try {
      result = (Reflect.get(target, name, target) as (...a: unknown[]) => unknown).apply(target, args);
    } catch (error) {
      operation.observe(started, true);
      throw error;
    }
    return isThenable(result) ? settle(result, operation, started) : result;
  };
}

async function settle(result: PromiseLike<unknown>, operation: OperationMetrics, started: number): Promise<unknown> {
  try {
    const value = await result;
    operation.observe(started, false);
    return value;
  } catch (error) {
    operation.observe(started, true);
    throw error;
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}
