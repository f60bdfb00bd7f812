/**
 * `npx tsx bench/heap-snapshot.ts [--kind send|check] [--seconds 10] [--node-arg --max-semi-space-size=32]`: what the compiled service holds
 * under load. Starts redis-server, the Dysmsapi double and `node dist/server.js` (as the bench does,
 * run `npm run build` first) with `--heapsnapshot-signal=SIGUSR2`, drives `kind` with autocannon for
 * `seconds`, prints the V8 heap the service reports on /metrics during the load (garbage included),
 * then writes a heap snapshot (V8 collects garbage first, so it holds only live objects) and prints its
 * largest object groups by constructor, self size. Snapshots land in bench/profiles/.
 */
import { fork } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, spawnRedisServer } from '../test/support/redis-server.js';
import { BENCH_DIR, CHANNEL, CHECK_PHONE_BASE, log, ROOT, SEND_PHONE_BASE, sleep, WRONG_CODE } from './common.js';
import type { LoadSpec } from './load.js';
import { installCleanup, own, rssBytes, startNodeServer, stop } from './procs.js';
import { populate } from './redis-memory.js';
import { RELAXED_LIMITS, SERVICE_SCRIPT } from './service.js';

function flag(name: string, fallback: string): string {
  const at = process.argv.indexOf(name);
  return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback;
}

async function heapGauge(url: string): Promise<string> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const gauge = (name: string): number => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text)?.[1] ?? NaN) / 2 ** 20;
  return `heap used ${gauge('nodejs_heap_size_used_bytes').toFixed(1)} MB of ${gauge('nodejs_heap_size_total_bytes').toFixed(1)} MB`;
}

/** Self size by constructor name, from a .heapsnapshot (V8's JSON format). */
function summarize(file: string, top: number): string[] {
  const snapshot = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snapshot.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = snapshot.snapshot.meta.node_types[0];
  const groups = new Map<string, { count: number; bytes: number }>();
  let total = 0;
  for (let i = 0; i < snapshot.nodes.length; i += width) {
    const type = types[snapshot.nodes[i + typeAt] as number] as string;
    const name = type === 'object' || type === 'closure' ? (snapshot.strings[snapshot.nodes[i + nameAt] as number] as string) : `(${type})`;
    const size = snapshot.nodes[i + sizeAt] as number;
    total += size;
    const group = groups.get(name) ?? { count: 0, bytes: 0 };
    group.count++;
    group.bytes += size;
    groups.set(name, group);
  }
  const lines = [`live heap in the snapshot: ${(total / 2 ** 20).toFixed(1)} MB`];
  for (const [name, g] of [...groups].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, top)) {
    lines.push(`  ${(g.bytes / 2 ** 20).toFixed(2).padStart(7)} MB ${String(g.count).padStart(8)} × ${name.slice(0, 80)}`);
  }
  return lines;
}

async function main(): Promise<void> {
  installCleanup(log);
  const kind = flag('--kind', 'send') as 'send' | 'check';
  const seconds = Number(flag('--seconds', '10'));
  const dir = join(BENCH_DIR, 'profiles');
  mkdirSync(dir, { recursive: true });
  const redis = await spawnRedisServer();
  own(redis.process);
  const fake = own(fork(join(BENCH_DIR, 'fake-sms.ts'), [], { cwd: ROOT, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const fakePort = await new Promise<number>((resolve) => fake.once('message', (m: unknown) => resolve((m as { port: number }).port)));
  const service = await startNodeServer({
    cwd: dir,
    script: join(ROOT, SERVICE_SCRIPT),
    port: await freePort(),
    nodeArgs: ['--heapsnapshot-signal=SIGUSR2', ...(process.argv.includes('--node-arg') ? [flag('--node-arg', '')] : [])],
    readyPath: '/readyz',
    env: {
      LOG_LEVEL: 'warn',
      SMS_PROVIDER: 'aliyun',
      ALIYUN_SMS_ENDPOINT: `http://127.0.0.1:${fakePort}`,
      ALIBABA_CLOUD_ACCESS_KEY_ID: 'testAkId',
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'testAkSecret',
      ALIYUN_SMS_SIGN_NAME: '基准测试',
      ALIYUN_SMS_TEMPLATE_CODE: 'SMS_000000001',
      ...RELAXED_LIMITS,
      REDIS_URL: redis.url,
    },
  });
  log(`idle: RSS ${(rssBytes(service.pid) / 2 ** 20).toFixed(1)} MB, ${await heapGauge(service.url)}`);
  if (kind === 'check') await populate(service.url, 10_000);
  const load = own(fork(join(BENCH_DIR, 'load.ts'), [], { cwd: ROOT, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const spec: LoadSpec = {
    kind,
    url: service.url,
    connections: 64,
    durationSec: seconds,
    warmupSec: 0,
    phoneBase: SEND_PHONE_BASE,
    phoneCount: 10_000,
    checkPhoneBase: CHECK_PHONE_BASE,
    wrongCode: WRONG_CODE,
    channel: CHANNEL,
    timeoutSec: 10,
  };
  const done = new Promise<unknown>((resolve) => load.on('message', (m: unknown) => (m as { phase?: string }).phase === undefined && resolve(m)));
  load.send(spec);
  await sleep((seconds * 1000) / 2);
  log(`under load: RSS ${(rssBytes(service.pid) / 2 ** 20).toFixed(1)} MB, ${await heapGauge(service.url)} (garbage included)`);
  await done;
  log(`after load: RSS ${(rssBytes(service.pid) / 2 ** 20).toFixed(1)} MB, ${await heapGauge(service.url)}`);
  const before = new Set(readdirSync(dir));
  service.child.kill('SIGUSR2');
  let file: string | undefined;
  for (let i = 0; i < 600 && !file; i++) {
    await sleep(100);
    const fresh = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (fresh && statSync(join(dir, fresh)).size > 0) {
      await sleep(1000);
      file = join(dir, fresh);
    }
  }
  if (!file) throw new Error('no heap snapshot was written');
  log(`heap snapshot (after V8's GC): ${file}; RSS ${(rssBytes(service.pid) / 2 ** 20).toFixed(1)} MB`);
  for (const line of summarize(file, 25)) process.stdout.write(`${line}\n`);
  await stop(service.child);
  await stop(load);
  await stop(fake);
  await redis.stop();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
