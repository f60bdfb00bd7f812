/**
 * Top self-time functions of a V8 .cpuprofile (from `node --cpu-prof`, e.g. `npm run bench --
 * --only check --profile bench/profiles`).
 *
 *   npx tsx bench/cpuprofile-top.ts <file.cpuprofile> [--top 30] [--all] [--callers <function name>]
 *
 * If `<file>.window.json` (written by bench/run.ts) is beside it, only the samples of the measured
 * round count (V8's profile timestamps and bench/run.ts both use CLOCK_MONOTONIC); `--all` ignores it.
 * Prints self time by function, by package (node_modules/<pkg>, node: internals, project files), and
 * the inclusive time of the project's own functions; `--callers NAME`: the call paths (9 frames up)
 * that lead to the self time of functions called NAME.
 */
import { existsSync, readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function shortUrl(url: string): string {
  return url.replace(/^file:\/\/\/?/, '/').replace(/^.*\/node_modules\//, '~/').replace(/^.*?\/main\//, '');
}

function packageOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node: internals';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1] as string;
  return `project: ${shortUrl(url).split('/').slice(0, -1).join('/') || '.'}`;
}

function main(): void {
  // `… | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  const args = process.argv.slice(2);
  const callersIndex = args.indexOf('--callers');
  const callersOf = callersIndex >= 0 ? args[callersIndex + 1] : undefined;
  const file = args.find((a, i) => !a.startsWith('--') && !/^\d+$/.test(a) && (callersIndex < 0 || i !== callersIndex + 1));
  if (!file) {
    process.stderr.write('usage: tsx bench/cpuprofile-top.ts <file.cpuprofile> [--top N] [--all]\n');
    process.exit(2);
  }
  const topIndex = args.indexOf('--top');
  const top = topIndex >= 0 ? Number(args[topIndex + 1]) : 30;
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;

  let from = -Infinity;
  let to = Infinity;
  const windowFile = file.replace(/\.cpuprofile$/, '.window.json');
  if (!args.includes('--all') && existsSync(windowFile)) {
    const w = JSON.parse(readFileSync(windowFile, 'utf8')) as { startUs: number; endUs: number; workload?: string };
    from = w.startUs;
    to = w.endUs;
    process.stdout.write(`window: measured round of ${w.workload ?? '?'} (${((to - from) / 1e6).toFixed(1)} s)\n`);
  }

  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const self = new Map<number, number>();
  let t = profile.startTime;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < from || t > to) continue;
    const delta = profile.timeDeltas[i + 1] ?? 0; // time until the next sample is this sample's weight
    const id = profile.samples[i] as number;
    self.set(id, (self.get(id) ?? 0) + delta);
    total += delta;
  }

  const key = (f: CallFrame): string => `${f.functionName || '(anonymous)'}  ${f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : ''}`;
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  const projectInclusive = new Map<string, number>();
  const callerPaths = new Map<string, number>();
  for (const [id, us] of self) {
    const node = byId.get(id) as ProfileNode;
    const f = node.callFrame;
    if (callersOf !== undefined && f.functionName === callersOf) {
      const path: string[] = [];
      for (let cur = parent.get(id); cur !== undefined && path.length < 9; cur = parent.get(cur)) {
        const cf = (byId.get(cur) as ProfileNode).callFrame;
        path.push(`${cf.functionName || '(anonymous)'}@${cf.url ? shortUrl(cf.url).split('/').pop() : ''}`);
      }
      const k = path.join(' < ');
      callerPaths.set(k, (callerPaths.get(k) ?? 0) + us);
    }
    byFunction.set(key(f), (byFunction.get(key(f)) ?? 0) + us);
    const pkg = packageOf(f.url, f.functionName);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
    // Inclusive time of project functions (each counted once per sample stack).
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = (byId.get(cur) as ProfileNode).callFrame;
      if (!cf.url || cf.url.includes('node_modules') || cf.url.startsWith('node:')) continue;
      const k = key(cf);
      if (seen.has(k)) continue;
      seen.add(k);
      projectInclusive.set(k, (projectInclusive.get(k) ?? 0) + us);
    }
  }

  const pct = (us: number): string => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
  const msOf = (us: number): string => `${(us / 1000).toFixed(0).padStart(7)} ms`;
  const print = (title: string, map: Map<string, number>, n: number): void => {
    process.stdout.write(`\n${title}\n`);
    for (const [k, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) process.stdout.write(`${pct(us)} ${msOf(us)}  ${k}\n`);
  };
  process.stdout.write(`sampled ${(total / 1000).toFixed(0)} ms\n`);
  print('Self time by function', byFunction, top);
  print('Self time by package', byPackage, 25);
  print('Inclusive time of project functions', projectInclusive, top);
  if (callersOf !== undefined) print(`Callers of ${callersOf}`, callerPaths, top);
}

main();
