/**
 * `npm run bench [-- --duration 10 --connections 64 --warmup 3 --phones 10000 --only send,check
 *                   --profile bench/profiles --workers 1,2]`
 *
 * Starts its own redis-server (free port, no persistence), the Dysmsapi double (its own process)
 * and, per workload, a fresh service process (`node --import tsx server.ts`, Aliyun provider
 * pointed at the double), and drives it with autocannon from a separate process (bench/load.ts).
 * Prints a table, PASS/MISS per target, and one `BENCH_JSON {…}` line. Numbers never fail the run:
 * it exits 0 unless something could not be run at all.
 */
import { execFileSync, fork } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { freePort, spawnRedisServer, type SpawnedRedis } from '../test/support/redis-server.js';
import { phoneOf } from './common.js';
import type { LoadKind, LoadResult, LoadSpec } from './load.js';
import { cpuSeconds, installCleanup, machineBusySeconds, own, syscallCounts, peakRssBytes, rssBytes, startNodeServer, stop, type Started } from './procs.js';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(BENCH_DIR, '..');
const PREFIX = 'sms:';
const CHANNEL = 'login';
const WRONG_CODE = '0000';
const CHECK_PHONE_BASE = 0; // 13900000000 …
const SEND_PHONE_BASE = 10_000_000; // 13910000000 …
const FLOW_PHONE_BASE = 50_000_000; // 13950000000 …
const MEMORY_SAMPLE = 100;

type WorkloadName = 'baseline' | 'send' | 'check' | 'flow' | 'check-memory';
const ALL_WORKLOADS: WorkloadName[] = ['baseline', 'send', 'check', 'flow', 'check-memory'];

interface Options {
  durationSec: number;
  connections: number;
  warmupSec: number;
  phones: number;
  only: WorkloadName[];
  profileDir: string | undefined;
  workers: number[] | undefined;
}

function parseArgs(argv: string[]): Options {
  const options: Options = {
    durationSec: 10,
    connections: 64,
    warmupSec: 3,
    phones: 10_000,
    only: ALL_WORKLOADS,
    profileDir: undefined,
    workers: undefined,
  };
  const positive = (flag: string, raw: string | undefined, allowZero = false): number => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) throw new Error(`${flag} needs a ${allowZero ? 'non-negative' : 'positive'} number, got "${raw}"`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    const [name, inline] = flag.includes('=') ? (flag.split('=', 2) as [string, string]) : [flag, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    switch (name) {
      case '--duration':
      case '-d':
        options.durationSec = positive(name, value());
        break;
      case '--connections':
      case '-c':
        options.connections = Math.round(positive(name, value()));
        break;
      case '--warmup':
        options.warmupSec = positive(name, value(), true);
        break;
      case '--phones':
        options.phones = Math.round(positive(name, value()));
        break;
      case '--only': {
        const names = (value() ?? '').split(',').map((s) => s.trim()).filter(Boolean);
        for (const n of names) if (!ALL_WORKLOADS.includes(n as WorkloadName)) throw new Error(`--only: unknown workload "${n}" (${ALL_WORKLOADS.join(', ')})`);
        options.only = names as WorkloadName[];
        break;
      }
      case '--profile':
        options.profileDir = resolve(value() ?? join(BENCH_DIR, 'profiles'));
        break;
      case '--workers':
        options.workers = (value() ?? '').split(',').map((s) => Math.round(positive('--workers', s)));
        break;
      case '--no-workers':
        options.workers = [];
        break;
      case '--help':
      case '-h':
        process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0] + '*/\n');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown flag "${flag}"`);
    }
  }
  return options;
}

const log = (line: string): void => {
  process.stderr.write(`[bench] ${line}\n`);
};

// ---------------------------------------------------------------------------------------------

interface Env {
  redis: SpawnedRedis;
  redisClient: Redis;
  fakePort: number;
  fakePid: number;
}

interface ServiceOverrides {
  redis: boolean;
  exposeCode: boolean;
  workers?: number;
  /** The service's default limits (for the Redis memory figure under the production configuration). */
  defaultLimits?: boolean;
}

const RELAXED_LIMITS: Record<string, string> = {
  // Never refuses during a run; the day-long window keeps each send log, so the memory figure includes it.
  SEND_LIMITS: '100000/1d',
  PHONE_SEND_LIMITS: 'off',
  VERIFY_FAILURE_LIMITS: 'off',
  MAX_VERIFY_ATTEMPTS: '100',
};

function serviceEnv(env: Env, overrides: ServiceOverrides): Record<string, string> {
  return {
    LOG_LEVEL: 'warn',
    SMS_PROVIDER: 'aliyun',
    ALIYUN_SMS_ENDPOINT: `http://127.0.0.1:${env.fakePort}`,
    ALIBABA_CLOUD_ACCESS_KEY_ID: 'testAkId',
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'testAkSecret',
    ALIYUN_SMS_SIGN_NAME: '基准测试',
    ALIYUN_SMS_TEMPLATE_CODE: 'SMS_000000001',
    ...(overrides.defaultLimits ? {} : RELAXED_LIMITS),
    SHUTDOWN_TIMEOUT_MS: '3000',
    EXPOSE_CODE: overrides.exposeCode ? 'true' : 'false',
    ...(overrides.redis ? { REDIS_URL: env.redis.url } : {}),
    ...(overrides.workers !== undefined ? { WORKERS: String(overrides.workers) } : {}),
  };
}

