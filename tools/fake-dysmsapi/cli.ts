/**
 * Runs the Dysmsapi test double by hand: `npm run fake-sms` (or `npx tsx tools/fake-dysmsapi/cli.ts`).
 *
 * Env: FAKE_SMS_HOST (127.0.0.1), FAKE_SMS_PORT (9000),
 *      FAKE_SMS_ACCESS_KEY_ID / FAKE_SMS_ACCESS_KEY_SECRET (testAkId / testAkSecret),
 *      FAKE_SMS_RECEIPT_URL (push delivery receipts there, as Aliyun's SmsReport HTTP batch push does),
 *      FAKE_SMS_RECEIPT_DELAY_MS (1000), FAKE_SMS_UNDELIVERED (numbers whose receipts say undelivered).
 * Point the service at it with endpoint `HOST:PORT` (no scheme) and protocol `http`.
 */
import { FakeDysmsapi, type RecordedRequest } from './fake-dysmsapi.js';
import { DEFAULT_RECEIPT_DELAY_MS, type ReceiptOptions, type ReceiptPush } from './receipts.js';

function parsePort(raw: string | undefined): number {
  const port = Number(raw ?? '9000');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`FAKE_SMS_PORT must be a port number, got "${raw}"`);
  return port;
}

function describeSend(request: RecordedRequest): string {
  const q = request.query;
  const signature = request.signatureValid ? 'ok' : `bad(${request.rejectedWith ?? 'unknown'})`;
  return [
    new Date(request.receivedAt).toISOString(),
    'SendSms',
    `phone=${q.PhoneNumbers ?? '-'}`,
    `sign=${q.SignName ?? '-'}`,
    `template=${q.TemplateCode ?? '-'}`,
    `param=${q.TemplateParam ?? '-'}`,
    ...(q.OutId !== undefined ? [`outId=${q.OutId}`] : []),
    `ak=${request.accessKeyId ?? '-'}`,
    `signature=${signature}`,
  ].join(' ');
}

function receiptOptions(): ReceiptOptions | undefined {
  const url = process.env.FAKE_SMS_RECEIPT_URL;
  if (!url) return undefined;
  if (!/^https?:\/\/[^\s]+$/.test(url)) throw new Error(`FAKE_SMS_RECEIPT_URL must be an http(s) URL, got "${url}"`);
  const rawDelay = process.env.FAKE_SMS_RECEIPT_DELAY_MS || String(DEFAULT_RECEIPT_DELAY_MS);
  const delayMs = Number(rawDelay);
  if (!Number.isInteger(delayMs) || delayMs < 0) throw new Error(`FAKE_SMS_RECEIPT_DELAY_MS must be a whole number of ms, got "${rawDelay}"`);
  const undelivered = (process.env.FAKE_SMS_UNDELIVERED ?? '').split(',').map((p) => p.trim()).filter(Boolean);
  return { url, delayMs, undelivered, onPush: (push) => console.log(describePush(push)) };
}

function describePush(push: ReceiptPush): string {
  const reports = push.reports.map((r) => `${r.phone_number}:${r.err_code}(outId=${r.out_id})`).join(' ');
  const outcome = push.acknowledged ? 'acknowledged' : `not acknowledged (${push.status ?? 'no answer'})${push.willRetry ? ', will retry' : ', giving up'}`;
  return `${new Date().toISOString()} SmsReport push #${push.attempt} ${reports} ${outcome}`;
}

async function main(): Promise<void> {
  const accessKeyId = process.env.FAKE_SMS_ACCESS_KEY_ID || 'testAkId';
  const accessKeySecret = process.env.FAKE_SMS_ACCESS_KEY_SECRET || 'testAkSecret';
  const fake = await FakeDysmsapi.start({
    host: process.env.FAKE_SMS_HOST || '127.0.0.1',
    port: parsePort(process.env.FAKE_SMS_PORT || undefined),
    accessKeys: { [accessKeyId]: accessKeySecret },
    receipts: receiptOptions(),
    onRequest: (request) => {
      if (request.action === 'SendSms') console.log(describeSend(request));
    },
  });
  console.log(`fake Dysmsapi listening on ${fake.url} (endpoint ${fake.endpoint}, protocol http, AccessKeyId ${accessKeyId})`);
  if (process.env.FAKE_SMS_RECEIPT_URL) console.log(`pushing delivery receipts to ${process.env.FAKE_SMS_RECEIPT_URL}`);

  const stop = (signal: NodeJS.Signals): void => {
    console.log(`${signal} received, stopping fake Dysmsapi`);
    fake.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
