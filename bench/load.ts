/**
 * The load generator, run as its own process (forked by bench/run.ts) so that autocannon never
 * shares an event loop with the service. It receives one LoadSpec over IPC, runs an optional
 * warm-up and then the measured round, and sends back one LoadResult.
 *
 * Latency is recorded here from autocannon's per-response `responseTime` (float ms) into a
 * microsecond histogram: autocannon's own latency histogram has 1 ms resolution.
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { phoneOf } from './common.js';

export type LoadKind = 'send' | 'check' | 'flow' | 'baseline';

export interface LoadSpec {
  readonly kind: LoadKind;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly connections: number;
  readonly durationSec: number;
  readonly warmupSec: number;
  /** send / flow: the first phone counter value (each request takes the next one). */
  readonly phoneBase: number;
  /** check / baseline: phones 0 … phoneCount-1 (from `checkPhoneBase`) hold codes; each request picks one at random. */
  readonly phoneCount: number;
  readonly checkPhoneBase: number;
  /** check: the code every check sends (verified wrong for every phone by the population step). */
  readonly wrongCode: string;
  readonly channel: string;
  /** Per-request timeout of autocannon (seconds). */
  readonly timeoutSec: number;
}

export interface LoadResult {
  readonly kind: LoadKind;
  readonly durationSec: number;
  readonly requests: number;
  readonly requestsPerSec: number;
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number; readonly mean: number };
  readonly statusCounts: Record<string, number>;
  /** Socket errors, including timeouts. */
  readonly socketErrors: number;
  readonly timeouts: number;
  /** Chained flows abandoned because the send answered without a code. */
  readonly resets: number;
  /** CPU seconds this load generator used during the measured round. */
  readonly loadCpuSec: number;
}

const HEADERS = { 'content-type': 'application/json' };

interface FlowContext {
  phone?: string;
  code?: string;
}

function requestsFor(spec: LoadSpec, counter: { next: number }): autocannon.Request[] {
  const randomPhone = (): string => phoneOf(spec.checkPhoneBase + Math.floor(Math.random() * spec.phoneCount));
  switch (spec.kind) {
    case 'send':
      return [
        {
          method: 'POST',
          path: '/v1/verifications',
          headers: HEADERS,
          setupRequest: (req) => ({ ...req, body: JSON.stringify({ phone: phoneOf(counter.next++), channel: spec.channel }) }),
        },
      ];
    case 'check':
      return [
        {
          method: 'POST',
          path: '/v1/verifications/check',
          headers: HEADERS,
          setupRequest: (req) => ({
            ...req,
            body: JSON.stringify({ phone: randomPhone(), channel: spec.channel, code: spec.wrongCode }),
          }),
        },
      ];
    case 'baseline':
      return [
        {
          method: 'POST',
          path: '/baseline',
          headers: HEADERS,
          setupRequest: (req) => ({
            ...req,
            body: JSON.stringify({ phone: randomPhone(), channel: spec.channel, code: spec.wrongCode }),
          }),
        },
      ];
    case 'flow':
      return [
        {
          method: 'POST',
          path: '/v1/verifications',
          headers: HEADERS,
          setupRequest: (req, context) => {
            const ctx = context as FlowContext;
            ctx.phone = phoneOf(counter.next++);
            ctx.code = undefined;
            return { ...req, body: JSON.stringify({ phone: ctx.phone, channel: spec.channel }) };
          },
          onResponse: (status, body, context) => {
            if (status !== 201) return;
            try {
              const parsed = JSON.parse(body) as { code?: unknown };
              if (typeof parsed.code === 'string') (context as FlowContext).code = parsed.code;
            } catch {
              // no code: the check step is skipped (counted in `resets`)
            }
          },
        },
        {
          method: 'POST',
          path: '/v1/verifications/check',
          headers: HEADERS,
          // A falsy return makes autocannon restart the chain from the send.
          setupRequest: (req, context) => {
            const ctx = context as FlowContext;
            if (!ctx.phone || !ctx.code) return undefined as unknown as autocannon.Request;
            return { ...req, body: JSON.stringify({ phone: ctx.phone, channel: spec.channel, code: ctx.code }) };
          },
        },
      ];
  }
}

interface Round {
  result: autocannon.Result;
  histogram: RecordableHistogram;
  cpuSec: number;
}

async function round(spec: LoadSpec, durationSec: number, counter: { next: number }): Promise<Round> {
  const histogram = createHistogram();
  const cpuBefore = process.cpuUsage();
  const instance = autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: durationSec,
    pipelining: 1,
    timeout: spec.timeoutSec,
    requests: requestsFor(spec, counter),
  });
  (instance as unknown as NodeJS.EventEmitter).on('response', (...args: unknown[]) => {
    const responseTime = Number(args[3]);
    if (Number.isFinite(responseTime)) histogram.record(Math.max(1, Math.round(responseTime * 1000)));
  });
  const result = await instance;
  const cpu = process.cpuUsage(cpuBefore);
  return { result, histogram, cpuSec: (cpu.user + cpu.system) / 1e6 };
}

const ms = (us: number): number => Math.round(us) / 1000;

export async function runLoad(spec: LoadSpec, onMeasureStart?: () => void): Promise<LoadResult> {
  const counter = { next: spec.phoneBase };
  if (spec.warmupSec > 0) await round(spec, spec.warmupSec, counter);
  onMeasureStart?.();
  const { result, histogram, cpuSec } = await round(spec, spec.durationSec, counter);
  const statusCounts: Record<string, number> = {};
  for (const [status, stat] of Object.entries(result.statusCodeStats ?? {})) statusCounts[status] = stat.count ?? 0;
  const requests = Object.values(statusCounts).reduce((a, b) => a + b, 0);
  return {
    kind: spec.kind,
    durationSec: result.duration,
    requests,
    requestsPerSec: Math.round((requests / result.duration) * 10) / 10,
    latencyMs: {
      p50: ms(histogram.percentile(50)),
      p90: ms(histogram.percentile(90)),
      p99: ms(histogram.percentile(99)),
      max: ms(histogram.max),
      mean: ms(histogram.mean),
    },
    statusCounts,
    socketErrors: result.errors,
    timeouts: result.timeouts,
    resets: result.resets ?? 0,
    loadCpuSec: Math.round(cpuSec * 100) / 100,
  };
}

// As a forked child: one spec in, one result out, then exit. Exits too if the parent goes away.
if (process.send) {
  process.on('disconnect', () => process.exit(0));
  process.once('message', (message: unknown) => {
    runLoad(message as LoadSpec, () => process.send?.({ phase: 'measure' })).then(
      (result) => process.send?.({ ok: true, result }, () => process.exit(0)),
      (error: unknown) => {
        const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
        process.send?.({ ok: false, error: text }, () => process.exit(1));
      },
    );
  });
}