/** Service pid → path of its .cpuprofile without the extension (with --profile). */
const profileBases = new Map<number, string>();

/** `--cpu-prof` arguments for a server process (with --profile), and where its profile goes. */
function profileArgs(name: string, options: Options): { nodeArgs: string[]; profileBase: string | undefined } {
  if (!options.profileDir) return { nodeArgs: [], profileBase: undefined };
  mkdirSync(options.profileDir, { recursive: true });
  const base = `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  const profileBase = join(options.profileDir, base);
  // One directory per process: V8 writes a profile per thread (tsx's loader runs on its own thread).
  return { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileBase}.d`], profileBase };
}

async function startService(env: Env, name: string, options: Options, overrides: ServiceOverrides): Promise<Started> {
  const { nodeArgs, profileBase } = profileArgs(name, options);
  const started = await startNodeServer({
    cwd: ROOT,
    script: 'server.ts',
    port: await freePort(),
    env: serviceEnv(env, overrides),
    nodeArgs,
    readyPath: '/readyz',
  });
  if (profileBase) profileBases.set(started.pid, profileBase);
  return started;
}

// ---------------------------------------------------------------------------------------------

interface Measured {
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
}

/** Runs one LoadSpec in a forked autocannon process; samples CPU of the others around the measured round. */
function runLoadProcess(spec: LoadSpec, servicePid: number, env: Env): Promise<Measured> {
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
        finish(undefined, { load: m.result, windowUs: [startUs, monotonicUs()], cpu, syscallsPerRequest });
      } else finish(new Error(`load generator failed: ${m.error ?? 'unknown error'}`));
    });
    child.once('exit', (code) => finish(new Error(`load generator exited with ${code} before reporting`)));
    child.once('error', (error) => finish(error));
    child.send(spec);
  });
}

// ---------------------------------------------------------------------------------------------

interface Population {
  phones: number;
  seconds: number;
  /** Sends repeated because the probe code happened to be the right one. */
  resends: number;
}

/**
 * Sends a code to `count` phones (bounded concurrency), and checks WRONG_CODE once against each:
 * 422 proves it is wrong for that phone (in the rare case it was right, 200, the phone gets a new
 * code and is probed again), so every check of the workload answers 422.
 */
