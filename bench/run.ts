/**
 * `npm run bench [-- --duration 10 --connections 64 --warmup 3 --phones 10000 --only send,check
 *                   --profile bench/profiles --workers 1,2 --node-args "--max-semi-space-size=8"]`
 *
 * Builds the service (`npm run build`), then starts its own redis-server (free port, no persistence),
 * the Dysmsapi double (its own process) and, per workload, a fresh compiled service process
 * (`node dist/server.js`, as `npm start` and the Docker image run it; Aliyun provider pointed at the
 * double), and drives it with autocannon from a separate process (bench/load.ts).
 * Prints a table, PASS/MISS per target, and one `BENCH_JSON {…}` line. Numbers never fail the run:
 * it exits 0 unless something could not be run at all.
 *
 * Files: options.ts (flags), service.ts (the processes under test), measure.ts (one measured round),
 * redis-memory.ts (population, Redis memory per phone), workloads.ts, report.ts (tables), procs.ts.
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { spawnRedisServer } from '../test/support/redis-server.js';
import { BENCH_DIR, log, ROOT } from './common.js';
import type { WorkloadOutcome } from './measure.js';
import { parseArgs } from './options.js';
import { installCleanup, own, stop } from './procs.js';
import { measureDefaultLimitsMemory, type RedisMemory } from './redis-memory.js';
import { machine, printScaling, printTable, targets } from './report.js';
import { buildService, type Env } from './service.js';
import { runWorkersScaling, runWorkload } from './workloads.js';

/** Forks the Dysmsapi double (bench/fake-sms.ts) and resolves with its port once it listens. */
async function startFakeSms(): Promise<{ pid: number; port: number; connections: () => Promise<number>; stop: () => Promise<void> }> {
  const fake = own(fork(join(BENCH_DIR, 'fake-sms.ts'), [], { cwd: ROOT, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error('the Dysmsapi double did not start within 20 s')), 20_000);
    fake.once('message', (m: unknown) => {
      clearTimeout(timer);
      resolvePort((m as { port: number }).port);
    });
    fake.once('exit', (code) => reject(new Error(`the Dysmsapi double exited with ${code}`)));
  });
  let asked = 0;
  const connections = (): Promise<number> =>
    new Promise<number>((resolveCount, reject) => {
      const id = ++asked;
      const timer = setTimeout(() => {
        fake.off('message', onMessage);
        reject(new Error('the Dysmsapi double did not report its connections within 5 s'));
      }, 5000);
      const onMessage = (m: unknown): void => {
        const reply = m as { stats?: number; connections?: number };
        if (reply.stats !== id) return;
        clearTimeout(timer);
        fake.off('message', onMessage);
        resolveCount(reply.connections ?? 0);
      };
      fake.on('message', onMessage);
      fake.send({ stats: id });
    });
  return { pid: fake.pid as number, port, connections, stop: () => stop(fake, 2000) };
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  installCleanup(log);
  // By default the WORKERS scaling runs with the check workload.
  const workersWanted = options.workers ?? (options.only.includes('check') ? [1, 2] : []);
  const per = options.warmupSec + options.durationSec + 90;
  const budgetSec = per * (options.only.length + workersWanted.length + 1) + 120;
  const watchdog = setTimeout(() => {
    log(`watchdog: the run exceeded ${budgetSec} s, stopping everything`);
    process.kill(process.pid, 'SIGTERM');
  }, budgetSec * 1000);
  watchdog.unref();

  buildService();
  const machineAtStart = machine();
  log(`machine: ${JSON.stringify(machineAtStart)}`);
  const redis = await spawnRedisServer();
  own(redis.process);
  log(`redis-server on ${redis.url}`);
  const redisClient = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  const fake = await startFakeSms();
  log(`Dysmsapi double on 127.0.0.1:${fake.port}`);
  const env: Env = { redis, redisClient, fakePort: fake.port, fakePid: fake.pid, fakeConnections: fake.connections };

  const results: WorkloadOutcome[] = [];
  const memory: { value?: RedisMemory } = {};
  let failures = 0;
  for (const name of options.only) {
    log(`running ${name} (${options.warmupSec} s warm-up + ${options.durationSec} s)`);
    try {
      results.push(await runWorkload(name, env, options, memory));
      const r = results[results.length - 1] as WorkloadOutcome;
      const heap = r.heap ? `, V8 heap ${(r.heap.heapUsed / 2 ** 20).toFixed(0)}/${(r.heap.heapTotal / 2 ** 20).toFixed(0)} MB used/total, external ${(r.heap.external / 2 ** 20).toFixed(0)} MB` : '';
      log(`${name}: ${r.requestsPerSec} req/s, p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, errors ${r.errors}, RSS ${(r.rssBytes / 2 ** 20).toFixed(1)} MB${heap}, ${r.serviceCpuUsPerRequest} µs Node CPU/request, ${r.redis.cpuUs} µs Redis CPU/request, ${r.redis.calls} Redis commands/request, ${r.providerConnections.total} provider connections`);
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
  } else {
    try {
      scaling = await runWorkersScaling(env, options, workersWanted);
    } catch (error) {
      failures++;
      scalingNote = `failed: ${error instanceof Error ? error.message : String(error)}`;
    }
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
  const targetList = targets(results, memory.value, memoryDefaults, scaling);
  printTable(results, scaling ?? [], memory.value, memoryDefaults, targetList, options);
  if (scaling) printScaling(scaling);
  else if (scalingNote) process.stdout.write(`\nScaling with WORKERS: ${scalingNote}\n`);
  const summary = {
    version: 1,
    at: new Date().toISOString(),
    machine: machineAtStart,
    loadAverageAtEnd: machine().loadAverage,
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
  await fake.stop();
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
