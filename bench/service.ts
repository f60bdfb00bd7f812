/**
 * The processes under test: the compiled service (`node dist/server.js`, as `npm start` and the
 * Docker image run it) and the baseline server, each started fresh per workload, optionally under
 * `--cpu-prof`, and stopped again whatever happens.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { freePort, type SpawnedRedis } from '../test/support/redis-server.js';
import { log, ROOT } from './common.js';
import type { Options } from './options.js';
import { startNodeServer, stop, type Started } from './procs.js';

/** The compiled entry point the benchmark measures. */
export const SERVICE_SCRIPT = 'dist/server.js';

export interface Env {
  redis: SpawnedRedis;
  redisClient: Redis;
  fakePort: number;
  fakePid: number;
  /** TCP connections the Dysmsapi double has accepted since it started. */
  fakeConnections: () => Promise<number>;
}

export interface ServiceOverrides {
  redis: boolean;
  exposeCode: boolean;
  workers?: number;
  /** SMS_PROVIDER=log: no provider call. */
  logProvider?: boolean;
  /** The service's default limits (for the Redis memory figure under the production configuration). */
  defaultLimits?: boolean;
}

export const RELAXED_LIMITS: Record<string, string> = {
  // Never refuses during a run; the day-long window keeps each send log, so the memory figure includes it.
  SEND_LIMITS: '100000/1d',
  PHONE_SEND_LIMITS: 'off',
  VERIFY_FAILURE_LIMITS: 'off',
  MAX_VERIFY_ATTEMPTS: '100',
};

/** `npm run build` (its output on stderr: stdout holds the report), so the measured JS is the current source. */
export function buildService(): void {
  log('building the service (npm run build)…');
  execFileSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: ['ignore', process.stderr, 'inherit'] });
  if (!existsSync(join(ROOT, SERVICE_SCRIPT))) throw new Error(`npm run build did not produce ${SERVICE_SCRIPT}`);
}

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
    ...(overrides.logProvider ? { SMS_PROVIDER: 'log' } : {}),
  };
}

/** Service pid → path of its .cpuprofile without the extension (with --profile). */
const profileBases = new Map<number, string>();

export function profileBaseOf(pid: number): string | undefined {
  return profileBases.get(pid);
}

/** `--cpu-prof` arguments for a server process (with --profile), and where its profile goes. */
function profileArgs(name: string, options: Options): { nodeArgs: string[]; profileBase: string | undefined } {
  if (!options.profileDir) return { nodeArgs: [], profileBase: undefined };
  mkdirSync(options.profileDir, { recursive: true });
  const base = `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  const profileBase = join(options.profileDir, base);
  // One directory per process: V8 writes a profile per thread (the baseline's tsx loader runs on its own thread).
  return { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileBase}.d`], profileBase };
}

async function startProfiled(
  name: string,
  options: Options,
  script: string,
  env: Record<string, string>,
  readyPath: string,
  extraNodeArgs: readonly string[] = [],
): Promise<Started> {
  const { nodeArgs, profileBase } = profileArgs(name, options);
  const started = await startNodeServer({ cwd: ROOT, script, port: await freePort(), env, nodeArgs: [...extraNodeArgs, ...nodeArgs], readyPath });
  if (profileBase) profileBases.set(started.pid, profileBase);
  return started;
}

export function startService(env: Env, name: string, options: Options, overrides: ServiceOverrides): Promise<Started> {
  return startProfiled(name, options, SERVICE_SCRIPT, serviceEnv(env, overrides), '/readyz', options.nodeArgs);
}

/** bench/baseline-server.ts: a bare Fastify route running one tiny Lua script on the same Redis. */
export function startBaseline(env: Env, options: Options): Promise<Started> {
  return startProfiled('baseline', options, 'bench/baseline-server.ts', { REDIS_URL: env.redis.url, LOG_LEVEL: 'warn' }, '/healthz');
}

export async function withServer<T>(start: () => Promise<Started>, body: (server: Started) => Promise<T>): Promise<T> {
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
