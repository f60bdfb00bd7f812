/**
 * `npx tsx bench/provider-cost.ts [--sends 3000] [--concurrency 1,16]`: the CPU one send costs through
 * the real Aliyun SDK (AliyunSmsProvider: ACS3 signing, httpx, the response parse) against the Dysmsapi
 * double in its own process, and the TCP connections the sends opened (counted by the double).
 * Prints one line per concurrency; the CPU is this process's only (the double's is not included).
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { parsePhone } from '../src/domain/phones/phone.js';
import { AliyunSmsProvider } from '../src/providers/aliyun/aliyun-provider.js';
import { BENCH_DIR, ROOT } from './common.js';
import { own, stop } from './procs.js';

function flag(name: string, fallback: string): string {
  const at = process.argv.indexOf(name);
  return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback;
}

async function main(): Promise<void> {
  const sends = Number(flag('--sends', '3000'));
  const concurrencies = flag('--concurrency', '1,16').split(',').map(Number);
  const fake = own(fork(join(BENCH_DIR, 'fake-sms.ts'), [], { cwd: ROOT, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const port = await new Promise<number>((resolve) => fake.once('message', (m: unknown) => resolve((m as { port: number }).port)));
  let asked = 0;
  const connections = (): Promise<number> =>
    new Promise((resolve) => {
      const id = ++asked;
      const on = (m: unknown): void => {
        const reply = m as { stats?: number; connections?: number };
        if (reply.stats !== id) return;
        fake.off('message', on);
        resolve(reply.connections ?? 0);
      };
      fake.on('message', on);
      fake.send({ stats: id });
    });
  const logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const provider = new AliyunSmsProvider({ endpoint: `http://127.0.0.1:${port}`, accessKeyId: 'testAkId', accessKeySecret: 'testAkSecret', timeoutMs: 5000, logger });
  const parsed = parsePhone('13900000000');
  if (!parsed.ok) throw new Error('phone');
  let n = 0;
  const one = async (): Promise<void> => {
    const outcome = await provider.send({ phone: parsed.phone, signName: '基准测试', templateCode: 'SMS_000000001', templateParam: { code: '123456' }, outId: `cost-${n++}` });
    if (!outcome.ok) throw new Error(`send failed: ${outcome.providerCode}`);
  };
  const run = async (count: number, concurrency: number): Promise<void> => {
    let left = count;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (left-- > 0) await one();
    }));
  };
  await run(500, 16); // warm-up (JIT, agent)
  for (const concurrency of concurrencies) {
    const connBefore = await connections();
    const cpu = process.cpuUsage();
    const started = process.hrtime.bigint();
    await run(sends, concurrency);
    const used = process.cpuUsage(cpu);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const opened = (await connections()) - connBefore;
    process.stdout.write(
      `concurrency ${concurrency}: ${sends} sends in ${seconds.toFixed(2)} s (${(sends / seconds).toFixed(0)}/s), ` +
        `${((used.user + used.system) / sends).toFixed(0)} µs CPU per send in the caller, ${opened} new TCP connections\n`,
    );
  }
  await provider.close();
  await stop(fake, 2000);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
