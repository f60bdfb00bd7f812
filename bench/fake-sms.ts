/**
 * The Dysmsapi double for the benchmark, in its own process (forked by bench/run.ts).
 * Unlike `npm run fake-sms` it prints nothing per SendSms, and it drops its recorded
 * requests every second so its memory stays flat under load (it still checks every
 * ACS3-HMAC-SHA256 signature and nonce, as Aliyun does). Reports its port over IPC, and on request
 * (`{ stats: n }`) the TCP connections it has accepted (`{ stats: n, connections }`).
 */
import { FakeDysmsapi } from '../tools/fake-dysmsapi/fake-dysmsapi.js';

async function main(): Promise<void> {
  const fake = await FakeDysmsapi.start({
    host: '127.0.0.1',
    port: Number(process.env.FAKE_SMS_PORT ?? '0'),
    accessKeys: { testAkId: 'testAkSecret' },
  });
  const trim = setInterval(() => {
    fake.requests = [];
  }, 1000);
  const stop = (): void => {
    clearInterval(trim);
    fake.close().finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.on('disconnect', stop);
  // bench/run.ts asks for the connections accepted so far around each measured round.
  process.on('message', (m: unknown) => {
    if ((m as { stats?: number }).stats !== undefined) process.send?.({ stats: (m as { stats: number }).stats, connections: fake.connectionsAccepted });
  });
  process.send?.({ port: fake.port });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
