import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeDysmsapi } from '../tools/fake-dysmsapi/fake-dysmsapi.js';
import { nationalDigits, type ReceiptOptions, type SmsReport } from '../tools/fake-dysmsapi/receipts.js';
import { aliyunEnv as doubleEnv } from './support/aliyun-env.js';
import { startInstance, type AppInstance } from './support/app.js';
import { spawnTsx, type NodeProcess } from './support/node-process.js';
import { until } from './support/stores.js';

const CHINA_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;
const OK = { status: 200, body: { code: 0, msg: '成功' } };

interface Answer {
  readonly status: number;
  readonly body: unknown;
}

/** A receipt endpoint on loopback: records every batch, answers from a script (then `OK`). */
class Receiver {
  readonly batches: Array<{ contentType: string | undefined; reports: SmsReport[] }> = [];
  readonly url: string;
  private constructor(
    private readonly server: Server,
    private readonly script: Answer[],
  ) {
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/receipts/aliyun/token`;
  }

  static async start(script: Answer[] = []): Promise<Receiver> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const receiver = new Receiver(server, [...script]);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        receiver.batches.push({ contentType: req.headers['content-type'], reports: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
        const answer = receiver.script.shift() ?? OK;
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
      });
    });
    return receiver;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** The Aliyun provider against the double, with the code in the answer. */
function aliyunEnv(endpoint: string): Record<string, string> {
  return doubleEnv(endpoint, { ALIYUN_SMS_TIMEOUT_MS: '3000', EXPOSE_CODE: 'true' });
}

describe('the Dysmsapi double pushes delivery receipts like Aliyun SmsReport', () => {
  const cleanup: Array<() => Promise<unknown> | void> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  async function setUp(receipts: Omit<ReceiptOptions, 'url'>, script: Answer[] = []) {
    const receiver = await Receiver.start(script);
    cleanup.push(() => receiver.close());
    const fake = await FakeDysmsapi.start({ receipts: { url: receiver.url, ...receipts } });
    cleanup.push(() => fake.close());
    const service = await startInstance(aliyunEnv(fake.url));
    cleanup.push(() => service.app.close());
    return { receiver, fake, service };
  }

  it('posts one batch per accepted SendSms after the delay: delivered by default, undelivered for the listed numbers', async () => {
    const { receiver, fake, service } = await setUp({ delayMs: 300, undelivered: ['+8613800000002'] });
    const started = Date.now();
    expect((await service.post('/v1/verifications', { phone: '13800000001', channel: 'login' })).status).toBe(201);
    expect((await service.post('/v1/verifications', { phone: '+86 138 0000 0002', channel: 'login' })).status).toBe(201);
    await until(() => receiver.batches.length === 2, 10_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    const sends = fake.sends();
    const byPhone = new Map(receiver.batches.map((b) => [b.reports[0]?.phone_number, b]));
    for (const send of sends) {
      const batch = byPhone.get(send.query.PhoneNumbers);
      expect(batch?.contentType).toMatch(/^application\/json/);
      expect(batch?.reports).toHaveLength(1);
      const report = batch?.reports[0] as SmsReport;
      expect(Object.keys(report).sort()).toEqual(
        ['biz_id', 'err_code', 'err_msg', 'out_id', 'phone_number', 'report_time', 'send_time', 'sms_size', 'success'].sort(),
      );
      expect(report.biz_id).toBe(send.reply?.bizId);
      expect(report.out_id).toBe(send.query.OutId);
      expect(report.send_time).toMatch(CHINA_TIME);
      expect(report.report_time).toMatch(CHINA_TIME);
      expect(report.report_time >= report.send_time).toBe(true);
      expect(report.sms_size).toBe('1');
    }
    expect(byPhone.get('13800000001')?.reports[0]).toMatchObject({ success: true, err_code: 'DELIVERED' });
    expect(byPhone.get('13800000002')?.reports[0]).toMatchObject({ success: false, err_code: 'MK:0001' });
    await fake.receipts?.idle();
    expect(receiver.batches).toHaveLength(2);
  });

  it('pushes a batch again while the receiver answers non-2xx or {"code":1}, until it acknowledges', async () => {
    const { receiver, fake, service } = await setUp({ delayMs: 10, retryDelaysMs: [50, 50, 50] }, [
      { status: 503, body: { code: 1, msg: 'store down' } },
      { status: 200, body: { code: 1, msg: 'no' } },
    ]);
    await service.post('/v1/verifications', { phone: '13800000001', channel: 'login' });
    await until(() => receiver.batches.length === 3, 10_000);
    await fake.receipts?.idle();
    expect(receiver.batches).toHaveLength(3);
    expect(new Set(receiver.batches.map((b) => JSON.stringify(b.reports))).size).toBe(1);
    expect(fake.receipts?.pushes.map((p) => [p.attempt, p.status, p.acknowledged])).toEqual([
      [1, 503, false],
      [2, 200, false],
      [3, 200, true],
    ]);
  });

  it('gives up after the bounded repeats, like Aliyun, and counts an unreachable receiver as a failure', async () => {
    const { receiver, fake, service } = await setUp({ delayMs: 10, retryDelaysMs: [30, 30, 30] }, Array(10).fill({ status: 500, body: {} }));
    await service.post('/v1/verifications', { phone: '13800000001', channel: 'login' });
    await until(() => receiver.batches.length === 4, 10_000);
    await fake.receipts?.idle();
    expect(receiver.batches).toHaveLength(4);
    expect(fake.receipts?.pushes.at(-1)).toMatchObject({ attempt: 4, acknowledged: false, willRetry: false });

    await receiver.close();
    await service.post('/v1/verifications', { phone: '13800000003', channel: 'login' });
    await until(() => (fake.receipts?.pushes.length ?? 0) === 8, 10_000);
    await fake.receipts?.idle();
    expect(fake.receipts?.pushes.slice(4).map((p) => [p.attempt, p.status, p.acknowledged])).toEqual([
      [1, undefined, false],
      [2, undefined, false],
      [3, undefined, false],
      [4, undefined, false],
    ]);
  });

  it('matches FAKE_SMS_UNDELIVERED numbers in any spelling', () => {
    for (const spelling of ['+8613800000002', '8613800000002', '008613800000002', '138 0000 0002', '13800000002']) {
      expect(nationalDigits(spelling)).toBe('13800000002');
    }
    expect(nationalDigits('+85291234567')).toBe('85291234567');
  });
});

describe('npm run fake-sms with FAKE_SMS_RECEIPT_URL', () => {
  let cli: NodeProcess | undefined;
  let receiver: Receiver | undefined;
  let service: AppInstance | undefined;
  afterEach(async () => {
    await service?.app.close();
    cli?.child.kill('SIGTERM');
    await cli?.exited;
    await receiver?.close();
  });

  it('pushes receipts, undelivered for FAKE_SMS_UNDELIVERED, and logs each push', async () => {
    receiver = await Receiver.start();
    cli = spawnTsx('tools/fake-dysmsapi/cli.ts', [], {
      FAKE_SMS_PORT: '0',
      FAKE_SMS_RECEIPT_URL: receiver.url,
      FAKE_SMS_RECEIPT_DELAY_MS: '50',
      FAKE_SMS_UNDELIVERED: '13800000009, +8613800000008',
    });
    const url = (await cli.waitForOutput(/listening on (http:\/\/\S+)/))[1] as string;
    service = await startInstance(aliyunEnv(url));
    await service.post('/v1/verifications', { phone: '+8613800000008', channel: 'login' });
    await service.post('/v1/verifications', { phone: '+8613800000007', channel: 'login' });
    await until(() => receiver?.batches.length === 2, 15_000);
    const reports = receiver.batches.flatMap((b) => b.reports);
    expect(reports.find((r) => r.phone_number === '13800000008')).toMatchObject({ success: false, err_code: 'MK:0001' });
    expect(reports.find((r) => r.phone_number === '13800000007')).toMatchObject({ success: true, err_code: 'DELIVERED' });
    await cli.waitForOutput(/SmsReport push #1 13800000007:DELIVERED\(outId=[^)]+\) acknowledged/);
  });

  it('refuses a receipt URL that is not http(s)', async () => {
    cli = spawnTsx('tools/fake-dysmsapi/cli.ts', [], { FAKE_SMS_PORT: '0', FAKE_SMS_RECEIPT_URL: 'ftp://example' });
    expect(await cli.exited).toBe(1);
    expect(cli.stderr()).toMatch(/FAKE_SMS_RECEIPT_URL must be an http\(s\) URL/);
  });
});