async function populate(baseUrl: string, count: number, concurrency = 64): Promise<Population> {
  const started = Date.now();
  let next = 0;
  let resends = 0;
  const post = async (path: string, body: unknown): Promise<number> => {
    const response = await fetch(`${baseUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    if (response.status >= 500 || (path.endsWith('/verifications') && response.status !== 201)) {
      throw new Error(`population: POST ${path} answered ${response.status}: ${text.slice(0, 300)}`);
    }
    return response.status;
  };
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const phone = phoneOf(CHECK_PHONE_BASE + i);
      for (let attempt = 0; ; attempt++) {
        await post('/v1/verifications', { phone, channel: CHANNEL });
        const status = await post('/v1/verifications/check', { phone, channel: CHANNEL, code: WRONG_CODE });
        if (status === 422) break;
        if (status !== 200 || attempt >= 5) throw new Error(`population: probe check of ${phone} answered ${status}`);
        resends++;
        log(`population: the probe code was the right one for ${phone} (1 in 10^CODE_LENGTH); sent it a new code`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { phones: count, seconds: (Date.now() - started) / 1000, resends };
}

interface RedisMemory {
  /** Keys of one phone holding a code, with MEMORY USAGE of each. */
  example: { phone: string; keys: Array<{ key: string; type: string; bytes: number }>; bytes: number };
  /** Average over `sampled` phones of the summed MEMORY USAGE of each phone's keys. */
  averageBytesPerPhone: number;
  maxBytesPerPhone: number;
  sampled: number;
  keysPerPhone: number;
  /** (used_memory after − before population) / phones: every byte, the audit stream included. */
  usedMemoryDeltaPerPhone: number;
  auditStream: { key: string; entries: number; bytes: number; bytesPerEntry: number } | undefined;
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? 0);
}

async function measureRedisMemory(redis: Redis, phones: number, usedBefore: number, phoneBase = CHECK_PHONE_BASE): Promise<RedisMemory> {
  const step = Math.max(1, Math.floor(phones / MEMORY_SAMPLE));
  const sample = new Map<string, string[]>();
  for (let i = 0; i < phones && sample.size < MEMORY_SAMPLE; i += step) sample.set(`+86${phoneOf(phoneBase + i)}`, []);
  // One SCAN over the phone keys; the hash tag {<E.164>} names the phone of each key.
  let cursor = '0';
  do {
    const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}{+*}*`, 'COUNT', 1000);
    cursor = nextCursor;
    for (const key of keys) {
      const tag = /\{([^}]*)\}/.exec(key)?.[1];
      if (tag !== undefined) sample.get(tag)?.push(key);
    }
  } while (cursor !== '0');

  const perPhone: Array<{ phone: string; keys: Array<{ key: string; type: string; bytes: number }>; bytes: number }> = [];
  for (const [phone, keys] of sample) {
    const measured = [];
    for (const key of keys.sort()) {
      const bytes = Number((await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
      measured.push({ key, type: await redis.type(key), bytes });
    }
    perPhone.push({ phone, keys: measured, bytes: measured.reduce((sum, k) => sum + k.bytes, 0) });
  }
  const holding = perPhone.filter((p) => p.keys.length > 0);
  const usedAfter = await usedMemory(redis);

  const auditKey = `${PREFIX}audit`;
  let auditStream: RedisMemory['auditStream'];
  if ((await redis.exists(auditKey)) === 1) {
    const entries = await redis.xlen(auditKey);
    const bytes = Number((await redis.call('MEMORY', 'USAGE', auditKey, 'SAMPLES', '0')) ?? 0);
    auditStream = { key: auditKey, entries, bytes, bytesPerEntry: entries ? Math.round(bytes / entries) : 0 };
  }
  const example = holding[0] ?? { phone: '-', keys: [], bytes: 0 };
  return {
    example,
    averageBytesPerPhone: holding.length ? Math.round(holding.reduce((s, p) => s + p.bytes, 0) / holding.length) : 0,
    maxBytesPerPhone: Math.max(0, ...holding.map((p) => p.bytes)),
    sampled: holding.length,
    keysPerPhone: holding.length ? Math.round((holding.reduce((s, p) => s + p.keys.length, 0) / holding.length) * 100) / 100 : 0,
    usedMemoryDeltaPerPhone: Math.round((usedAfter - usedBefore) / phones),
    auditStream,
  };
}

const DEFAULTS_PHONE_BASE = 90_000_000; // 13990000000 …

/**
 * Redis memory per phone under the service's default limits (SEND_LIMITS 1/60s,5/1h,10/1d,
 * PHONE_SEND_LIMITS 20/1d, VERIFY_FAILURE_LIMITS 20/1d): the send logs and the wrong-guess log are
 * then kept for a day, next to the code. Each of MEMORY_SAMPLE phones gets one send and one wrong check.
 */
async function measureDefaultLimitsMemory(env: Env, options: Options): Promise<RedisMemory> {
  await env.redisClient.flushall();
  return withServer(
    () => startService(env, 'memory-defaults', { ...options, profileDir: undefined }, { redis: true, exposeCode: false, defaultLimits: true }),
    async (server) => {
      const usedBefore = await usedMemory(env.redisClient);
      let next = 0;
      const worker = async (): Promise<void> => {
        for (let i = next++; i < MEMORY_SAMPLE; i = next++) {
          const phone = phoneOf(DEFAULTS_PHONE_BASE + i);
          for (const [path, body, ok] of [
            ['/v1/verifications', { phone, channel: CHANNEL }, [201]],
            ['/v1/verifications/check', { phone, channel: CHANNEL, code: WRONG_CODE }, [422, 200]],
          ] as const) {
            const response = await fetch(`${server.url}${path}`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify(body),
              signal: AbortSignal.timeout(10_000),
            });
            const text = await response.text();
            if (!(ok as readonly number[]).includes(response.status)) throw new Error(`default-limits memory: POST ${path} answered ${response.status}: ${text.slice(0, 200)}`);
          }
        }
      };
      await Promise.all(Array.from({ length: 16 }, worker));
      return measureRedisMemory(env.redisClient, MEMORY_SAMPLE, usedBefore, DEFAULTS_PHONE_BASE);
    },
  );
}

