import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';
import type { SendWindow } from '../domain/limits/send-window.js';
import { BREAKER_STATES, type BreakerState } from '../providers/circuit-breaker.js';
import { buildInfo } from './build-info.js';
import type { ReceiptResult } from '../domain/store.js';
import type {
  CheckCodeResult,
  ReceiptReport,
  SendCodeResult,
  SendNoticeResult,
  VerificationObserver,
} from '../domain/verification/verification-service.js';

export { instrumentSmsProvider, instrumentStore } from './instrument.js';

/** One store operation's duration and error children, bound once (see `Metrics.storeOperation`). */
export interface OperationMetrics {
  /** `started`: `performance.now()` when the operation began. */
  observe(started: number, failed: boolean): void;
}

/** One provider's call metrics, its label bound once (see `Metrics.providerCalls`). */
export interface ProviderCallMetrics {
  observe(result: string, seconds: number): void;
  countError(code: string): void;
}

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

  private readonly receipts = new Counter({
    name: 'sms_receipts_total',
    help: 'Delivery reports received, by result (delivered, undelivered, duplicate, unknown: no send has its out_id) and provider error code',
    labelNames: ['result', 'error_code'] as const,
    registers: [this.registry],
  });

  private readonly deliveries = new Counter({
    name: 'sms_deliveries_total',
    help: 'Sends whose delivery report came, once per send, by kind (code, notice), channel and result; the delivered share of a channel is delivered / (delivered + undelivered)',
    labelNames: ['kind', 'channel', 'result'] as const,
    registers: [this.registry],
  });

  private readonly rateLimitRefusals = new Counter({
    name: 'sms_rate_limit_refusals_total',
    help: 'Requests refused by a limit: <scope>:<window> for sends and notices (scope notice for NOTICE_LIMITS), verify for wrong-guess limits, ip_check for IP_CHECK_LIMITS',
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

  /*
   * The gauges below say how things stand. `aggregator` is how the primary combines the workers'
   * values with WORKERS > 1 (prom-client's cluster aggregation; counters and histograms are summed).
   */
  private readonly breakers = new Map<string, () => BreakerState>();
  private readonly breakerState = new Gauge({
    name: 'sms_provider_circuit_state',
    help: 'Provider circuit breaker: 1 for the state it is in (closed, open, half_open, isolated), else 0; summed over workers',
    labelNames: ['provider', 'state'] as const,
    registers: [this.registry],
    aggregator: 'sum',
    collect: () => this.collectBreakers(),
  });

  private storeProbe: (() => Promise<boolean>) | undefined;
  private readonly storeConnected = new Gauge({
    name: 'store_connected',
    help: 'Whether the store answers a ping (1) or not (0), read at each scrape; the lowest over workers',
    registers: [this.registry],
    aggregator: 'min',
    collect: async () => {
      if (this.storeProbe) this.storeConnected.set((await this.storeProbe()) ? 1 : 0);
    },
  });

  private readonly globalSendLimit = new Gauge({
    name: 'sms_global_send_limit',
    help: 'GLOBAL_SEND_LIMITS: SMS (codes and notices) allowed per window for the whole deployment, by limit (as in sms_rate_limit_refusals_total) and window',
    labelNames: ['limit', 'window'] as const,
    registers: [this.registry],
    aggregator: 'first',
  });

  constructor() {
    new Gauge({
      name: 'sms_verify_build_info',
      help: 'Always 1: the service version (package.json) and the Node.js version running it',
      labelNames: ['version', 'node_version'] as const,
      registers: [this.registry],
      aggregator: 'first',
    }).set({ version: buildInfo.version, node_version: buildInfo.nodeVersion }, 1);
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

  /** Reports the circuit of `provider` in `sms_provider_circuit_state`, read at each scrape. */
  watchBreaker(provider: string, state: () => BreakerState): void {
    this.breakers.set(safeLabel(provider), state);
  }

  /** `store_connected` is what `probe` answers at each scrape (it must settle within a bounded time). */
  watchStore(probe: () => Promise<boolean>): void {
    this.storeProbe = probe;
  }

  /** The deployment's send budget (`GLOBAL_SEND_LIMITS`), so alerts can tell when it is nearly spent. */
  setGlobalSendLimits(windows: readonly SendWindow[]): void {
    this.globalSendLimit.reset();
    for (const window of windows) {
      const duration = window.label.slice(window.label.indexOf('/') + 1);
      this.globalSendLimit.set({ limit: limitLabel(`global:${window.label}`), window: limitLabel(duration) }, window.count);
    }
  }

  /**
   * Per (route, method, status): the request counter's and the duration histogram's children, bound on
   * first use. Routes are patterns and statuses a small set, so the map stays small; past 1,000 entries
   * (something unexpected) it stops growing and the rest go through label objects.
   */
  private readonly httpChildren = new Map<string, { count: { inc(): void }; duration: { observe(seconds: number): void } }>();

  observeHttp(route: string, method: string, statusCode: number, seconds: number): void {
    const key = `${method} ${statusCode} ${route}`;
    let children = this.httpChildren.get(key);
    if (!children) {
      const labels = { route: safeLabel(route), method: safeLabel(method), status_code: String(statusCode) };
      children = { count: this.httpRequests.labels(labels), duration: this.httpDuration.labels(labels) };
      if (this.httpChildren.size < 1000) this.httpChildren.set(key, children);
    }
    children.count.inc();
    children.duration.observe(seconds);
  }

  codeSent(result: SendCodeResult): void {
    this.codeSends.inc(this.sendLabels(result));
  }

  codeChecked(result: CheckCodeResult): void {
    const outcome = result.kind === 'checked' ? result.status : result.kind;
    this.codeChecks.inc({ outcome });
    if (outcome === 'verify_limited') this.rateLimitRefusals.inc({ limit: 'verify' });
    if (outcome === 'check_limited') this.rateLimitRefusals.inc({ limit: 'ip_check' });
  }

  noticeSent(result: SendNoticeResult): void {
    this.notices.inc(this.sendLabels(result));
  }

  receiptRecorded(report: ReceiptReport, result: ReceiptResult): void {
    const delivery = report.delivered ? 'delivered' : 'undelivered';
    const counted = result.outcome === 'recorded' || result.outcome === 'early';
    this.receipts.inc({ result: counted ? delivery : result.outcome, error_code: safeLabel(report.errorCode) });
    if (counted && result.kind && result.subject) {
      this.deliveries.inc({ kind: result.kind, channel: safeLabel(result.subject.channel), result: delivery });
    }
  }

  /** `store_operation_duration_seconds` and `store_errors_total` of one operation, bound once. */
  storeOperation(operation: string): OperationMetrics {
    const labels = { operation: safeLabel(operation) };
    const duration = this.storeDuration.labels(labels);
    const errors = this.storeErrors.labels(labels);
    return {
      observe: (started, failed) => {
        duration.observe((performance.now() - started) / 1000);
        if (failed) errors.inc();
      },
    };
  }

  /** `sms_provider_request_duration_seconds` and `sms_provider_errors_total` of one provider. */
  providerCalls(provider: string): ProviderCallMetrics {
    const name = safeLabel(provider);
    return {
      observe: (result, seconds) => this.providerDuration.observe({ provider: name, result: safeLabel(result) }, seconds),
      countError: (code) => this.providerErrors.inc({ provider: name, code: safeLabel(code) }),
    };
  }

  private collectBreakers(): void {
    this.breakerState.reset();
    for (const [provider, state] of this.breakers) {
      const current = state();
      for (const name of BREAKER_STATES) this.breakerState.set({ provider, state: name }, name === current ? 1 : 0);
    }
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
      case 'send_unconfirmed':
        return { outcome: 'send_unconfirmed', reason: 'unconfirmed' };
      case 'template_not_allowed':
        return { outcome: 'invalid', reason: 'template_not_allowed' };
      case 'rate_limited': {
        const limit = limitLabel(`${result.scope}:${result.windows[result.window]?.label ?? result.window}`);
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
 * A limit as configured (`global:10000/1d`): it comes from the settings, never from a request, so a
 * count of five digits or more is no phone number and stays as written (alerts match on it).
 */
function limitLabel(value: string): string {
  return SAFE_LABEL.test(value) ? value : 'other';
}
