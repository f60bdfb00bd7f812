import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../src/domain/logger.js';
import { parsePhone, type Phone } from '../src/domain/phones/phone.js';
import { AliyunSmsProvider, type AliyunProviderOptions } from '../src/providers/aliyun/aliyun-provider.js';
import type { SmsMessage, SmsOutcome } from '../src/domain/sms-provider.js';
import { DEFAULT_ACCESS_KEYS, FakeDysmsapi, type FakeBehaviour } from '../tools/fake-dysmsapi/fake-dysmsapi.js';

const AK_ID = 'testAkId';
const AK_SECRET = DEFAULT_ACCESS_KEYS[AK_ID]!;
const WRONG_SECRET = 'wrong-secret-value-0123456789';
const STS_TOKEN = 'sts-token-value-CAIS9876543210';
const UUID_UPPER = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/;
const HANG_TIMEOUT_MS = 300;
const DEADLINE_MARGIN_MS = 500;

/** Every string that must never show up in an outcome or a log line. */
const NEVER_REVEALED = [AK_SECRET, WRONG_SECRET, STS_TOKEN, 'env-secret-value-42'];

const logLines: string[] = [];
const capturingLogger: Logger = {
  info: (object, message) => logLines.push(JSON.stringify({ level: 'info', object, message })),
  warn: (object, message) => logLines.push(JSON.stringify({ level: 'warn', object, message })),
  error: (object, message) => logLines.push(JSON.stringify({ level: 'error', object, message })),
};

function phone(input: string): Phone {
  const parsed = parsePhone(input);
  if (!parsed.ok) throw new Error(`test phone ${input} did not parse: ${parsed.reason}`);
  return parsed.phone;
}

const MAINLAND = phone('+86 138-0013-8000');
const HONG_KONG = phone('+85261234567');

function message(overrides: Partial<SmsMessage> = {}): SmsMessage {
  return {
    phone: MAINLAND,
    signName: '阿里云短信测试',
    templateCode: 'SMS_154950909',
    templateParam: { code: '123456' },
    outId: 'send-0001',
    ...overrides,
  };
}

function expectNothingSecret(outcome: SmsOutcome): void {
  const json = JSON.stringify(outcome);
  for (const secret of NEVER_REVEALED) expect(json).not.toContain(secret);
}

/** Sets environment variables for the duration of `fn` (undefined deletes), then restores them. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  apply(vars);
  try {
    return await fn();
  } finally {
    apply(saved);
  }
}

/** A default credential chain with every source but the ones a test sets switched off (no IMDS, no files). */
const CHAIN_ISOLATION = {
  ALIBABA_CLOUD_ACCESS_KEY_ID: undefined,
  ALIBABA_CLOUD_ACCESS_KEY_SECRET: undefined,
  ALIBABA_CLOUD_SECURITY_TOKEN: undefined,
  ALIBABA_CLOUD_ROLE_ARN: undefined,
  ALIBABA_CLOUD_OIDC_PROVIDER_ARN: undefined,
  ALIBABA_CLOUD_OIDC_TOKEN_FILE: undefined,
  ALIBABA_CLOUD_CLI_PROFILE_DISABLED: 'true',
  ALIBABA_CLOUD_CREDENTIALS_FILE: join(tmpdir(), `no-such-alibabacloud-credentials-${process.pid}`),
  ALIBABA_CLOUD_ECS_METADATA_DISABLED: 'true',
  ALIBABA_CLOUD_CREDENTIALS_URI: undefined,
};

interface Listening {
  url: string;
  close(): Promise<void>;
}

