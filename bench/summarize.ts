/**
 * Medians over several runs of `npm run bench`: reads the `BENCH_JSON {…}` lines of the files given
 * (saved stdout of each run) and prints a Markdown table of the medians, and PASS/MISS per target.
 *
 *   npm run -s bench -- --duration 10 > bench/results/run1.txt   (twice or more)
 *   npx tsx bench/summarize.ts bench/results/run*.txt
 */
import { readFileSync } from 'node:fs';

interface Row {
  name: string;
  kind?: string;
  store: string;
  requestsPerSec: number;
  ratioToBaseline?: number;
  flowsPerSec?: number;
  latencyMs: { p50: number; p99: number };
  errors: number;
  rssBytes: number;
  cpuSec: { other?: number };
  serviceCpuUsPerRequest?: number;
  redis?: { cpuUs: number; calls: number; scripts: number };
  providerConnections?: { total: number; measured: number };
  maxProcessRssBytes?: number;
  workers?: number;
  error?: string;
}
interface Memory {
  averageBytesPerPhone: number;
}
interface Summary {
  machine: Record<string, string | number>;
  loadAverageAtEnd?: string;
  options: { durationSec: number; connections: number };
  results: Row[];
  redisMemory?: Memory;
  redisMemoryDefaultLimits?: Memory;
  scaling?: Row[] | string;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const runs: Summary[] = [];
for (const file of process.argv.slice(2)) {
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('BENCH_JSON ')) runs.push(JSON.parse(line.slice('BENCH_JSON '.length)) as Summary);
  }
}
if (runs.length === 0) {
  process.stderr.write('usage: tsx bench/summarize.ts <saved bench output>…  (no BENCH_JSON line found)\n');
  process.exit(2);
}

const rowsByName = new Map<string, Row[]>();
for (const run of runs) {
  const scaling = Array.isArray(run.scaling) ? run.scaling : [];
  for (const row of [...run.results, ...scaling]) {
    if (row.error) continue;
    rowsByName.set(row.name, [...(rowsByName.get(row.name) ?? []), row]);
  }
}

const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toFixed(digits) : '–');
const out: string[] = [];
out.push(`Medians of ${runs.length} run(s), ${runs[0]?.options.connections} connections, ${runs[0]?.options.durationSec} s each`);
out.push('');
out.push(`Load average (1/5/15 min) at the start of each run: ${runs.map((r) => r.machine.loadAverage ?? '?').join(' · ')}`);
out.push('');
out.push('| workload | store | req/s | × floor | p50 ms | p99 ms | errors (max) | RSS MB (largest process) | Node µs/req | Redis µs/req | Redis cmds/req | scripts/req | provider conns | runs (req/s) |');
out.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
const med: Record<string, { rps: number; ratio: number; p99: number; rss: number }> = {};
for (const [name, rows] of rowsByName) {
  const rps = median(rows.map((r) => r.requestsPerSec));
  const ratio = median(rows.map((r) => r.ratioToBaseline ?? NaN).filter(Number.isFinite));
  const p50 = median(rows.map((r) => r.latencyMs.p50));
  const p99 = median(rows.map((r) => r.latencyMs.p99));
  const rss = median(rows.map((r) => r.rssBytes / 2 ** 20));
  med[name] = { rps, ratio, p99, rss };
  const flows = rows[0]?.flowsPerSec !== undefined ? ` (${fmt(median(rows.map((r) => r.flowsPerSec ?? NaN)))} flows/s)` : '';
  const m = (f: (r: Row) => number | undefined, digits = 0): string => fmt(median(rows.map((r) => f(r) ?? NaN).filter(Number.isFinite)), digits);
  const largest = name.includes('WORKERS=') ? ` (${m((r) => (r.maxProcessRssBytes ?? NaN) / 2 ** 20, 1)})` : '';
  const conns = rows[0]?.kind === 'send' || rows[0]?.kind === 'flow' ? m((r) => r.providerConnections?.total) : '–';
  out.push(
    `| ${name} | ${rows[0]?.store} | ${fmt(rps)}${flows} | ${fmt(ratio, 2)} | ${fmt(p50, 2)} | ${fmt(p99, 2)} | ${Math.max(...rows.map((r) => r.errors))} | ${name === 'baseline' ? `(${fmt(rss)})` : fmt(rss, 1)}${largest} | ${m((r) => r.serviceCpuUsPerRequest)} | ${m((r) => r.redis?.cpuUs)} | ${m((r) => r.redis?.calls, 1)} | ${m((r) => r.redis?.scripts, 2)} | ${conns} | ${rows.map((r) => fmt(r.requestsPerSec)).join(', ')} |`,
  );
}
const memory = median(runs.map((r) => r.redisMemory?.averageBytesPerPhone ?? NaN).filter(Number.isFinite));
const memoryDefaults = median(runs.map((r) => r.redisMemoryDefaultLimits?.averageBytesPerPhone ?? NaN).filter(Number.isFinite));
const verdict = (pass: boolean | undefined): string => (pass === undefined ? 'N/A' : pass ? 'PASS' : 'MISS');
const known = (n: number | undefined): n is number => n !== undefined && Number.isFinite(n);
out.push('');
out.push('| target | median | verdict |');
out.push('|---|---:|---|');
const check = med.check;
const send = med.send;
const floorP99 = med.baseline?.p99;
const workers2 = rowsByName.get('check WORKERS=2');
const perProcess = workers2 ? median(workers2.map((r) => (r.maxProcessRssBytes ?? NaN) / 2 ** 20).filter(Number.isFinite)) : NaN;
out.push(`| send ≥ 0.5× floor | ${fmt(send?.ratio ?? NaN, 2)}× | ${verdict(known(send?.ratio) ? send.ratio >= 0.5 : undefined)} |`);
const sendLog = med['send-log'];
out.push(`| send with SMS_PROVIDER=log ≥ 0.5× floor | ${fmt(sendLog?.ratio ?? NaN, 2)}× | ${verdict(known(sendLog?.ratio) ? sendLog.ratio >= 0.5 : undefined)} |`);
out.push(`| check ≥ 0.8× floor | ${fmt(check?.ratio ?? NaN, 2)}× | ${verdict(known(check?.ratio) ? check.ratio >= 0.8 : undefined)} |`);
for (const [name, row] of [['send', send], ['send-log', sendLog], ['check', check]] as const) {
  const limit = known(floorP99) ? floorP99 * 1.25 : NaN;
  out.push(`| ${name} p99 ≤ 1.25× floor p99 (${fmt(limit, 2)} ms) | ${fmt(row?.p99 ?? NaN, 2)} ms | ${verdict(known(row?.p99) && Number.isFinite(limit) ? row.p99 <= limit : undefined)} |`);
  out.push(`| service RSS ≤ 200 MB, ${name} | ${fmt(row?.rss ?? NaN, 1)} MB | ${verdict(known(row?.rss) ? row.rss <= 200 : undefined)} |`);
}
out.push(`| RSS per process ≤ 200 MB, WORKERS=2 (largest process) | ${fmt(perProcess, 1)} MB | ${verdict(Number.isFinite(perProcess) ? perProcess <= 200 : undefined)} |`);
out.push(`| Redis memory per phone holding a code ≤ 352 B | ${fmt(memory)} B | ${verdict(Number.isFinite(memory) ? memory <= 352 : undefined)} |`);
out.push(`| same, default limits (send + wrong check) | ${fmt(memoryDefaults)} B | – |`);
process.stdout.write(`${out.join('\n')}\n`);
