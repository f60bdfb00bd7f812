/**
 * Runs the Dysmsapi test double by hand: `npm run fake-sms` (or `npx tsx tools/fake-dysmsapi/cli.ts`).
 *
 * Env: FAKE_SMS_HOST (127.0.0.1), FAKE_SMS_PORT (9000),
 *      FAKE_SMS_ACCESS_KEY_ID / FAKE_SMS_ACCESS_KEY_SECRET (testAkId / testAkSecret).
 * Point the service at it with endpoint `HOST:PORT` (no scheme) and protocol `http`.
 */
import { FakeDysmsapi, type RecordedRequest } from './fake-dysmsapi.js';

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

async function main(): Promise<void> {
  const accessKeyId = process.env.FAKE_SMS_ACCESS_KEY_ID || 'testAkId';
  const accessKeySecret = process.env.FAKE_SMS_ACCESS_KEY_SECRET || 'testAkSecret';
  const fake = await FakeDysmsapi.start({
    host: process.env.FAKE_SMS_HOST || '127.0.0.1',
    port: parsePort(process.env.FAKE_SMS_PORT || undefined),
    accessKeys: { [accessKeyId]: accessKeySecret },
    onRequest: (request) => {
      if (request.action === 'SendSms') console.log(describeSend(request));
    },
  });
  console.log(`fake Dysmsapi listening on ${fake.url} (endpoint ${fake.endpoint}, protocol http, AccessKeyId ${accessKeyId})`);

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