/** Starts a server and keeps track of its sockets so close() can end the ones still trickling. */
async function listen(server: Server | ReturnType<typeof createNetServer>): Promise<Listening> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('AliyunSmsProvider against FakeDysmsapi (real SDK, real HTTP)', () => {
  let fake: FakeDysmsapi;
  let provider: AliyunSmsProvider;

  function makeProvider(opts: Partial<AliyunProviderOptions> = {}): AliyunSmsProvider {
    return new AliyunSmsProvider({
      endpoint: fake.url,
      accessKeyId: AK_ID,
      accessKeySecret: AK_SECRET,
      timeoutMs: 2000,
      logger: capturingLogger,
      ...opts,
    });
  }

  beforeAll(async () => {
    fake = await FakeDysmsapi.start();
    provider = makeProvider();
  });
  afterEach(() => fake.reset());
  afterAll(async () => {
    await provider.close();
    await fake.close();
    // Whatever the provider logged over the whole file: no secret, no unmasked number.
    const logs = logLines.join('\n');
    for (const secret of NEVER_REVEALED) expect(logs).not.toContain(secret);
    for (const digits of [MAINLAND.aliyun, HONG_KONG.aliyun]) expect(logs).not.toContain(digits);
  });

  describe('successful sends', () => {
    it('sends one signed SendSms with every parameter (mainland number as 11 digits)', async () => {
      const outcome = await provider.send(message());

      const sends = fake.sends();
      expect(sends).toHaveLength(1);
      const [recorded] = sends;
      expect(recorded).toMatchObject({ method: 'POST', action: 'SendSms', signatureVersion: 'v3', signatureValid: true, accessKeyId: AK_ID });
      expect(recorded!.query).toEqual({
        PhoneNumbers: '13800138000',
        SignName: '阿里云短信测试',
        TemplateCode: 'SMS_154950909',
        TemplateParam: '{"code":"123456"}',
        OutId: 'send-0001',
      });
      expect(recorded!.headers['x-acs-credentials-provider']).toBe('static_ak');
      expect(recorded!.headers['x-acs-security-token']).toBeUndefined();

      expect(outcome).toEqual({ ok: true, bizId: recorded!.reply?.bizId, requestId: expect.stringMatching(UUID_UPPER) });
      expect(outcome.ok && outcome.bizId).toMatch(/^\d{18}\^0$/);
      expectNothingSecret(outcome);
    });

    it('sends an international number as country code + number without +', async () => {
      expect(HONG_KONG.e164).toBe('+85261234567');

      const outcome = await provider.send(message({ phone: HONG_KONG, outId: 'send-hk' }));

      expect(outcome.ok).toBe(true);
      const [recorded] = fake.sends();
      expect(recorded!.query.PhoneNumbers).toBe('85261234567');
      expect(recorded!.query.OutId).toBe('send-hk');
      expect(recorded!.signatureValid).toBe(true);
    });

    it('passes a notice-like message with several parameters through unchanged', async () => {
      const templateParam = {
        name: '张三',
        time: '2025-01-02 10:00',
        amount: '¥1,234.50',
        note: `quote "x" & <y> 'z' (1)*!~ 100%`,
        emoji: '✅',
      };
      const outcome = await provider.send(
        message({ signName: '某某银行', templateCode: 'SMS_900000001', templateParam, outId: `notice:42/a b` }),
      );

      expect(outcome.ok).toBe(true);
      const [recorded] = fake.sends();
      expect(recorded!.signatureValid).toBe(true);
      expect(recorded!.query).toEqual({
        PhoneNumbers: '13800138000',
        SignName: '某某银行',
        TemplateCode: 'SMS_900000001',
        TemplateParam: JSON.stringify(templateParam),
        OutId: 'notice:42/a b',
      });
      expect(JSON.parse(recorded!.query.TemplateParam!)).toEqual(templateParam);
    });
  });

  describe('failures map to outcomes (one request each, nothing thrown)', () => {
    interface FailureCase {
      title: string;
      behaviour: FakeBehaviour;
      expected: Record<string, unknown>;
      /** Transport errors: no providerMessage (the SDK's message carries the URL, phone number included). */
      transport?: boolean;
    }

    const cases: FailureCase[] = [
      {
        title: 'business isv.MOBILE_NUMBER_ILLEGAL → invalid_phone',
        behaviour: { kind: 'business', code: 'isv.MOBILE_NUMBER_ILLEGAL' },
        expected: { failure: 'invalid_phone', providerCode: 'isv.MOBILE_NUMBER_ILLEGAL', providerMessage: '非法手机号' },
      },
      {
        title: 'business isv.BUSINESS_LIMIT_CONTROL → rate_limited',
        behaviour: { kind: 'business', code: 'isv.BUSINESS_LIMIT_CONTROL' },
        expected: { failure: 'rate_limited', providerCode: 'isv.BUSINESS_LIMIT_CONTROL', providerMessage: '触发分钟级流控Permits:1' },
      },
      {
        title: 'other business code → failed',
        behaviour: { kind: 'business', code: 'isv.AMOUNT_NOT_ENOUGH', message: '账户余额不足' },
        expected: { failure: 'failed', providerCode: 'isv.AMOUNT_NOT_ENOUGH', providerMessage: '账户余额不足' },
      },
      {
        title: 'HTTP 500 (ServerError) → failed',
        behaviour: { kind: 'http', status: 500, code: 'isp.SYSTEM_ERROR', message: 'system error' },
        expected: { failure: 'failed', providerCode: 'isp.SYSTEM_ERROR', providerMessage: 'system error' },
      },
      {
        title: 'HTTP 400 Throttling.User (ThrottlingError) → failed, not retried',
        behaviour: { kind: 'http', status: 400 },
        expected: { failure: 'failed', providerCode: 'Throttling.User', providerMessage: 'Request was denied due to user flow control.' },
      },
      {
        title: 'HTTP 503 default gateway error → failed',
        behaviour: { kind: 'http', status: 503 },
        expected: { failure: 'failed', providerCode: 'ServiceUnavailable' },
      },
      {
        title: 'garbage HTML (HTTP 502) → MalformedResponse',
        behaviour: { kind: 'garbage' },
        expected: { failure: 'failed', providerCode: 'MalformedResponse' },
        transport: true,
      },
      {
        title: 'garbage HTML with HTTP 200 → MalformedResponse',
        behaviour: { kind: 'garbage', status: 200 },
        expected: { failure: 'failed', providerCode: 'MalformedResponse' },
        transport: true,
      },
      {
        title: 'connection reset → unconfirmed NetworkError.ECONNRESET (the request was issued)',
        behaviour: { kind: 'reset' },
        expected: { failure: 'unconfirmed', providerCode: 'NetworkError.ECONNRESET' },
        transport: true,
      },
    ];

    it.each(cases)('$title', async ({ behaviour, expected, transport }) => {
      fake.respondWith(behaviour);

      const outcome = await provider.send(message());

      expect(outcome).toMatchObject({ ok: false, ...expected });
      expect(fake.sends()).toHaveLength(1);
      if (transport) {
        expect(outcome).not.toHaveProperty('providerMessage');
        expect(outcome).not.toHaveProperty('requestId');
      } else {
        expect(outcome).toHaveProperty('requestId', expect.stringMatching(UUID_UPPER));
      }
      expect(JSON.stringify(outcome)).not.toContain('13800138000');
      expectNothingSecret(outcome);
    });

    it('a hang longer than timeoutMs resolves with an unconfirmed Timeout within timeoutMs + margin, with no retry', async () => {
      const quick = makeProvider({ timeoutMs: HANG_TIMEOUT_MS });
      fake.respondWith({ kind: 'hang' });

      const started = Date.now();
      const outcome = await quick.send(message());
      const elapsed = Date.now() - started;

      // The request reached the provider and no answer came: it may have sent the SMS.
      expect(outcome).toEqual({ ok: false, failure: 'unconfirmed', providerCode: 'Timeout' });
      expect(elapsed).toBeLessThan(HANG_TIMEOUT_MS + DEADLINE_MARGIN_MS);
      // Any retry would have arrived by now.
      await new Promise((resolve) => setTimeout(resolve, HANG_TIMEOUT_MS * 2));
      expect(fake.sends()).toHaveLength(1);
      expectNothingSecret(outcome);
      await quick.close();
    });

    it('a wrong secret → failed SignatureDoesNotMatch, without the server string to sign or the secret', async () => {
      const wrong = makeProvider({ accessKeySecret: WRONG_SECRET });

      const outcome = await wrong.send(message());

      expect(outcome).toMatchObject({
        ok: false,
        failure: 'failed',
        providerCode: 'SignatureDoesNotMatch',
        providerMessage: 'Specified signature does not match our calculation.',
        requestId: expect.stringMatching(UUID_UPPER),
      });
      expect(fake.requests).toHaveLength(1);
      expect(fake.requests[0]).toMatchObject({ signatureValid: false, rejectedWith: 'SignatureDoesNotMatch' });
      expectNothingSecret(outcome);
    });

    it('an unknown AccessKeyId → failed InvalidAccessKeyId.NotFound', async () => {
      const outcome = await makeProvider({ accessKeyId: 'nobody' }).send(message());

      expect(outcome).toMatchObject({ ok: false, failure: 'failed', providerCode: 'InvalidAccessKeyId.NotFound' });
      expectNothingSecret(outcome);
    });

    it('a refused connection → NetworkError.ECONNREFUSED', async () => {
      const closed = await listen(createHttpServer());
      await closed.close();

      const outcome = await makeProvider({ endpoint: closed.url }).send(message());

      expect(outcome).toEqual({ ok: false, failure: 'failed', providerCode: 'NetworkError.ECONNREFUSED' });
    });
  });

  describe('the overall deadline holds even when the server keeps the connection busy', () => {
    let trickleBody: Listening;
    let trickleHeaders: Listening;
    const timers = new Set<NodeJS.Timeout>();

    beforeAll(async () => {
      // Answers 200 at once, then sends one byte of body every 50 ms, forever.
      trickleBody = await listen(
        createHttpServer((req, res) => {
          req.resume();
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{');
          const timer = setInterval(() => res.write(' '), 50);
          timers.add(timer);
          res.on('close', () => clearInterval(timer));
        }),
      );
      // Never finishes the header block: one header line every 50 ms.
      trickleHeaders = await listen(
        createNetServer((socket) => {
          socket.on('error', () => {});
          socket.once('data', () => {
            socket.write('HTTP/1.1 200 OK\r\n');
            let n = 0;
            const timer = setInterval(() => socket.write(`x-trickle-${n++}: 1\r\n`), 50);
            timers.add(timer);
            socket.on('close', () => clearInterval(timer));
          });
        }),
      );
    });
    afterAll(async () => {
      for (const timer of timers) clearInterval(timer);
      await trickleBody.close();
      await trickleHeaders.close();
    });

    it.each([
      ['a body trickled byte by byte', () => trickleBody.url],
      ['headers trickled line by line', () => trickleHeaders.url],
    ])('%s: Timeout within timeoutMs + margin', async (_title, endpoint) => {
      const slow = makeProvider({ endpoint: endpoint(), timeoutMs: HANG_TIMEOUT_MS });

      const started = Date.now();
      const outcome = await slow.send(message());
      const elapsed = Date.now() - started;

      // The provider's deadline starts before the SDK's own timers, so it is the one that ends the call.
      expect(outcome).toEqual({ ok: false, failure: 'unconfirmed', providerCode: 'Timeout' });
      expect(elapsed).toBeLessThan(HANG_TIMEOUT_MS + DEADLINE_MARGIN_MS);
      expect(JSON.stringify(outcome)).not.toContain('13800138000');
    });

    // The SDK's HTTP timeouts do not cover credential resolution: only the provider's deadline ends this one.
    it('covers credential resolution too: a hanging credentials URI ends in Timeout', async () => {
      const hangingUri = await listen(createHttpServer(() => {}));
      try {
        const outcome = await withEnv({ ...CHAIN_ISOLATION, ALIBABA_CLOUD_CREDENTIALS_URI: `${hangingUri.url}/creds` }, async () => {
          const chained = makeProvider({ accessKeyId: undefined, accessKeySecret: undefined, timeoutMs: HANG_TIMEOUT_MS });
          const started = Date.now();
          const result = await chained.send(message());
          expect(Date.now() - started).toBeLessThan(HANG_TIMEOUT_MS + DEADLINE_MARGIN_MS);
          return result;
        });
        // SendSms was not issued yet, but the SDK call goes on and would issue it once credentials came:
        // the outcome is unknown, so the send counts.
        expect(outcome).toEqual({ ok: false, failure: 'unconfirmed', providerCode: 'Timeout' });
        expect(fake.requests).toHaveLength(0);
      } finally {
        await hangingUri.close();
      }
    });

    it('counts a send whose credentials arrive after the deadline: the SDK still sends it', async () => {
      let answered!: () => void;
      const credentialsAnswered = new Promise<void>((resolve) => (answered = resolve));
      const slowUri = await listen(
        createHttpServer((_req, res) => {
          setTimeout(() => {
            const expiration = new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
            res.setHeader('content-type', 'application/json');
            res.end(JSON.stringify({ Code: 'Success', AccessKeyId: AK_ID, AccessKeySecret: AK_SECRET, SecurityToken: 'sts-token', Expiration: expiration }));
            answered();
          }, HANG_TIMEOUT_MS * 2);
        }),
      );
      try {
        const outcome = await withEnv({ ...CHAIN_ISOLATION, ALIBABA_CLOUD_CREDENTIALS_URI: `${slowUri.url}/creds` }, () =>
          makeProvider({ accessKeyId: undefined, accessKeySecret: undefined, timeoutMs: HANG_TIMEOUT_MS }).send(message()),
        );
        // Reported as unknown (counted in every window), because…
        expect(outcome).toEqual({ ok: false, failure: 'unconfirmed', providerCode: 'Timeout' });
        await credentialsAnswered;
        // …the SMS does go out once the credentials arrive.
        await fake.waitForSends(1, 5_000);
      } finally {
        await slowUri.close();
      }
    });
  });

  describe('credentials', () => {
    it('STS: a security token is sent (signed) as x-acs-security-token and accepted', async () => {
      const sts = makeProvider({ securityToken: STS_TOKEN });

      const outcome = await sts.send(message());

      expect(outcome).toMatchObject({ ok: true, bizId: expect.stringMatching(/^\d{18}\^0$/) });
      const [recorded] = fake.sends();
      expect(recorded!.signatureValid).toBe(true);
      expect(recorded!.headers['x-acs-security-token']).toBe(STS_TOKEN);
      expect(recorded!.headers['x-acs-credentials-provider']).toBe('static_sts');
      expect(recorded!.headers.authorization).toContain('x-acs-security-token');
      expectNothingSecret(outcome);
    });

    it('STS: failures do not reveal the token', async () => {
      fake.respondWith({ kind: 'http', status: 500 });
      const outcome = await makeProvider({ securityToken: STS_TOKEN }).send(message());
      expect(outcome).toMatchObject({ ok: false, providerCode: 'InternalError' });
      expectNothingSecret(outcome);
    });

    it('without an AccessKey it uses the default credential chain (environment variables here)', async () => {
      const outcome = await withEnv(
        { ...CHAIN_ISOLATION, ALIBABA_CLOUD_ACCESS_KEY_ID: 'envAkId', ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'env-secret-value-42' },
        async () => {
          const envFake = await FakeDysmsapi.start({ accessKeys: { envAkId: 'env-secret-value-42' } });
          try {
            const chained = new AliyunSmsProvider({ endpoint: envFake.url, timeoutMs: 2000, logger: capturingLogger });
            const result = await chained.send(message());
            const [recorded] = envFake.sends();
            expect(recorded).toMatchObject({ signatureValid: true, accessKeyId: 'envAkId' });
            expect(recorded!.headers['x-acs-credentials-provider']).toBe('default/env');
            return result;
          } finally {
            await envFake.close();
          }
        },
      );
      expect(outcome.ok).toBe(true);
      expectNothingSecret(outcome);
    });

    it('an empty default chain → failed CredentialsUnavailable, nothing sent', async () => {
      const outcome = await withEnv(CHAIN_ISOLATION, () =>
        new AliyunSmsProvider({ endpoint: fake.url, timeoutMs: 2000, logger: capturingLogger }).send(message()),
      );

      expect(outcome).toEqual({ ok: false, failure: 'failed', providerCode: 'CredentialsUnavailable' });
      expect(fake.requests).toHaveLength(0);
    });
  });

  describe('construction and close()', () => {
    it('rejects endpoints it cannot hand to the SDK, without echoing secrets', () => {
      const bad = ['dysmsapi.aliyuncs.com', 'ftp://dysmsapi.aliyuncs.com', 'https://u:p@dysmsapi.aliyuncs.com', 'https://dysmsapi.aliyuncs.com/x?y=1'];
      for (const endpoint of bad) {
        expect(() => makeProvider({ endpoint })).toThrow(/endpoint/);
      }
      expect(() => makeProvider({ accessKeySecret: undefined })).toThrow(/accessKeyId and accessKeySecret/);
      expect(() => makeProvider({ accessKeyId: undefined, accessKeySecret: undefined, securityToken: STS_TOKEN })).toThrow(/securityToken/);
      try {
        makeProvider({ accessKeyId: undefined, securityToken: STS_TOKEN });
      } catch (error) {
        for (const secret of NEVER_REVEALED) expect(String(error)).not.toContain(secret);
      }
    });

    it('accepts the production endpoint form (https, default port) without contacting it', () => {
      expect(() => makeProvider({ endpoint: 'https://dysmsapi.aliyuncs.com' })).not.toThrow();
      expect(() => makeProvider({ endpoint: 'https://dysmsapi.aliyuncs.com/' })).not.toThrow();
    });

    it('does not expose the secret when the provider itself is serialised', () => {
      const sts = makeProvider({ securityToken: STS_TOKEN });
      const dump = JSON.stringify(sts);
      for (const secret of NEVER_REVEALED) expect(dump).not.toContain(secret);
      expect(sts.name).toBe('aliyun');
    });

    it('close() is idempotent, waits for sends in flight, and later sends fail without a request', async () => {
      const own = makeProvider();
      const inFlight = own.send(message());

      await Promise.all([own.close(), own.close()]);
      await own.close();

      expect((await inFlight).ok).toBe(true);
      const after = await own.send(message());
      expect(after).toEqual({ ok: false, failure: 'failed', providerCode: 'ProviderClosed' });
      expect(fake.sends()).toHaveLength(1);
    });
  });
});
