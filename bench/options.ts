/** `npm run bench` command line: the workloads and how long and hard to run them. */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BENCH_DIR } from './common.js';

export type WorkloadName = 'baseline' | 'send' | 'send-log' | 'check' | 'flow' | 'check-memory';
export const ALL_WORKLOADS: WorkloadName[] = ['baseline', 'send', 'send-log', 'check', 'flow', 'check-memory'];

export interface Options {
  durationSec: number;
  connections: number;
  warmupSec: number;
  phones: number;
  only: WorkloadName[];
  profileDir: string | undefined;
  workers: number[] | undefined;
  /** `--node-args "--max-semi-space-size=8 …"`: extra Node flags for the service processes (not the baseline). */
  nodeArgs: string[];
}

/** Parses `argv`; `--help` prints the usage comment of bench/run.ts and exits 0; a bad flag throws. */
export function parseArgs(argv: string[]): Options {
  const options: Options = {
    durationSec: 10,
    connections: 64,
    warmupSec: 3,
    phones: 10_000,
    only: ALL_WORKLOADS,
    profileDir: undefined,
    workers: undefined,
    nodeArgs: [],
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
      case '--node-args':
        options.nodeArgs = (value() ?? '').split(' ').filter(Boolean);
        break;
      case '--no-workers':
        options.workers = [];
        break;
      case '--help':
      case '-h':
        process.stdout.write(readFileSync(join(BENCH_DIR, 'run.ts'), 'utf8').split('*/')[0] + '*/\n');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown flag "${flag}"`);
    }
  }
  return options;
}