// ---------------------------------------------------------------------------------------------

interface WorkloadOutcome {
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
  /** From the service's own /metrics right after the round (prom-client default metrics), bytes. */
  heap?: { heapTotal: number; heapUsed: number; external: number };
  serviceLogLines: number;
  population?: Population;
  workers?: number;
  error?: string;
}

function outcomeOf(
  name: string,
  description: string,
  store: 'redis' | 'memory',
  expectedStatuses: number[],
  measured: Measured,
  rss: number,
  peak: number,
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
    serviceLogLines: logLines,
  };
}

function spec(options: Options, kind: LoadKind, url: string, phoneBase = 0): LoadSpec {
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

async function measureServer(
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
  const profileBase = profileBases.get(server.pid);
  if (profileBase) {
    // bench/cpuprofile-top.ts reads this to keep only the samples of the measured round.
    writeFileSync(`${profileBase}.window.json`, JSON.stringify({ workload: name, startUs: measured.windowUs[0], endUs: measured.windowUs[1] }));
  }
  const rss = rssBytes(server.pid);
  const peak = peakRssBytes(server.pid);
  const outcome = outcomeOf(name, description, store, expected, measured, rss, peak, server.output.lines - linesBefore);
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

async function withServer<T>(start: () => Promise<Started>, body: (server: Started) => Promise<T>): Promise<T> {
  const server = await start();
  try {
    return await body(server);
  } finally {
    await stop(server.child);
    collectProfile(server.pid);
  }
}

/** Keeps the main thread's profile (`CPU.<date>.<time>.<pid>.0.<seq>.cpuprofile`) as `<base>.cpuprofile`. */
function collectProfile(pid: number): void {
  const base = profileBases.get(pid);
  if (!base) return;
  const dir = `${base}.d`;
  try {
    const main = readdirSync(dir).find((f) => f.includes(`.${pid}.0.`) && f.endsWith('.cpuprofile'));
    if (main) {
      renameSync(join(dir, main), `${base}.cpuprofile`);
      log(`CPU profile of the service: ${base}.cpuprofile (summarize: npx tsx bench/cpuprofile-top.ts ${base}.cpuprofile)`);
    } else log(`no main-thread CPU profile found in ${dir}`);
    rmSync(dir, { recursive: true, force: true });
  } catch (error) {
    log(`could not collect the CPU profile: ${error instanceof Error ? error.message : String(error)}`);
  }
}

const DESCRIPTIONS: Record<WorkloadName, string> = {
  baseline: 'bare Fastify route, one EVALSHA (INCR) on the same Redis',
  send: 'POST /v1/verifications, a new phone every request (Aliyun SDK → local double)',
  check: `POST /v1/verifications/check, wrong code, random one of N phones holding codes (Redis)`,
  flow: 'send, then check the right code (EXPOSE_CODE=true), chained per connection',
  'check-memory': 'the check workload on the in-memory store (no REDIS_URL)',
};

async function runWorkload(name: WorkloadName, env: Env, options: Options, memoryOut: { value?: RedisMemory }): Promise<WorkloadOutcome> {
  await env.redisClient.flushall();
  switch (name) {
    case 'baseline':
      return withServer(
        async () => {
          const { nodeArgs, profileBase } = profileArgs(name, options);
          const started = await startNodeServer({
            cwd: ROOT,
            script: 'bench/baseline-server.ts',
            port: await freePort(),
            env: { REDIS_URL: env.redis.url, LOG_LEVEL: 'warn' },
            nodeArgs,
            readyPath: '/healthz',
          });
          if (profileBase) profileBases.set(started.pid, profileBase);
          return started;
        },
        (server) => measureServer(server, env, spec(options, 'baseline', server.url), name, DESCRIPTIONS[name], 'redis', [200]),
      );
    case 'send':
      return withServer(
        () => startService(env, name, options, { redis: true, exposeCode: false }),
        (server) => measureServer(server, env, spec(options, 'send', server.url, SEND_PHONE_BASE), name, DESCRIPTIONS[name], 'redis', [201]),
      );
    case 'flow':
      return withServer(
        () => startService(env, name, options, { redis: true, exposeCode: true }),
        (server) => measureServer(server, env, spec(options, 'flow', server.url, FLOW_PHONE_BASE), name, DESCRIPTIONS[name], 'redis', [201, 200]),
      );
    case 'check':
    case 'check-memory': {
      const redis = name === 'check';
      return withServer(
        () => startService(env, name, options, { redis, exposeCode: false }),
        async (server) => {
          const usedBefore = await usedMemory(env.redisClient);
          log(`${name}: populating ${options.phones} phones with codes…`);
          const population = await populate(server.url, options.phones);
          log(`${name}: populated in ${population.seconds.toFixed(1)} s (${population.resends} re-sends)`);
          if (redis) memoryOut.value = await measureRedisMemory(env.redisClient, options.phones, usedBefore);
          const outcome = await measureServer(server, env, spec(options, 'check', server.url), name, DESCRIPTIONS[name], redis ? 'redis' : 'memory', [422]);
          return { ...outcome, population };
        },
      );
    }
  }
}

async function runWorkersScaling(env: Env, options: Options, counts: number[]): Promise<WorkloadOutcome[]> {
  const outcomes: WorkloadOutcome[] = [];
  for (const workers of counts) {
    await env.redisClient.flushall();
    const name = `check WORKERS=${workers}`;
    log(`running ${name}`);
    const outcome = await withServer(
      () => startService(env, `check-workers${workers}`, options, { redis: true, exposeCode: false, workers }),
      async (server) => {
        const population = await populate(server.url, options.phones);
        const measured = await measureServer(server, env, spec(options, 'check', server.url), name, DESCRIPTIONS.check, 'redis', [422]);
        return { ...measured, population, workers };
      },
    );
    outcomes.push(outcome);
  }
  return outcomes;
}

// ---------------------------------------------------------------------------------------------

interface Target {
  name: string;
  value: string;
  goal: string;
  pass: boolean | undefined;
}

function targets(results: WorkloadOutcome[], memory: RedisMemory | undefined, memoryDefaults: RedisMemory | undefined): Target[] {
  const by = (n: string): WorkloadOutcome | undefined => results.find((r) => r.name === n && !r.error);
  const check = by('check');
  const send = by('send');
  const services = results.filter((r) => r.kind !== 'baseline' && !r.error);
  const maxRss = services.length ? Math.max(...services.map((r) => r.rssBytes)) : undefined;
  const fmt = (n: number | undefined, digits = 2): string => (n === undefined ? 'n/a' : n.toFixed(digits));
  return [
    { name: 'check throughput', value: `${fmt(check?.ratioToBaseline)}× baseline`, goal: '≥ 0.8× baseline', pass: check?.ratioToBaseline === undefined ? undefined : check.ratioToBaseline >= 0.8 },
    { name: 'send throughput', value: `${fmt(send?.ratioToBaseline)}× baseline`, goal: '≥ 0.6× baseline', pass: send?.ratioToBaseline === undefined ? undefined : send.ratioToBaseline >= 0.6 },
    { name: 'check p99 latency', value: `${fmt(check?.latencyMs.p99)} ms`, goal: `≤ 15 ms at ${check ? 'these' : ''} connections`, pass: check ? check.latencyMs.p99 <= 15 : undefined },
    { name: 'service RSS (max over workloads)', value: maxRss === undefined ? 'n/a' : `${fmt(maxRss / 2 ** 20, 1)} MB`, goal: '≤ 200 MB', pass: maxRss === undefined ? undefined : maxRss <= 200 * 2 ** 20 },
    { name: 'Redis memory per phone holding a code', value: memory ? `${memory.averageBytesPerPhone} B` : 'n/a', goal: '≤ 1 KB (1024 B)', pass: memory ? memory.averageBytesPerPhone <= 1024 : undefined },
    {
      name: '  same, default limits (send+wrong check)',
      value: memoryDefaults ? `${memoryDefaults.averageBytesPerPhone} B` : 'n/a',
      goal: '≤ 1 KB (1024 B)',
      pass: memoryDefaults ? memoryDefaults.averageBytesPerPhone <= 1024 : undefined,
    },
  ];
}

function pad(text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

function printMemory(out: string[], title: string, memory: RedisMemory): void {
  out.push('');
  out.push(`${title} (MEMORY USAGE … SAMPLES 0, ${memory.sampled} phones sampled):`);
  out.push(`  average ${memory.averageBytesPerPhone} B, max ${memory.maxBytesPerPhone} B, ${memory.keysPerPhone} keys per phone; e.g. ${memory.example.phone}:`);
  for (const k of memory.example.keys) out.push(`    ${pad(k.key, 44)} ${pad(k.type, 5)} ${pad(String(k.bytes), 5, true)} B`);
  out.push(`  used_memory grew ${memory.usedMemoryDeltaPerPhone} B per phone while populating (all keys, audit stream and allocator overhead included)`);
  if (memory.auditStream) {
    out.push(`  audit stream ${memory.auditStream.key}: ${memory.auditStream.entries} entries, ${memory.auditStream.bytes} B (${memory.auditStream.bytesPerEntry} B/entry)`);
  }
}

function printTable(results: WorkloadOutcome[], memory: RedisMemory | undefined, memoryDefaults: RedisMemory | undefined, targetList: Target[], options: Options): void {
  const out: string[] = [];
  out.push('');
  out.push(`Workloads: ${options.connections} connections, ${options.durationSec} s measured after ${options.warmupSec} s warm-up each`);
  out.push('(µs/req: service CPU per answered request; CPU s: seconds used in the measured round by the service, Redis, the Dysmsapi double, autocannon, and other processes on the machine)');
  const header = ['workload', 'store', 'req/s', '×base', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'RSS MB', 'µs/req', 'CPU s svc/redis/sms/load/other', 'statuses'];
  const widths = [22, 6, 9, 6, 7, 7, 8, 7, 7, 7, 31, 0];
  out.push(header.map((h, i) => pad(h, widths[i] as number, i >= 2 && i <= 9)).join(' '));
  out.push('-'.repeat(widths.reduce((a, b) => a + b + 1, 0) + 16));
  for (const r of results) {
    if (r.error) {
      out.push(`${pad(r.name, 22)} FAILED: ${r.error.split('\n')[0]}`);
      continue;
    }
    const statuses = Object.entries(r.statusCounts).map(([s, n]) => `${s}:${n}`).join(' ');
    const row = [
      r.name,
      r.store,
      r.requestsPerSec.toFixed(0),
      r.ratioToBaseline === undefined ? '-' : r.ratioToBaseline.toFixed(2),
      r.latencyMs.p50.toFixed(2),
      r.latencyMs.p99.toFixed(2),
      r.latencyMs.max.toFixed(1),
      String(r.errors),
      r.kind === 'baseline' ? `(${(r.rssBytes / 2 ** 20).toFixed(0)})` : (r.rssBytes / 2 ** 20).toFixed(1),
      String(r.serviceCpuUsPerRequest),
      `${r.cpuSec.service}/${r.cpuSec.redis}/${r.cpuSec.fake}/${r.cpuSec.load}/${r.cpuSec.other}`,
      statuses,
    ];
    out.push(row.map((c, i) => pad(c, widths[i] as number, i >= 2 && i <= 9)).join(' '));
    if (r.flowsPerSec !== undefined) out.push(`${' '.repeat(23)}(${r.flowsPerSec.toFixed(0)} complete send+check flows/s)`);
  }
  if (memory) printMemory(out, `Redis memory per phone holding a code, after the check population (bench limits: SEND_LIMITS=${RELAXED_LIMITS.SEND_LIMITS}, no phone or failure logs)`, memory);
  if (memoryDefaults) printMemory(out, 'Redis memory per phone holding a code, default limits, after one send and one wrong check', memoryDefaults);
  const noisy = results.filter((r) => !r.error && r.cpuSec.other > 0.1 * options.durationSec);
  if (noisy.length > 0) {
    out.push('');
    out.push(`NOTE: other processes used more than 10% of a core during ${noisy.map((r) => r.name).join(', ')} (column "other"): those numbers are noisy.`);
  }
  out.push('');
  out.push('Targets (informational; a benchmark never fails on a number):');
  for (const t of targetList) {
    const verdict = t.pass === undefined ? 'N/A ' : t.pass ? 'PASS' : 'MISS';
    out.push(`  ${verdict}  ${pad(t.name, 38)} ${pad(t.value, 18)} target ${t.goal}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

function machine(): Record<string, string | number> {
  let redisVersion = 'unknown';
  try {
    redisVersion = /v=(\S+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1] ?? redisVersion;
  } catch {
    // reported as unknown
  }
  let autocannonVersion = 'unknown';
  try {
    autocannonVersion = (JSON.parse(readFileSync(join(ROOT, 'node_modules/autocannon/package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // reported as unknown
  }
  let git = 'unknown';
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'server.ts', 'src', 'plugins'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    git = dirty ? `${head} + uncommitted changes in server.ts/src/plugins` : head;
  } catch {
    // not a git checkout
  }
  return { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version, redis: redisVersion, autocannon: autocannonVersion, git };
}

function serverSupportsWorkers(): boolean {
  try {
    return /\bWORKERS\b/.test(readFileSync(join(ROOT, 'server.ts'), 'utf8'));
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  installCleanup(log);
  // By default the WORKERS scaling runs with the check workload, when server.ts has WORKERS.
  const workersWanted = options.workers ?? (options.only.includes('check') ? [1, 2] : []);
  const per = options.warmupSec + options.durationSec + 90;
  const budgetSec = per * (options.only.length + workersWanted.length + 1) + 60;
  const watchdog = setTimeout(() => {
    log(`watchdog: the run exceeded ${budgetSec} s, stopping everything`);
    process.kill(process.pid, 'SIGTERM');
  }, budgetSec * 1000);
  watchdog.unref();

  log(`machine: ${JSON.stringify(machine())}`);
  const redis = await spawnRedisServer();
  own(redis.process);
  log(`redis-server on ${redis.url}`);
  const redisClient = new Redis(redis.url, { maxRetriesPerRequest: 1 });

  const fake = own(fork(join(ROOT, 'bench/fake-sms.ts'), [], { cwd: ROOT, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const fakePort = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error('the Dysmsapi double did not start within 20 s')), 20_000);
    fake.once('message', (m: unknown) => {
      clearTimeout(timer);
      resolvePort((m as { port: number }).port);
    });
    fake.once('exit', (code) => reject(new Error(`the Dysmsapi double exited with ${code}`)));
  });
  log(`Dysmsapi double on 127.0.0.1:${fakePort}`);
  const env: Env = { redis, redisClient, fakePort, fakePid: fake.pid as number };

  const results: WorkloadOutcome[] = [];
  const memory: { value?: RedisMemory } = {};
  let failures = 0;
  for (const name of options.only) {
    log(`running ${name} (${options.warmupSec} s warm-up + ${options.durationSec} s)`);
    try {
      results.push(await runWorkload(name, env, options, memory));
      const r = results[results.length - 1] as WorkloadOutcome;
      const heap = r.heap ? `, V8 heap ${(r.heap.heapUsed / 2 ** 20).toFixed(0)}/${(r.heap.heapTotal / 2 ** 20).toFixed(0)} MB used/total, external ${(r.heap.external / 2 ** 20).toFixed(0)} MB` : '';
      log(`${name}: ${r.requestsPerSec} req/s, p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, errors ${r.errors}, RSS ${(r.rssBytes / 2 ** 20).toFixed(1)} MB${heap}, ${r.serviceCpuUsPerRequest} µs CPU/request`);
    } catch (error) {
      failures++;
      const message = error instanceof Error ? error.message : String(error);
      log(`${name} FAILED: ${message}`);
      results.push({ name, error: message } as WorkloadOutcome);
    }
  }

  let scaling: WorkloadOutcome[] | undefined;
  let scalingNote: string | undefined;
  if (workersWanted.length === 0) {
    scalingNote = 'not run (--no-workers, or no check workload selected)';
  } else if (serverSupportsWorkers()) {
    try {
      scaling = await runWorkersScaling(env, options, workersWanted);
    } catch (error) {
      failures++;
      scalingNote = `failed: ${error instanceof Error ? error.message : String(error)}`;
    }
  } else {
    scalingNote = 'server.ts has no WORKERS setting yet: scaling not measured';
  }

  const baseline = results.find((r) => r.name === 'baseline' && !r.error);
  for (const r of [...results, ...(scaling ?? [])]) {
    if (!r.error && baseline && r.store === 'redis' && r.kind !== 'baseline') {
      r.ratioToBaseline = Math.round((r.requestsPerSec / baseline.requestsPerSec) * 100) / 100;
    }
  }
  let memoryDefaults: RedisMemory | undefined;
  if (options.only.includes('check')) {
    try {
      log('measuring Redis memory per phone under the default limits');
      memoryDefaults = await measureDefaultLimitsMemory(env, options);
    } catch (error) {
      log(`default-limits memory FAILED: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const targetList = targets(results, memory.value, memoryDefaults);
  printTable(results, memory.value, memoryDefaults, targetList, options);
  if (scaling) {
    const one = scaling[0];
    process.stdout.write('\nScaling with WORKERS (check workload):\n');
    for (const r of scaling) {
      const speedup = one && one.requestsPerSec ? (r.requestsPerSec / one.requestsPerSec).toFixed(2) : '-';
      process.stdout.write(
        `  WORKERS=${r.workers}: ${r.requestsPerSec.toFixed(0)} req/s (${speedup}× WORKERS=${one?.workers}), p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, errors ${r.errors}, RSS ${(r.rssBytes / 2 ** 20).toFixed(1)} MB (all processes), CPU s svc/redis/load/other ${r.cpuSec.service}/${r.cpuSec.redis}/${r.cpuSec.load}/${r.cpuSec.other}\n`,
      );
    }
  } else if (scalingNote) {
    process.stdout.write(`\nScaling with WORKERS: ${scalingNote}\n`);
  }
  const summary = {
    version: 1,
    at: new Date().toISOString(),
    machine: machine(),
    options: { durationSec: options.durationSec, connections: options.connections, warmupSec: options.warmupSec, phones: options.phones },
    results,
    redisMemory: memory.value,
    redisMemoryDefaultLimits: memoryDefaults,
    targets: targetList,
    scaling: scaling ?? scalingNote,
  };
  process.stdout.write(`BENCH_JSON ${JSON.stringify(summary)}\n`);

  clearTimeout(watchdog);
  redisClient.disconnect();
  await stop(fake, 2000);
  await redis.stop();
  return failures > 0 && results.every((r) => r.error) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
