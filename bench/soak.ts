/**
 * `npm run soak -- --minutes N [--rate 200] [--concurrency 16]`
 *
 * Runs mixed traffic (sends, right and wrong checks, notices, both APIs, refusals included)
 * against a service process on its own redis-server and the local Dysmsapi double for N
 * minutes, and reports whether:
 * - the service's RSS stays flat (first vs last third of the samples, and the peak),
 * - its event loop never stalls beyond a bound (`nodejs_eventloop_lag_max_seconds` from /metrics),
 * - Redis holds only keys with a TTL, plus the shared secret and the bounded audit stream.
 * Prints a summary and one `SOAK_JSON {…}` line. Exits 0 (a soak never fails CI on a number).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { FakeDysmsapi } from '../tools/fake-dysmsapi/fake-dysmsapi.js';
import { freePort, spawnRedisServer, stopProcess } from '../test/support/redis-server.js';

interface Options {
  minutes: number;
  rate: number;
  concurrency: number;
}

const LAG_BOUND_MS = 100;
const AUDIT_MAXLEN = 100_000;
const PHONES = 5_000;

function parseOptions(argv: string[]): Options {
  const options: Options = { minutes: 1, rate: 200, concurrency: 16 };
  for (let i = 0; i < argv.length; i += 2) {
    const value = Number(argv[i + 1]);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${argv[i]} needs a positive number`);
    if (argv[i] === '--minutes') options.minutes = value;
    else if (argv[i] === '--rate') options.rate = value;
    else if (argv[i] === '--concurrency') options.concurrency = value;
    else throw new Error(`unknown option ${argv[i]}`);
  }
  return options;
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function startService(port: number, env: Record<string, string>): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server.ts'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: String(port), HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}`);
    const up = await fetch(`${base}/readyz`).then((r) => r.ok, () => false);
    if (up) return { child, base };
    if (Date.now() > deadline) throw new Error('service did not become ready');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function lagMaxMs(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return Number(/^nodejs_eventloop_lag_max_seconds\s+([\d.e+-]+)/m.exec(text)?.[1] ?? 0) * 1000;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const redis = await spawnRedisServer();
  const fake = await FakeDysmsapi.start();
  const port = await freePort();
  const { child, base } = await startService(port, {
    LOG_LEVEL: 'warn',
    REDIS_URL: redis.url,
    SMS_PROVIDER: 'aliyun',
    ALIYUN_SMS_ENDPOINT: fake.url,
    ALIBABA_CLOUD_ACCESS_KEY_ID: 'testAkId',
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'testAkSecret',
    ALIYUN_SMS_SIGN_NAME: 'soak',
    ALIYUN_SMS_TEMPLATE_CODE: 'SMS_1',
    EXPOSE_CODE: 'true',
    SEND_LIMITS: '1/2s,5/1m,10/10m',
    AUDIT_MAXLEN: String(AUDIT_MAXLEN),
  });
  const pid = child.pid as number;
  const stop = async () => {
    await stopProcess(child);
    await fake.close();
    await redis.stop();
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));

  const codes = new Map<string, string>();
  const statuses = new Map<number, number>();
  let requests = 0;
  let failures = 0;
  const deadline = Date.now() + options.minutes * 60_000;
  const post = async (path: string, body: object) => {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    requests += 1;
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const phone = () => `139${String(Math.floor(Math.random() * PHONES)).padStart(8, '0')}`;
  const step = async () => {
    const p = phone();
    const roll = Math.random();
    if (roll < 0.35) {
      const res = await post('/v1/verifications', { phone: p, channel: 'soak' });
      if (res.status === 201) codes.set(p, res.body.code as string);
    } else if (roll < 0.6) {
      const code = codes.get(p);
      await post('/v1/verifications/check', { phone: p, channel: 'soak', code: code && Math.random() < 0.5 ? code : '0000' });
    } else if (roll < 0.75) {
      await post('/sms_message/getVerificationCode', { phone: p, channel: 'legacy' });
    } else if (roll < 0.85) {
      await post('/sms_message/verify_code', { phone: p, channel: 'legacy', code: '1234' });
    } else {
      await post('/v1/notifications', { phone: p, channel: 'notice', templateCode: 'SMS_2', templateParam: { n: '1' } });
    }
  };
  const interval = (1000 * options.concurrency) / options.rate;
  const workers = Array.from({ length: options.concurrency }, async () => {
    while (Date.now() < deadline) {
      const started = Date.now();
      await step().catch(() => {
        failures += 1;
      });
      const wait = interval - (Date.now() - started);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  });

  const samples: Array<{ t: number; rssMb: number; lagMaxMs: number; requests: number }> = [];
  const sampler = setInterval(() => {
    void lagMaxMs(base).then((lag) => {
      samples.push({ t: Date.now(), rssMb: rssMb(pid), lagMaxMs: lag, requests });
      const last = samples.at(-1);
      process.stdout.write(`t+${Math.round((Date.now() - (deadline - options.minutes * 60_000)) / 1000)}s rss=${last?.rssMb.toFixed(1)}MB lagMax=${last?.lagMaxMs.toFixed(1)}ms requests=${requests}\n`);
    });
  }, 10_000);
  await Promise.all(workers);
  clearInterval(sampler);

  // Redis: every key expires by itself, but for the secret and the (bounded) audit stream.
  const admin = new Redis(redis.url);
  let cursor = '0';
  let keys = 0;
  const withoutTtl: string[] = [];
  do {
    const [next, batch] = await admin.scan(cursor, 'COUNT', 1000);
    cursor = next;
    for (const key of batch) {
      keys += 1;
      if ((await admin.pttl(key)) < 0) withoutTtl.push(key);
    }
  } while (cursor !== '0');
  const auditLength = await admin.xlen('sms:audit');
  const usedMemoryMb = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1] ?? 0) / 1048576;
  admin.disconnect();
  await stop();

  const third = Math.max(1, Math.floor(samples.length / 3));
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const early = avg(samples.slice(0, third).map((s) => s.rssMb));
  const late = avg(samples.slice(-third).map((s) => s.rssMb));
  const summary = {
    minutes: options.minutes,
    requests,
    failures,
    statuses: Object.fromEntries(statuses),
    rssMb: { early: +early.toFixed(1), late: +late.toFixed(1), peak: +Math.max(...samples.map((s) => s.rssMb)).toFixed(1) },
    rssGrowthPct: +(((late - early) / early) * 100).toFixed(1),
    eventLoopLagMaxMs: +Math.max(...samples.map((s) => s.lagMaxMs)).toFixed(1),
    redis: { keys, keysWithoutTtl: withoutTtl, auditLength, usedMemoryMb: +usedMemoryMb.toFixed(1) },
  };
  const verdict = {
    rssFlat: summary.rssGrowthPct < 10,
    eventLoopBounded: summary.eventLoopLagMaxMs < LAG_BOUND_MS,
    onlyTtlKeys: withoutTtl.every((key) => key === 'sms:secret' || key === 'sms:audit') && auditLength <= AUDIT_MAXLEN * 1.1,
    noFailures: failures === 0 && !statuses.has(500),
  };
  process.stdout.write(`\nSOAK ${JSON.stringify(verdict)}\nSOAK_JSON ${JSON.stringify({ ...summary, verdict })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`soak failed to run: ${(error as Error).message}\n`);
  process.exit(1);
});
