import { request as httpRequest } from 'node:http';
import Dysms, { QuerySendDetailsRequest, SendSmsRequest } from '@alicloud/dysmsapi20170525';
import { $OpenApiUtil } from '@alicloud/openapi-core';
import { RuntimeOptions } from '@darabonba/typescript';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeDysmsapi, type RecordedRequest } from '../tools/fake-dysmsapi/fake-dysmsapi.js';

/**
 * The SDK is CommonJS with `exports.default = Client`. Node's ESM loader (tsx, production) hands a default
 * import `module.exports`, so the class is at `.default`; vitest unwraps `__esModule` and hands over the class.
 */
function cjsDefaultExport<T>(imported: { default: T }): T {
  return typeof imported === 'function' ? (imported as unknown as T) : imported.default;
}

const DysmsClient = cjsDefaultExport(Dysms);
type DysmsClient = InstanceType<typeof DysmsClient>;

const AK_ID = 'testAkId';
const AK_SECRET = 'testAkSecret';
const UUID_UPPER = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/;

const SEND = {
  phoneNumbers: '13800138000',
  signName: '阿里云短信测试',
  templateCode: 'SMS_154950909',
  templateParam: JSON.stringify({ code: '123456' }),
  outId: `o'(1)*!~ x`,
};

interface ClientOptions {
  accessKeyId?: string;
  accessKeySecret?: string;
  securityToken?: string;
  signatureAlgorithm?: string;
  readTimeout?: number;
}

function makeClient(fake: FakeDysmsapi, opts: ClientOptions = {}): DysmsClient {
  return new DysmsClient(
    new $OpenApiUtil.Config({
      accessKeyId: opts.accessKeyId ?? AK_ID,
      accessKeySecret: opts.accessKeySecret ?? AK_SECRET,
      securityToken: opts.securityToken,
      signatureAlgorithm: opts.signatureAlgorithm,
      endpoint: fake.endpoint,
      protocol: 'http',
      readTimeout: opts.readTimeout ?? 2000,
      connectTimeout: 1000,
    }),
  );
}

function send(client: DysmsClient, overrides: Partial<typeof SEND> = {}, runtime: Record<string, number> = {}) {
  return client.sendSmsWithOptions(new SendSmsRequest({ ...SEND, ...overrides }), new RuntimeOptions(runtime));
}

/** Awaits a promise that must reject and returns the rejection for inspection. */
async function rejectionOf(promise: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    return error as Record<string, unknown>;
  }
  throw new Error('expected the promise to reject');
}

interface RawReply {
  status: number;
  json: Record<string, unknown>;
}

