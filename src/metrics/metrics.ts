import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Histogram, Registry, type Metric } from 'prom-client';
import type { SmsProvider } from '../domain/sms-provider.js';
import type { VerificationStore } from '../domain/store.js';
import type { CheckCodeResult, SendCodeResult, SendNoticeResult, VerificationObserver } from '../domain/verification/verification-service.js';

/**
 * What the service counts, on a registry of its own (not prom-client's global one), so that
 * several apps in one process do not collide. Every label value is one of a small fixed set
 * or a provider/route name: never a phone number, a code or a token.
 */
export class Metrics implements VerificationObserver {
  readonly registry = new Registry();

  private readonly httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by route pattern, method and status code',
    labelNames: ['route', 'method', 'status_code'] as const,
    registers: [this.registry],
  });

  private readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by route pattern, method and status code',
    labelNames: ['route', 'method', 'status_code'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  private readonly codeSends = new Counter({
    name: 'sms_code_sends_total',
    help: 'Verification-code send requests, by outcome and reason (refusing limit, provider failure kind, invalid field)',
    labelNames: ['outcome', 'reason'] as const,
    registers: [this.registry],
  });

  private readonly codeChecks = new Counter({
    name: 'sms_code_checks_total',
    help: 'Verification-code checks, by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  private readonly notices = new Counter({
    name: 'sms_notices_total',
    help: 'Notification SMS requests, by outcome and reason',
    labelNames: ['outcome', 'reason'] as const,
    registers: [this.registry],
  });

  private readonly rateLimitRefusals = new Counter({
    name: 'sms_rate_limit_refusals_total',
    help: 'Requests refused by a limit: <scope>:<window> for sends, verify for wrong-guess limits',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });

  private readonly providerDuration = new Histogram({
    name: 'sms_provider_request_duration_seconds',
    help: 'SMS provider calls, by provider and result (ok, invalid_phone, rate_limited, failed, error)',
    labelNames: ['provider', 'result'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [this.registry],
  });

  private readonly providerErrors = new Counter({
    name: 'sms_provider_errors_total',
    help: 'SMS provider calls that failed, by provider and provider error code',
    labelNames: ['provider', 'code'] as const,
    registers: [this.registry],
  });

  private readonly storeDuration = new Histogram({
    name: 'store_operation_duration_seconds',
    help: 'Store (Redis) operations, by operation',
    labelNames: ['operation'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  private readonly storeErrors = new Counter({
    name: 'store_errors_total',
    help: 'Store (Redis) operations that failed, by operation',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });

  constructor() {
    // The process metrics are the process's: collected once, shown by every registry.
    for (const metric of processMetrics().getMetricsAsArray()) {
      this.registry.registerMetric(metric as unknown as Metric);
    }
  }

  /** The value of the Content-Type header for `text()`. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every metric in the Prometheus text exposition format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  observeHttp(route: string, method: string, statusCode: number, seconds: number): void {
    const labels = { route: safeLabel(route), method: safeLabel(method), status_code: String(statusCode) };
    this.httpRequests.inc(labels);
    this.httpDuration.observe(labels, seconds);
  }

  codeSent(result: SendCodeResult): void {
    this.codeSends.inc(this.sendLabels(result));
  }

  codeChecked(result: CheckCodeResult): void {
    const outcome = result.kind === 'invalid' ? 'invalid' : result.status;
    this.codeChecks.inc({ outcome });
    if (outcome === 'verify_limited') this.rateLimitRefusals.inc({ limit: 'verify' });
  }

  noticeSent(result: SendNoticeResult): void {
    this.notices.inc(this.sendLabels(result));
  }

  observeProviderCall(provider: string, result: string, seconds: number): void {
    this.providerDuration.observe({ provider: safeLabel(provider), result: safeLabel(result) }, seconds);
  }

  countProviderError(provider: string, code: string): void {
    this.providerErrors.inc({ provider: safeLabel(provider), code: safeLabel(code) });
  }

  observeStoreOperation(operation: string, seconds: number, failed: boolean): void {
    const labels = { operation: safeLabel(operation) };
    this.storeDuration.observe(labels, seconds);
    if (failed) this.storeErrors.inc(labels);
  }

  private sendLabels(result: SendCodeResult | SendNoticeResult): { outcome: string; reason: string } {
    switch (result.kind) {
      case 'sent':
        return { outcome: 'sent', reason: 'none' };
      case 'invalid':
        return { outcome: 'invalid', reason: result.field };
      case 'blocked':
        return { outcome: 'blocked', reason: 'phone_policy' };
      case 'send_failed':
        return { outcome: 'send_failed', reason: result.failure };
      case 'rate_limited': {
        const limit = safeLabel(`${result.scope}:${result.windows[result.window]?.label ?? result.window}`);
        this.rateLimitRefusals.inc({ limit });
        return { outcome: 'rate_limited', reason: limit };
      }
    }
  }
}

let sharedProcessRegistry: Registry | undefined;

/** prom-client's default metrics (CPU, memory, event loop, GC…), started once per process. */
function processMetrics(): Registry {
  if (!sharedProcessRegistry) {
    sharedProcessRegistry = new Registry();
    collectDefaultMetrics({ register: sharedProcessRegistry });
  }
  return sharedProcessRegistry;
}

const SAFE_LABEL = /^[A-Za-z0-9_.:/*-]{1,64}$/;

/**
 * Label values come from fixed sets, route patterns and provider codes. Anything else (or anything
 * holding a run of digits that could be a phone number or a code) is reported as `other`.
 */
function safeLabel(value: string): string {
  return SAFE_LABEL.test(value) && !/[0-9]{5,}/.test(value) ? value : 'other';
}

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
