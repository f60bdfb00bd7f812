/**
 * What Redis did during a measured round, from its own counters: `INFO cpu` (used_cpu_sys + used_cpu_user,
 * main thread and background) and `INFO commandstats` (every command, including the `redis.call`s a Lua
 * script makes, which Redis counts under their own names). The benchmark's own INFO calls are left out.
 */
import type { Redis } from 'ioredis';

export interface RedisCounters {
  cpuSec: number;
  /** Calls per command name (lower case), e.g. `evalsha`, `zadd`. */
  calls: Record<string, number>;
}

export interface RedisPerRequest {
  /** Redis CPU (user + system) per answered request, µs. */
  cpuUs: number;
  /** Commands Redis ran per answered request, scripts' own `redis.call`s included, script invocations excluded. */
  calls: number;
  /** EVAL/EVALSHA (and FCALL) per answered request: the round trips that carry a script. */
  scripts: number;
  /** Every command name with its calls per request, most frequent first (scripts included). */
  byCommand: Record<string, number>;
}

const SCRIPT_COMMANDS = new Set(['eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'fcall', 'fcall_ro']);
/** Commands the benchmark itself sends around a round (never the service's work). */
const BENCH_COMMANDS = new Set(['info', 'flushall', 'config|resetstat', 'config']);

export async function redisCounters(redis: Redis): Promise<RedisCounters> {
  const text = await redis.info('everything');
  const number = (name: string): number => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(text)?.[1] ?? 0);
  const cpuSec = number('used_cpu_sys') + number('used_cpu_user');
  const calls: Record<string, number> = {};
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls[(match[1] as string).toLowerCase()] = Number(match[2]);
  }
  return { cpuSec, calls };
}

export function perRequest(before: RedisCounters, after: RedisCounters, requests: number): RedisPerRequest {
  const n = Math.max(1, requests);
  const round = (x: number): number => Math.round(x * 100) / 100;
  let calls = 0;
  let scripts = 0;
  const byCommand: Record<string, number> = {};
  for (const [name, count] of Object.entries(after.calls)) {
    if (BENCH_COMMANDS.has(name)) continue;
    const delta = count - (before.calls[name] ?? 0);
    if (delta <= 0) continue;
    byCommand[name] = round(delta / n);
    if (SCRIPT_COMMANDS.has(name)) scripts += delta;
    else calls += delta;
  }
  const sorted = Object.fromEntries(Object.entries(byCommand).sort((a, b) => b[1] - a[1]));
  return { cpuUs: Math.round(((after.cpuSec - before.cpuSec) * 1e6) / n), calls: round(calls / n), scripts: round(scripts / n), byCommand: sorted };
}
