/**
 * One measured round: autocannon in its own forked process (bench/load.ts) against a started
 * server, with the CPU time of every process involved sampled around the measured part, then the
 * server's RSS, heap and log volume. Produces one WorkloadOutcome (one row of the report).
 */
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR, CHANNEL, CHECK_PHONE_BASE, ROOT, WRONG_CODE } from './common.js';
import type { LoadKind, LoadResult, LoadSpec } from './load.js';
import type { Options } from './options.js';
import type { Population } from './redis-memory.js';
import { cpuSeconds, machineBusySeconds, maxProcessRssBytes, own, peakRssBytes, rssBytes, stop, syscallCounts, type Started } from './procs.js';
import { perRequest, redisCounters, type RedisCounters, type RedisPerRequest } from './redis-stats.js';
import { profileBaseOf, type Env } from './service.js';

export interface Measured {
  load: LoadResult;
  /** The measured round on CLOCK_MONOTONIC in µs (the clock of V8's .cpuprofile timestamps). */
  windowUs: [number, number];
  /**
   * CPU seconds used during the measured round, per process; `other`: the rest of the machine
   * (processes that are not the benchmark's — e.g. a test suite running beside it: noise).
   */
  cpu: { service: number; redis: number; fake: number; load: number; other: number };
  /** The service's read/write system calls per answered request during the measured round. */
  syscallsPerRequest: { reads: number; writes: number };
  /** Redis CPU and commands per answered request (INFO cpu / INFO commandstats deltas). */
  redis: RedisPerRequest;
  /** TCP connections the Dysmsapi double accepted: during warm-up + measured round, and during the measured round. */
  providerConnections: { total: number; measured: number };
}

export interface WorkloadOutcome {
  name: string;
  kind: LoadKind;
  store: 'redis' | 'memory';
  description: string;
  expectedStatuses: number[];
  requestsPerSec: number;
  /** flow: completed send+check pairs per second. */
  flowsPerSec?: number;
  ratioToBaseline?: number;
  latencyMs: LoadResult['latencyMs'];
  statusCounts: Record<string, number>;
  unexpectedStatuses: number;
  socketErrors: number;
  timeouts: number;
  errors: number;
  rssBytes: number;
  peakRssBytes: number;
  cpuSec: Measured['cpu'];
  /** Service CPU per answered request (µs): the number that decides throughput once it is CPU-bound. */
  serviceCpuUsPerRequest: number;
  syscallsPerRequest: Measured['syscallsPerRequest'];
  redis: RedisPerRequest;
  providerConnections: Measured['providerConnections'];
  /** The largest RSS of one process of the tree (with WORKERS: per process), bytes. */
  maxProcessRssBytes: number;
  /** From the service's own /metrics right after the round (prom-client default metrics), bytes. */
  heap?: { heapTotal: number; heapUsed: number; external: number };
  serviceLogLines: number;
  population?: Population;
  workers?: number;
  error?: string;
}

/** Runs one LoadSpec in a forked autocannon process; samples CPU of the others around the measured round. */
async function runLoadProcess(spec: LoadSpec, servicePid: number, env: Env): Promise<Measured> {
  const connectionsAtStart = await env.fakeConnections();
  const child = own(
    fork(join(BENCH_DIR, 'load.ts'), [], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  const limitMs = (spec.warmupSec + spec.durationSec + 60) * 1000;
  const redisPid = env.redis.process.pid as number;
  return new Promise<Measured>((resolvePromise, reject) => {
    let before = { service: 0, redis: 0, fake: 0, machine: 0, self: 0 };
    let syscallsBefore = { reads: 0, writes: 0 };
    let redisBefore: Promise<RedisCounters> = redisCounters(env.redisClient);
    let connectionsBefore: Promise<number> = Promise.resolve(connectionsAtStart);
    const selfCpu = (): number => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e6;
    };
    let startUs = 0;
    const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);
    let settled = false;
    const timer = setTimeout(() => {
      finish(new Error(`load generator did not finish within ${limitMs} ms`));
    }, limitMs);
    const finish = (error: Error | undefined, measured?: Measured): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) {
        void stop(child, 1000);
        reject(error);
      } else resolvePromise(measured as Measured);
    };
    child.on('message', (message: unknown) => {
      const m = message as { phase?: string; ok?: boolean; result?: LoadResult; error?: string };
      if (m.phase === 'measure') {
        startUs = monotonicUs();
        before = { service: cpuSeconds(servicePid), redis: cpuSeconds(redisPid), fake: cpuSeconds(env.fakePid), machine: machineBusySeconds(), self: selfCpu() };
        syscallsBefore = syscallCounts(servicePid);
        redisBefore = redisCounters(env.redisClient);
        connectionsBefore = env.fakeConnections();
        return;
      }
      if (m.ok && m.result) {
        const round = (n: number): number => Math.round(n * 100) / 100;
        const cpu = {
          service: round(cpuSeconds(servicePid) - before.service),
          redis: round(cpuSeconds(redisPid) - before.redis),
          fake: round(cpuSeconds(env.fakePid) - before.fake),
          load: m.result.loadCpuSec,
          other: 0,
        };
        const machineSec = machineBusySeconds() - before.machine;
        const ownSec = cpu.service + cpu.redis + cpu.fake + cpu.load + (selfCpu() - before.self);
        cpu.other = round(Math.max(0, machineSec - ownSec));
        const syscalls = syscallCounts(servicePid);
        const per = (n: number): number => Math.round((n / Math.max(1, m.result?.requests ?? 1)) * 100) / 100;
        const syscallsPerRequest = { reads: per(syscalls.reads - syscallsBefore.reads), writes: per(syscalls.writes - syscallsBefore.writes) };
        const windowUs: [number, number] = [startUs, monotonicUs()];
        const result = m.result;
        reported = true;
        Promise.all([redisBefore, redisCounters(env.redisClient), connectionsBefore, env.fakeConnections()]).then(
          ([redisStart, redisEnd, connStart, connEnd]) => {
            const redis = perRequest(redisStart, redisEnd, result.requests);
            const providerConnections = { total: connEnd - connectionsAtStart, measured: connEnd - connStart };
            finish(undefined, { load: result, windowUs, cpu, syscallsPerRequest, redis, providerConnections });
          },
          (error: unknown) => finish(error instanceof Error ? error : new Error(String(error))),
        );
      } else finish(new Error(`load generator failed: ${m.error ?? 'unknown error'}`));
    });
    // Once it has reported, the load generator exits while the Redis and double counters are still being read.
    let reported = false;
    child.once('exit', (code) => {
      if (!reported) finish(new Error(`load generator exited with ${code} before reporting`));
    });
    child.once('error', (error) => finish(error));
    child.send(spec);
  });
}

