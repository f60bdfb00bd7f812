/**
 * Child processes of the benchmark: every one is registered here and killed on exit, error or
 * signal; plus /proc readers for RSS and CPU time of a process and its descendants.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { sleep } from './common.js';

const children = new Set<ChildProcess>();

/** Registers a child so that it never outlives the benchmark. */
export function own<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** SIGTERM, then SIGKILL after `graceMs`. Resolves once the child has exited. */
export async function stop(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (!alive(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    if (alive(child)) child.kill('SIGKILL');
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

export async function stopAll(graceMs = 3000): Promise<void> {
  await Promise.all([...children].map((child) => stop(child, graceMs)));
}

let handlersInstalled = false;

/** Kills every registered child on process exit; SIGINT/SIGTERM stop them, then exit 130/143. */
export function installCleanup(log: (line: string) => void): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => {
    for (const child of children) if (alive(child)) child.kill('SIGKILL');
  });
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping ${children.size} child process(es)`);
      stopAll(2000).finally(() => process.exit(code));
    });
  }
}

/** The last `max` characters a child wrote, for error messages. */
export class OutputTail {
  private text = '';
  lines = 0;
  constructor(private readonly max = 4000) {}
  push(chunk: Buffer | string): void {
    const s = chunk.toString();
    for (const c of s) if (c === '\n') this.lines++;
    this.text = (this.text + s).slice(-this.max);
  }
  toString(): string {
    return this.text;
  }
}

export interface Started {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  readonly url: string;
  readonly output: OutputTail;
}

/**
 * `node [nodeArgs] <script>` (with `--import tsx` for a `.ts` script) with `env` (on top of a minimal
 * PATH/HOME environment), listening on `port`; resolves once GET `readyPath` answers 200.
 */
export async function startNodeServer(opts: {
  cwd: string;
  script: string;
  port: number;
  env: Record<string, string>;
  nodeArgs?: string[];
  readyPath: string;
  timeoutMs?: number;
}): Promise<Started> {
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  Object.assign(env, opts.env, { PORT: String(opts.port), HOST: '127.0.0.1' });
  const child = own(
    spawn(process.execPath, [...(opts.nodeArgs ?? []), ...(opts.script.endsWith('.ts') ? ['--import', 'tsx'] : []), opts.script], {
      cwd: opts.cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const output = new OutputTail();
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk));
  const url = `http://127.0.0.1:${opts.port}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    if (!alive(child)) throw new Error(`${opts.script} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output}`);
    try {
      const response = await fetch(`${url}${opts.readyPath}`, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      if (response.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop(child);
      throw new Error(`${opts.script} was not ready within ${opts.timeoutMs ?? 30_000} ms:\n${output}`);
    }
    await sleep(100);
  }
  return { child, pid: child.pid as number, port: opts.port, url, output };
}

/** The pid and every descendant's pid (cluster workers). */
export function processTree(root: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parentOf.set(Number(entry), Number(fields[1]));
    } catch {
      // gone
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) {
    for (const [pid, ppid] of parentOf) if (ppid === tree[i]) tree.push(pid);
  }
  return tree;
}

function statusField(pid: number, field: string): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Resident set size (VmRSS) in bytes, summed over the process and its descendants. */
export function rssBytes(pid: number): number {
  return processTree(pid).reduce((sum, p) => sum + statusField(p, 'VmRSS'), 0);
}

/** The largest VmRSS of one process among the process and its descendants (per worker with WORKERS), bytes. */
export function maxProcessRssBytes(pid: number): number {
  return Math.max(0, ...processTree(pid).map((p) => statusField(p, 'VmRSS')));
}

/** Peak RSS (VmHWM) in bytes, summed over the process and its descendants. */
export function peakRssBytes(pid: number): number {
  return processTree(pid).reduce((sum, p) => sum + statusField(p, 'VmHWM'), 0);
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** User + system CPU seconds of the process and its live descendants. */
export function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return ticks / CLOCK_TICKS;
}

/** CPU seconds the whole machine spent busy (all processes, all cores) since boot, from /proc/stat. */
export function machineBusySeconds(): number {
  try {
    const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** Read and write system calls (`syscr`, `syscw` of /proc/<pid>/io), summed over the process tree. */
export function syscallCounts(pid: number): { reads: number; writes: number } {
  let reads = 0;
  let writes = 0;
  for (const p of processTree(pid)) {
    try {
      const io = readFileSync(`/proc/${p}/io`, 'utf8');
      reads += Number(/^syscr:\s+(\d+)/m.exec(io)?.[1] ?? 0);
      writes += Number(/^syscw:\s+(\d+)/m.exec(io)?.[1] ?? 0);
    } catch {
      // gone, or not readable
    }
  }
  return { reads, writes };
}
