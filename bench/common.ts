import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** bench/ and the repository root. */
export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(BENCH_DIR, '..');

/** `139` + 8 digits: a valid mainland mobile number for every n in 0 … 99,999,999. */
export function phoneOf(n: number): string {
  return `139${String(n % 100_000_000).padStart(8, '0')}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Progress lines of the benchmark, on stderr (stdout holds the report). */
export function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

/** The service's default `REDIS_PREFIX`, and what every workload sends. */
export const PREFIX = 'sms:';
export const CHANNEL = 'login';
export const WRONG_CODE = '0000';

/** Phone counter ranges, one per workload so that they never share a phone. */
export const CHECK_PHONE_BASE = 0; // 13900000000 …
export const SEND_PHONE_BASE = 10_000_000; // 13910000000 …
export const FLOW_PHONE_BASE = 50_000_000; // 13950000000 …
export const DEFAULTS_PHONE_BASE = 90_000_000; // 13990000000 …
