/** What the benchmark prints: the table, the memory figures, PASS/MISS per target, the machine. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
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

/** Redis bytes per phone holding a code with the bench limits when issue 13 was filed: "no worse than today". */
export const REDIS_BYTES_PER_PHONE_BEFORE = 352;

/** The targets of issue 13, against the one-script baseline (the floor) of the same run. */
export function targets(
  results: WorkloadOutcome[],
  memory: RedisMemory | undefined,
  memoryDefaults: RedisMemory | undefined,
  scaling: WorkloadOutcome[] = [],
): Target[] {
  const by = (n: string): WorkloadOutcome | undefined => results.find((r) => r.name === n && !r.error);
  const floor = by('baseline');
  const fmt = (n: number | undefined, digits = 2): string => (n === undefined ? 'n/a' : n.toFixed(digits));
  const list: Target[] = [];
  for (const [name, goal] of [['send', 0.5], ['send-log', 0.5], ['check', 0.8]] as const) {
    const r = by(name);
    list.push({ name: `${name} throughput`, value: `${fmt(r?.ratioToBaseline)}× floor`, goal: `≥ ${goal}× floor`, pass: r?.ratioToBaseline === undefined ? undefined : r.ratioToBaseline >= goal });
  }
  for (const name of ['send', 'send-log', 'check']) {
    const r = by(name);
    const limit = floor ? floor.latencyMs.p99 * 1.25 : undefined;
    list.push({
      name: `${name} p99 latency`,
      value: r ? `${fmt(r.latencyMs.p99)} ms` : 'n/a',
      goal: `≤ 1.25× floor p99 (${fmt(limit)} ms)`,
      pass: r && limit !== undefined ? r.latencyMs.p99 <= limit : undefined,
    });
  }
  for (const name of ['send', 'send-log', 'check']) {
    const r = by(name);
    list.push({ name: `service RSS, ${name}`, value: r ? `${fmt(r.rssBytes / 2 ** 20, 1)} MB` : 'n/a', goal: '≤ 200 MB', pass: r ? r.rssBytes <= 200 * 2 ** 20 : undefined });
  }
  for (const r of scaling.filter((s) => !s.error && (s.workers ?? 1) > 1)) {
    list.push({ name: `service RSS per process, WORKERS=${r.workers}`, value: `${fmt(r.maxProcessRssBytes / 2 ** 20, 1)} MB`, goal: '≤ 200 MB', pass: r.maxProcessRssBytes <= 200 * 2 ** 20 });
  }
  list.push({
    name: 'Redis memory per phone holding a code',
    value: memory ? `${memory.averageBytesPerPhone} B` : 'n/a',
    goal: `≤ ${REDIS_BYTES_PER_PHONE_BEFORE} B (as before)`,
    pass: memory ? memory.averageBytesPerPhone <= REDIS_BYTES_PER_PHONE_BEFORE : undefined,
  });
  list.push({ name: '  same, default limits (send+wrong check)', value: memoryDefaults ? `${memoryDefaults.averageBytesPerPhone} B` : 'n/a', goal: 'informational', pass: undefined });
  return list;
}

/** Per workload: where the CPU goes, what Redis does, and how many provider connections were opened. */
function costTable(out: string[], results: WorkloadOutcome[]): void {
  out.push('');
  out.push('Cost per answered request (measured round): Node CPU (the service process tree, /proc), Redis CPU (INFO cpu),');
  out.push('Redis commands (INFO commandstats, the redis.calls inside scripts included, script calls not) and scripts;');
  out.push('provider connections: TCP connections the Dysmsapi double accepted during warm-up + measured round (during the measured round).');
  const header = ['workload', 'node µs', 'redis µs', 'cmds', 'scripts', 'RSS MB', 'max/proc', 'provider conns', 'top Redis commands per request'];
  const widths = [22, 8, 9, 6, 8, 7, 9, 15, 0];
  out.push(header.map((h, i) => pad(h, widths[i] as number, i >= 1 && i <= 7)).join(' '));
  for (const r of results) {
    if (r.error || !r.redis) continue;
    const top = Object.entries(r.redis.byCommand).slice(0, 8).map(([c, n]) => `${c} ${n}`).join(', ');
    const conns = r.kind === 'baseline' || r.kind === 'check' ? '-' : `${r.providerConnections.total} (${r.providerConnections.measured})`;
    const row = [
      r.name,
      String(r.serviceCpuUsPerRequest),
      String(r.redis.cpuUs),
      r.redis.calls.toFixed(1),
      r.redis.scripts.toFixed(2),
      r.kind === 'baseline' ? `(${(r.rssBytes / 2 ** 20).toFixed(0)})` : (r.rssBytes / 2 ** 20).toFixed(1),
      (r.maxProcessRssBytes / 2 ** 20).toFixed(1),
      conns,
      top,
    ];
    out.push(row.map((c, i) => pad(c, widths[i] as number, i >= 1 && i <= 7)).join(' '));
  }
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

export function printTable(results: WorkloadOutcome[], scaling: WorkloadOutcome[], memory: RedisMemory | undefined, memoryDefaults: RedisMemory | undefined, targetList: Target[], options: Options): void {
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
  costTable(out, [...results, ...scaling]);
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
  return { loadAverage: loadavg().map((n) => n.toFixed(2)).join(' '), cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version, redis: redisVersion, autocannon: autocannonVersion, git };
}

/** The WORKERS scaling rows (check workload), relative to the first count. */
export function printScaling(scaling: WorkloadOutcome[]): void {
  const one = scaling[0];
  process.stdout.write('\nScaling with WORKERS (check workload; RSS: all processes, and the largest one):\n');
  for (const r of scaling) {
    const speedup = one && one.requestsPerSec ? (r.requestsPerSec / one.requestsPerSec).toFixed(2) : '-';
    process.stdout.write(
      `  WORKERS=${r.workers}: ${r.requestsPerSec.toFixed(0)} req/s (${speedup}× WORKERS=${one?.workers}), p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, errors ${r.errors}, RSS ${(r.rssBytes / 2 ** 20).toFixed(1)} MB (all processes; largest ${(r.maxProcessRssBytes / 2 ** 20).toFixed(1)} MB), CPU s svc/redis/load/other ${r.cpuSec.service}/${r.cpuSec.redis}/${r.cpuSec.load}/${r.cpuSec.other}\n`,
    );
  }
}