/** Re-sends a recorded request byte-for-byte (headers included), optionally with a different target/body. */
function replay(fake: FakeDysmsapi, recorded: RecordedRequest, change: { url?: string; body?: string } = {}): Promise<RawReply> {
  const body = change.body ?? recorded.body;
  const headers = { ...recorded.headers, 'content-length': String(Buffer.byteLength(body)) };
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: fake.port, method: recorded.method, path: change.url ?? recorded.url, headers, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function chinaDay(epochMs: number): string {
  return new Date(epochMs + 8 * 3600_000).toISOString().slice(0, 10).replaceAll('-', '');
}

describe('FakeDysmsapi driven by the real @alicloud/dysmsapi20170525 SDK', () => {
  let fake: FakeDysmsapi;
  let client: DysmsClient;

  beforeAll(async () => {
    fake = await FakeDysmsapi.start();
    client = makeClient(fake);
  });
  afterEach(() => fake.reset());
  afterAll(() => fake.close());

  describe('authentication', () => {
    it('records a correctly signed SendSms with every parameter', async () => {
      const res = await send(client);

      expect(res.statusCode).toBe(200);
      expect(res.body?.code).toBe('OK');
      expect(res.body?.message).toBe('OK');
      expect(res.body?.bizId).toMatch(/^\d{18}\^0$/);
      expect(res.body?.requestId).toMatch(UUID_UPPER);

      const [recorded] = fake.sends();
      expect(fake.sends()).toHaveLength(1);
      expect(recorded).toMatchObject({
        method: 'POST',
        action: 'SendSms',
        signatureVersion: 'v3',
        signatureValid: true,
        accessKeyId: AK_ID,
        body: '',
        reply: { status: 200, code: 'OK', bizId: res.body?.bizId },
      });
      expect(recorded!.rejectedWith).toBeUndefined();
      expect(recorded!.query).toEqual({
        PhoneNumbers: SEND.phoneNumbers,
        SignName: SEND.signName,
        TemplateCode: SEND.templateCode,
        TemplateParam: SEND.templateParam,
        OutId: SEND.outId,
      });
      expect(recorded!.headers['x-acs-action']).toBe('SendSms');
      expect(recorded!.headers.authorization).toMatch(/^ACS3-HMAC-SHA256 Credential=testAkId,SignedHeaders=host;x-acs-action;/);
    });

    it('rejects a wrong secret with ClientError SignatureDoesNotMatch (400)', async () => {
      const error = await rejectionOf(send(makeClient(fake, { accessKeySecret: 'wrong-secret' })));

      expect(error).toMatchObject({ name: 'ClientError', code: 'SignatureDoesNotMatch', statusCode: 400 });
      expect(error.requestId).toMatch(UUID_UPPER);
      expect(fake.requests).toHaveLength(1);
      expect(fake.requests[0]).toMatchObject({ signatureValid: false, accessKeyId: AK_ID, rejectedWith: 'SignatureDoesNotMatch' });
      expect(fake.sends()).toEqual([]);
    });

    it('rejects an unknown AccessKeyId with ClientError InvalidAccessKeyId.NotFound (404)', async () => {
      const error = await rejectionOf(send(makeClient(fake, { accessKeyId: 'nobody', accessKeySecret: AK_SECRET })));

      expect(error).toMatchObject({ name: 'ClientError', code: 'InvalidAccessKeyId.NotFound', statusCode: 404 });
      expect(error.data).toMatchObject({
        Code: 'InvalidAccessKeyId.NotFound',
        Message: 'Specified access key is not found.',
        HostId: 'dysmsapi.aliyuncs.com',
        RequestId: expect.stringMatching(UUID_UPPER),
        Recommend: expect.any(String),
      });
      expect(fake.requests[0]).toMatchObject({ signatureValid: false, accessKeyId: 'nobody' });
    });

    it('accepts STS credentials with any security token', async () => {
      const res = await send(makeClient(fake, { securityToken: 'any-sts-token' }));

      expect(res.body?.code).toBe('OK');
      const [recorded] = await fake.waitForSends(1);
      expect(recorded!.headers['x-acs-security-token']).toBe('any-sts-token');
      expect(recorded!.signatureValid).toBe(true);
    });

    it('verifies the legacy RPC HMAC-SHA1 signature (signatureAlgorithm v2)', async () => {
      const res = await send(makeClient(fake, { signatureAlgorithm: 'v2' }));
      expect(res.body?.code).toBe('OK');
      expect(fake.sends()[0]).toMatchObject({ signatureVersion: 'v2', signatureValid: true, query: { PhoneNumbers: SEND.phoneNumbers, OutId: SEND.outId } });

      const error = await rejectionOf(send(makeClient(fake, { signatureAlgorithm: 'v2', accessKeySecret: 'wrong' })));
      expect(error).toMatchObject({ name: 'ClientError', code: 'SignatureDoesNotMatch', statusCode: 400 });
    });
  });

  describe('the verifier is not vacuous', () => {
    async function recordedValidSend(): Promise<RecordedRequest> {
      await send(client);
      const [recorded] = fake.sends();
      fake.reset(); // forget the nonce so replays are judged on their signature alone
      return recorded!;
    }

    it('rejects a replay whose query value was tampered with', async () => {
      const recorded = await recordedValidSend();
      const tamperedUrl = recorded.url.replace('PhoneNumbers=13800138000', 'PhoneNumbers=13900139000');
      expect(tamperedUrl).not.toBe(recorded.url);

      const reply = await replay(fake, recorded, { url: tamperedUrl });

      expect(reply.status).toBe(400);
      expect(reply.json.Code).toBe('SignatureDoesNotMatch');
      expect(fake.requests[0]).toMatchObject({ signatureValid: false, query: { PhoneNumbers: '13900139000' } });
    });

    it('accepts the untampered replay once, then refuses the reused nonce', async () => {
      const recorded = await recordedValidSend();

      const first = await replay(fake, recorded);
      const second = await replay(fake, recorded);

      expect(first).toMatchObject({ status: 200, json: { Code: 'OK' } });
      expect(second).toMatchObject({ status: 400, json: { Code: 'SignatureNonceUsed' } });
      expect(fake.requests.map((r) => r.signatureValid)).toEqual([true, true]);
      expect(fake.sends()).toHaveLength(1);
    });

    it('rejects a tampered signed header and a body that does not match x-acs-content-sha256', async () => {
      const recorded = await recordedValidSend();

      const otherAction = await replay(fake, { ...recorded, headers: { ...recorded.headers, 'x-acs-action': 'SendBatchSms' } });
      const otherBody = await replay(fake, recorded, { body: 'PhoneNumbers=13900139000' });

      expect(otherAction).toMatchObject({ status: 400, json: { Code: 'SignatureDoesNotMatch' } });
      expect(otherBody).toMatchObject({ status: 400, json: { Code: 'SignatureDoesNotMatch' } });
    });

    it('rejects an x-acs-* header that was added without being signed', async () => {
      const recorded = await recordedValidSend();

      const reply = await replay(fake, { ...recorded, headers: { ...recorded.headers, 'x-acs-extra': '1' } });

      expect(reply).toMatchObject({ status: 400, json: { Code: 'IncompleteSignature' } });
    });
  });

  describe('SendSms validation', () => {
    it('answers a missing PhoneNumbers with a 400 MissingPhoneNumbers gateway error', async () => {
      const error = await rejectionOf(send(client, { phoneNumbers: '' }));
      expect(error).toMatchObject({ name: 'ClientError', code: 'MissingPhoneNumbers', statusCode: 400 });
    });

    it('answers an illegal number with HTTP 200 isv.MOBILE_NUMBER_ILLEGAL', async () => {
      const res = await send(client, { phoneNumbers: '12-34' });
      expect(res.statusCode).toBe(200);
      expect(res.body?.code).toBe('isv.MOBILE_NUMBER_ILLEGAL');
      expect(res.body?.bizId).toBeUndefined();
    });

    it('answers a non-string TemplateParam value with isv.INVALID_JSON_PARAM', async () => {
      const res = await send(client, { templateParam: '{"code":123456}' });
      expect(res.body?.code).toBe('isv.INVALID_JSON_PARAM');
    });
  });

  describe('scripted behaviours', () => {
    it('business: resolves with body.code for `times` calls, then answers OK again', async () => {
      fake.respondWith({ kind: 'business', code: 'isv.BUSINESS_LIMIT_CONTROL' }, 1);

      const limited = await send(client);
      const next = await send(client);

      expect(limited.statusCode).toBe(200);
      expect(limited.body).toMatchObject({ code: 'isv.BUSINESS_LIMIT_CONTROL', message: '触发分钟级流控Permits:1' });
      expect(limited.body?.bizId).toBeUndefined();
      expect(next.body?.code).toBe('OK');
      expect(fake.sends().map((r) => r.reply?.code)).toEqual(['isv.BUSINESS_LIMIT_CONTROL', 'OK']);
    });

    it('business: without `times` the behaviour sticks until changed', async () => {
      fake.respondWith({ kind: 'business', code: 'isv.AMOUNT_NOT_ENOUGH', message: '余额不足' });

      const codes = [];
      for (let i = 0; i < 3; i++) codes.push((await send(client)).body?.code);
      fake.respondWith({ kind: 'ok' });
      codes.push((await send(client)).body?.code);

      expect(codes).toEqual(['isv.AMOUNT_NOT_ENOUGH', 'isv.AMOUNT_NOT_ENOUGH', 'isv.AMOUNT_NOT_ENOUGH', 'OK']);
    });

    it('http 500: throws ServerError with the gateway JSON', async () => {
      fake.respondWith({ kind: 'http', status: 500, code: 'isp.SYSTEM_ERROR', message: 'system error' }, 1);

      const error = await rejectionOf(send(client));

      expect(error).toMatchObject({ name: 'ServerError', code: 'isp.SYSTEM_ERROR', statusCode: 500 });
      expect(error.data).toMatchObject({ Code: 'isp.SYSTEM_ERROR', Message: 'system error', HostId: 'dysmsapi.aliyuncs.com' });
    });

    it('http 400 Throttling.User: throws ThrottlingError', async () => {
      fake.respondWith({ kind: 'http', status: 400 }, 1);

      const error = await rejectionOf(send(client));

      expect(error).toMatchObject({ name: 'ThrottlingError', code: 'Throttling.User', statusCode: 400 });
    });

    it.each([502, 200])('garbage (HTTP %i): the SDK throws a JSON SyntaxError', async (status) => {
      fake.respondWith({ kind: 'garbage', status }, 1);

      const error = await rejectionOf(send(client));

      expect(error).toBeInstanceOf(SyntaxError);
      expect(fake.sends()[0]!.reply).toMatchObject({ status });
    });

    it('hang: the SDK gives up with RequestTimeoutError after its readTimeout', async () => {
      fake.respondWith({ kind: 'hang' }, 1);

      const error = await rejectionOf(send(client, {}, { readTimeout: 300 }));

      expect(error).toMatchObject({ name: 'RequestTimeoutError' });
      expect(String(error.message)).toContain('ReadTimeout(300)');
      expect(fake.sends()).toHaveLength(1);
      expect(fake.sends()[0]!.reply).toBeUndefined();
      expect((await send(client)).body?.code).toBe('OK');
    });

    it('reset: the connection is reset and the SDK throws ECONNRESET', async () => {
      fake.respondWith({ kind: 'reset' }, 1);

      const error = await rejectionOf(send(client));

      expect(error.code).toBe('ECONNRESET');
      expect(fake.sends()).toHaveLength(1);
    });

    it('close() ends hanging requests instead of waiting for them', async () => {
      const own = await FakeDysmsapi.start();
      own.respondWith({ kind: 'hang' });
      const pending = rejectionOf(send(makeClient(own, { readTimeout: 60_000 })));
      await own.waitForSends(1);

      await own.close();

      expect((await pending).code).toBe('ECONNRESET');
    });
  });

  describe('QuerySendDetails', () => {
    it('reports sends accepted with OK for that number and day', async () => {
      const sent = await send(client);
      const bizId = sent.body?.bizId;

      const res = await client.querySendDetailsWithOptions(
        new QuerySendDetailsRequest({ phoneNumber: SEND.phoneNumbers, sendDate: chinaDay(Date.now()), pageSize: 10, currentPage: 1, bizId }),
        new RuntimeOptions({}),
      );

      expect(res.body?.code).toBe('OK');
      expect(res.body?.totalCount).toBe('1');
      expect(res.body?.smsSendDetailDTOs?.smsSendDetailDTO?.[0]).toMatchObject({
        phoneNum: SEND.phoneNumbers,
        sendStatus: 3,
        templateCode: SEND.templateCode,
        outId: SEND.outId,
      });
    });
  });
});
