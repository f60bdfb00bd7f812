/** What the benchmark prints: the table, the memory figures, PASS/MISS per target, the machine. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './common.js';
import type { WorkloadOutcome } from './measure.js';
import type { Options } from './options.js';
import type { RedisMemory } from './redis-memory.js';
import { RELAXED_LIMITS } from './service.js';

export interface Target {
  name: string;
  value: string;
  goal: string;
  pass: boolean | undefined;
}

export function targets(results: WorkloadOutcome[], memory: RedisMemory | undefined, memoryDefaults: RedisMemory | undefined): Target[] {
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

export function printTable(results: WorkloadOutcome[], memory: RedisMemory | undefined, memoryDefaults: RedisMemory | undefined, targetList: Target[], options: Options): void {
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

export function machine(): Record<string, string | number> {
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

/** The WORKERS scaling rows (check workload), relative to the first count. */
export function printScaling(scaling: WorkloadOutcome[]): void {
  const one = scaling[0];
  process.stdout.write('\nScaling with WORKERS (check workload):\n');
  for (const r of scaling) {
    const speedup = one && one.requestsPerSec ? (r.requestsPerSec / one.requestsPerSec).toFixed(2) : '-';
    process.stdout.write(
      `  WORKERS=${r.workers}: ${r.requestsPerSec.toFixed(0)} req/s (${speedup}× WORKERS=${one?.workers}), p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, errors ${r.errors}, RSS ${(r.rssBytes / 2 ** 20).toFixed(1)} MB (all processes), CPU s svc/redis/load/other ${r.cpuSec.service}/${r.cpuSec.redis}/${r.cpuSec.load}/${r.cpuSec.other}\n`,
    );
  }
}