function outcomeOf(
  name: string,
  description: string,
  store: 'redis' | 'memory',
  expectedStatuses: number[],
  measured: Measured,
  rss: number,
  peak: number,
  maxProcessRss: number,
  logLines: number,
): WorkloadOutcome {
  const { load } = measured;
  const unexpected = Object.entries(load.statusCounts)
    .filter(([status]) => !expectedStatuses.includes(Number(status)))
    .reduce((sum, [, n]) => sum + n, 0);
  return {
    name,
    kind: load.kind,
    store,
    description,
    expectedStatuses,
    requestsPerSec: load.requestsPerSec,
    ...(load.kind === 'flow' ? { flowsPerSec: Math.round(((load.statusCounts['200'] ?? 0) / load.durationSec) * 10) / 10 } : {}),
    latencyMs: load.latencyMs,
    statusCounts: load.statusCounts,
    unexpectedStatuses: unexpected,
    socketErrors: load.socketErrors,
    timeouts: load.timeouts,
    // autocannon counts timeouts among its errors.
    errors: unexpected + load.socketErrors,
    rssBytes: rss,
    peakRssBytes: peak,
    cpuSec: measured.cpu,
    serviceCpuUsPerRequest: Math.round((measured.cpu.service * 1e6) / Math.max(1, load.requests)),
    syscallsPerRequest: measured.syscallsPerRequest,
    redis: measured.redis,
    providerConnections: measured.providerConnections,
    maxProcessRssBytes: maxProcessRss,
    serviceLogLines: logLines,
  };
}

export function spec(options: Options, kind: LoadKind, url: string, phoneBase = 0): LoadSpec {
  return {
    kind,
    url,
    connections: options.connections,
    durationSec: options.durationSec,
    warmupSec: options.warmupSec,
    phoneBase,
    phoneCount: options.phones,
    checkPhoneBase: CHECK_PHONE_BASE,
    wrongCode: WRONG_CODE,
    channel: CHANNEL,
    timeoutSec: 10,
  };
}

export async function measureServer(
  server: Started,
  env: Env,
  loadSpec: LoadSpec,
  name: string,
  description: string,
  store: 'redis' | 'memory',
  expected: number[],
): Promise<WorkloadOutcome> {
  const linesBefore = server.output.lines;
  const measured = await runLoadProcess(loadSpec, server.pid, env);
  const profileBase = profileBaseOf(server.pid);
  if (profileBase) {
    // bench/cpuprofile-top.ts reads this to keep only the samples of the measured round.
    writeFileSync(`${profileBase}.window.json`, JSON.stringify({ workload: name, startUs: measured.windowUs[0], endUs: measured.windowUs[1] }));
  }
  const rss = rssBytes(server.pid);
  const peak = peakRssBytes(server.pid);
  const outcome = outcomeOf(name, description, store, expected, measured, rss, peak, maxProcessRssBytes(server.pid), server.output.lines - linesBefore);
  const heap = await heapOf(server.url);
  return heap ? { ...outcome, heap } : outcome;
}

/** The V8 heap as the service reports it on /metrics (undefined for the baseline or if unreachable). */
async function heapOf(url: string): Promise<WorkloadOutcome['heap']> {
  try {
    const response = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(2000) });
    if (response.status !== 200) return undefined;
    const text = await response.text();
    const gauge = (name: string): number => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text)?.[1] ?? NaN);
    const heap = { heapTotal: gauge('nodejs_heap_size_total_bytes'), heapUsed: gauge('nodejs_heap_size_used_bytes'), external: gauge('nodejs_external_memory_bytes') };
    return Number.isFinite(heap.heapTotal) ? heap : undefined;
  } catch {
    return undefined;
  }
}
