import fc from 'fast-check';
import { Redis } from 'ioredis';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from './support/app.js';
import {
  CHANNEL_RE,
  contentType,
  duplicateKeyJson,
  expectLegacyAnswer,
  expectNoLeak,
  expectV1Answer,
  forwardedFor,
  hasNonAsciiDigit,
  headerText,
  hostileBody,
  hostileChannel,
  hostileCode,
  hostileObject,
  hostilePhone,
  layoutKind,
  longString,
  nastyString,
  phoneSpellings,
  rawPayload,
  slowRequest,
  splitBytes,
  toUnicodeDigits,
  unicodeDigit,
  UNICODE_DIGIT_SETS,
  v1RouteOf,
  validPhone,
  type Answer,
} from './support/hostile.js';
import { keysWithPrefix, requireRedisUrl, type StoreKind } from './support/stores.js';

/**
 * Hostile input, property-based (issue 7): whatever a caller sends to either API, the answer is
 * well-formed JSON in that API's contract, never a 500, never a stack trace or an internal path,
 * and no input shapes a Redis key outside the documented layout.
 */

const V1 = { send: '/v1/verifications', check: '/v1/verifications/check', notice: '/v1/notifications' } as const;
const LEGACY = {
  send: '/sms_message/getVerificationCode',
  check: '/sms_message/verify_code',
  notice: '/sms_message/sendNotice',
} as const;
const ROUTES = [...Object.values(V1), ...Object.values(LEGACY)];
const route = fc.constantFrom(...ROUTES);

/** `HOSTILE_RUNS=10 npx vitest run test/hostile-input.test.ts` searches ten times as long. */
const SCALE = Number(process.env.HOSTILE_RUNS ?? '1') || 1;
/** Every property: a run that takes over 5 s counts as a hang. */
const runs = <T,>(numRuns: number): fc.Parameters<T> => ({ numRuns: Math.max(1, Math.round(numRuns * SCALE)), timeout: 5_000 });

async function call(t: TestApp, url: string, payload: string | undefined, headers: Record<string, string> = {}, method: 'POST' | 'GET' = 'POST'): Promise<Answer> {
  const res = await t.app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }) });
  return { status: res.statusCode, headers: res.headers, text: res.body };
}

const json = (t: TestApp, url: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> =>
  call(t, url, JSON.stringify(body) ?? 'null', { 'content-type': 'application/json', ...headers });

/** The contract of the API `url` belongs to. */
function expectAnswer(url: string, answer: Answer, context: string): Record<string, unknown> {
  return url.startsWith('/v1/') ? expectV1Answer(v1RouteOf(url), answer, context) : expectLegacyAnswer(answer, context);
}

/** The body a route wants, spelled with the given (possibly hostile) values. */
function bodyFor(url: string, phone: unknown, channel: unknown, code: unknown): Record<string, unknown> {
  switch (url) {
    case V1.check:
    case LEGACY.check:
      return { phone, channel, code };
    case V1.notice:
      return { phone, channel, templateCode: 'SMS_1', templateParam: { n: '1' } };
    case LEGACY.notice:
      return { phone, channel, template_code: 'SMS_1', template_param: '{"n":"1"}' };
    default:
      return { phone, channel };
  }
}

describe.each<StoreKind>(['memory', 'redis'])('hostile bodies on the %s store', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp(kind);
  });
  afterAll(async () => {
    await t?.close();
  });
  const scale = kind === 'memory' ? 1 : 0.5;

  it('answers any JSON body, with any field of any type, in the contract of its API', async () => {
    await fc.assert(
      fc.asyncProperty(route, hostileBody, async (url, body) => {
        expectAnswer(url, await json(t, url, body), `${url} ${JSON.stringify(body)}`);
      }),
      runs(Math.round(800 * scale)),
    );
  });

  it('answers raw payloads (broken JSON, duplicate keys, odd number tokens, deep nesting) under any content type', async () => {
    await fc.assert(
      fc.asyncProperty(route, rawPayload, contentType, async (url, payload, type) => {
        const answer = await call(t, url, payload, type === undefined ? {} : { 'content-type': type });
        expectAnswer(url, answer, `${url} [${type}] ${JSON.stringify(payload.slice(0, 200))}`);
      }),
      runs(Math.round(800 * scale)),
    );
  });

  it('answers bodies over the 16 KiB limit with 413 (v1) and {code: 400} (legacy), whatever they hold', async () => {
    await fc.assert(
      fc.asyncProperty(route, fc.constantFrom('phone', 'channel', 'code', 'junk'), longString(16_400, 100_000), async (url, field, long) => {
        const answer = await json(t, url, { ...bodyFor(url, '13800000000', 'long', '1234'), [field]: long });
        const body = expectAnswer(url, answer, `${url} ${field}: ${long.length} chars`);
        if (url.startsWith('/v1/')) expect(body).toMatchObject({ statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' });
        else expect(body).toEqual({ code: 400, message: '参数错误', data: {} });
      }),
      runs(Math.round(40 * scale)),
    );
  });

  it('draws the body limit at exactly 16384 bytes (UTF-8 bytes, not characters)', async () => {
    const limit = t.config.bodyLimitBytes;
    expect(limit).toBe(16_384);
    await fc.assert(
      fc.asyncProperty(route, fc.integer({ min: limit - 40, max: limit + 40 }), fc.nat(), async (url, size, wide) => {
        const base = { ...bodyFor(url, '13800000000', 'edge', '1234'), pad: '' };
        const room = size - Buffer.byteLength(JSON.stringify(base));
        const threeByte = wide % (Math.floor(room / 3) + 1);
        const payload = JSON.stringify({ ...base, pad: '１'.repeat(threeByte) + 'a'.repeat(room - 3 * threeByte) });
        expect(Buffer.byteLength(payload)).toBe(size);
        const answer = await call(t, url, payload, { 'content-type': 'application/json' });
        const body = expectAnswer(url, answer, `${url} ${size} bytes`);
        const tooLarge = url.startsWith('/v1/') ? body.code === 'FST_ERR_CTP_BODY_TOO_LARGE' : body.message === '参数错误';
        expect(tooLarge, `${size} bytes: ${answer.text}`).toBe(size > limit);
      }),
      runs(Math.round(80 * scale)),
    );
  });
});

describe('hostile values that reach the handlers (memory store)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp('memory', { MAX_VERIFY_ATTEMPTS: '1', SEND_LIMITS: '1000/1h', PHONE_SEND_LIMITS: 'off' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('refuses phones holding Unicode or full-width digits on every route, and sends nothing', async () => {
    const anyPhoneWithUnicodeDigit = fc.oneof(
      fc.tuple(validPhone, fc.nat(UNICODE_DIGIT_SETS.length - 1)).chain(([p, set]) =>
        fc.constantFrom(...phoneSpellings(p).map((spelling) => toUnicodeDigits(spelling, set))),
      ),
      fc.tuple(validPhone, fc.nat(), unicodeDigit).map(([p, i, d]) => {
        const at = 1 + (i % (p.length - 1));
        return `${p.slice(0, at)}${d}${p.slice(at + 1)}`;
      }),
      fc.constantFrom('１３８００１３８０００', '+８６ １３８ ００１３ ８０００', '٠١٢٣٤٥٦٧٨٩٠', '1380013800٠'),
    );
    const before = t.sms.messages.length;
    await fc.assert(
      fc.asyncProperty(route, anyPhoneWithUnicodeDigit, async (url, phone) => {
        expect(hasNonAsciiDigit(phone)).toBe(true);
        const answer = await json(t, url, bodyFor(url, phone, 'unicode', '1234'));
        const body = expectAnswer(url, answer, `${url} ${phone}`);
        if (url.startsWith('/v1/')) {
          expect(answer.status).toBe(400);
          expect(['INVALID_PHONE', 'FST_ERR_VALIDATION']).toContain(body.code);
        } else {
          expect(body).toEqual({ code: 400, message: '参数错误: phone', data: {} });
        }
      }),
      runs(500),
    );
    expect(t.sms.messages.length).toBe(before);
  });

  it('refuses codes holding Unicode or full-width digits without counting an attempt', async () => {
    const phone = '+8613700000001';
    expect((await json(t, V1.send, { phone, channel: 'digits' })).status).toBe(201);
    const code = t.sms.lastCode(phone);
    const unicodeCode = fc.oneof(
      fc.nat(UNICODE_DIGIT_SETS.length - 1).map((set) => toUnicodeDigits(code, set)),
      fc.tuple(fc.nat(3), unicodeDigit).map(([i, d]) => `${code.slice(0, i)}${d}${code.slice(i + 1)}`),
      fc.constantFrom('１２３４', '٠١٢٣', '١٢٣٤', '۱۲۳۴', '१२३४'),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(V1.check, LEGACY.check), unicodeCode, async (url, guess) => {
        const answer = await json(t, url, { phone, channel: 'digits', code: guess });
        const body = expectAnswer(url, answer, `${url} ${guess}`);
        if (url.startsWith('/v1/')) {
          expect(answer.status).toBe(400);
          expect(['INVALID_CODE', 'FST_ERR_VALIDATION']).toContain(body.code);
        } else {
          expect(body).toEqual({ code: 400, message: '参数错误: code', data: {} });
        }
      }),
      runs(200),
    );
    // MAX_VERIFY_ATTEMPTS=1: had any of those counted, the right code would now be refused.
    expect((await json(t, V1.check, { phone, channel: 'digits', code })).status).toBe(200);
  });

  it('accepts a channel exactly when it is 1–64 of [A-Za-z0-9_.-]: braces, colons, wildcards, spaces and controls are refused', async () => {
    await fc.assert(
      fc.asyncProperty(route, validPhone, hostileChannel, async (url, phone, channel) => {
        const answer = await json(t, url, bodyFor(url, phone, channel, '0000'));
        const body = expectAnswer(url, answer, `${url} ${JSON.stringify(channel)}`);
        const valid = CHANNEL_RE.test(channel);
        if (url.startsWith('/v1/')) {
          if (valid) expect(body.code, JSON.stringify(body)).not.toBe('FST_ERR_VALIDATION');
          else expect(body).toMatchObject({ statusCode: 400, code: 'FST_ERR_VALIDATION' });
        } else if (valid) {
          expect(body.message).not.toBe('参数错误: channel');
        } else {
          expect(body).toEqual({ code: 400, message: '参数错误: channel', data: {} });
        }
      }),
      runs(800),
    );
  });

  it('refuses strings of up to 100 kB in any field as invalid input, quickly (BODY_LIMIT_BYTES raised so they get in)', async () => {
    const big = await buildTestApp('memory', { BODY_LIMIT_BYTES: '1048576' });
    try {
      await fc.assert(
        fc.asyncProperty(route, fc.constantFrom('phone', 'channel', 'code', 'templateCode', 'template_code', 'template_param', 'templateParam'), longString(1_000, 100_000), async (url, field, long) => {
          const body = { ...bodyFor(url, '13800000000', 'long', '1234'), [field]: long };
          const started = Date.now();
          const answer = await json(big, url, body);
          const parsed = expectAnswer(url, answer, `${url} ${field}: ${long.length} chars`);
          expect(Date.now() - started).toBeLessThan(2_000);
          // The field is either not one of the route's (v1: unknown field; legacy: ignored) or invalid.
          if (url.startsWith('/v1/')) expect(answer.status).toBe(400);
          else if (field in bodyFor(url, 1, 1, 1)) expect(parsed.code).toBe(400);
        }),
        runs(60),
      );
    } finally {
      await big.close();
    }
  });

  it('validates the value it uses when a key is repeated: the last one, on both APIs', async () => {
    const dup = (url: string, pairs: Array<[string, unknown]>) => call(t, url, duplicateKeyJson(pairs), { 'content-type': 'application/json' });
    const v1Ok = await dup(V1.send, [['phone', '1'], ['phone', '13600000001'], ['channel', 'a:b'], ['channel', 'dup']]);
    expect(expectV1Answer('send', v1Ok, 'dup')).toMatchObject({ phone: '+8613600000001', channel: 'dup' });
    const v1Bad = await dup(V1.send, [['phone', '13600000002'], ['phone', '1'], ['channel', 'dup']]);
    expect(expectV1Answer('send', v1Bad, 'dup')).toMatchObject({ code: 'INVALID_PHONE' });
    const v1BadChannel = await dup(V1.send, [['phone', '13600000003'], ['channel', 'dup'], ['channel', 'a{b}']]);
    expect(expectV1Answer('send', v1BadChannel, 'dup')).toMatchObject({ code: 'FST_ERR_VALIDATION' });
    const legacyOk = await dup(LEGACY.send, [['phone', '1'], ['phone', '13600000004'], ['channel', '*'], ['channel', 'dup']]);
    expect(expectLegacyAnswer(legacyOk, 'dup')).toEqual({ code: 200, message: '请求成功!', data: {} });
    expect(t.sms.messages.at(-1)?.phone.e164).toBe('+8613600000004');
    const legacyBad = await dup(LEGACY.send, [['phone', '13600000005'], ['channel', 'dup'], ['channel', 'a b']]);
    expect(expectLegacyAnswer(legacyBad, 'dup')).toEqual({ code: 400, message: '参数错误: channel', data: {} });
  });

  it('answers a body with repeated keys exactly as the object JSON.parse makes of it (no parser differential)', async () => {
    const pairs = fc.array(
      fc.tuple(fc.constantFrom('phone', 'channel', 'code'), fc.oneof(hostilePhone, hostileChannel, hostileCode, fc.constantFrom('13500000000', 'dup', '1234'))),
      { minLength: 1, maxLength: 8 },
    );
    // A fresh app where no code was ever sent: a check then changes nothing, so two answers can be compared.
    const fresh = await buildTestApp('memory');
    try {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(V1.check, LEGACY.check), pairs, async (url, list) => {
          const raw = duplicateKeyJson(list);
          const repeated = await call(fresh, url, raw, { 'content-type': 'application/json' });
          const once = await call(fresh, url, JSON.stringify(JSON.parse(raw)), { 'content-type': 'application/json' });
          expectAnswer(url, repeated, raw);
          expect({ status: repeated.status, body: JSON.parse(repeated.text) }, raw).toEqual({ status: once.status, body: JSON.parse(once.text) });
        }),
        runs(400),
      );
    } finally {
      await fresh.close();
    }
  });

  it('answers wrong and missing content types and empty bodies in each API’s contract', async () => {
    const body = JSON.stringify({ phone: '13600000009', channel: 'ctype' });
    const form = 'phone=13600000009&channel=ctype';
    const multipart = '------h\r\nContent-Disposition: form-data; name="phone"\r\n\r\n13600000009\r\n------h--\r\n';
    const cases: Array<[string | undefined, string | undefined, number, string]> = [
      ['text/plain', body, 400, 'FST_ERR_VALIDATION'],
      ['application/x-www-form-urlencoded', form, 415, 'FST_ERR_CTP_INVALID_MEDIA_TYPE'],
      ['multipart/form-data; boundary=----h', multipart, 415, 'FST_ERR_CTP_INVALID_MEDIA_TYPE'],
      ['application/xml', '<phone>13600000009</phone>', 415, 'FST_ERR_CTP_INVALID_MEDIA_TYPE'],
      [undefined, body, 415, 'FST_ERR_CTP_INVALID_MEDIA_TYPE'],
      ['application/json', '', 400, 'FST_ERR_CTP_EMPTY_JSON_BODY'],
      ['application/json', '{"phone": ', 400, 'FST_ERR_CTP_INVALID_JSON_BODY'],
      [undefined, undefined, 400, 'FST_ERR_VALIDATION'],
      ['text/plain', '', 400, 'FST_ERR_VALIDATION'],
    ];
    for (const [type, payload, status, code] of cases) {
      const headers: Record<string, string> = type === undefined ? {} : { 'content-type': type };
      for (const url of Object.values(V1)) {
        const answer = await call(t, url, payload, headers);
        expect(expectV1Answer(v1RouteOf(url), answer, `${url} ${type}`), `${url} ${type} ${payload}`).toMatchObject({ statusCode: status, code });
      }
      for (const url of Object.values(LEGACY)) {
        const answer = await call(t, url, payload, headers);
        expect(expectLegacyAnswer(answer, `${url} ${type}`).code, `${url} ${type} ${payload}`).toBe(400);
      }
    }
  });
});

describe('callers with API keys (hostile bodies and headers)', () => {
  let t: TestApp;
  const TOKEN = 'shop-token-0123456789abcdef';
  beforeAll(async () => {
    const file = join(tmpdir(), `hostile-keys-${process.pid}.json`);
    writeFileSync(file, JSON.stringify([{ name: 'shop', token: TOKEN, channels: ['login'] }]));
    t = await buildTestApp('memory', { API_KEYS_FILE: file });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers 401/403 in Fastify’s shape on both APIs, or the route’s own answer, whatever the body and header', async () => {
    const authorization = fc.oneof(
      fc.constant(`Bearer ${TOKEN}`),
      fc.constantFrom('', 'Bearer', 'Bearer ', `bearer ${TOKEN}`, `Bearer ${TOKEN} `, `Bearer  ${TOKEN}`, 'Basic Zm9vOmJhcg=='),
      headerText(80),
    );
    await fc.assert(
      fc.asyncProperty(route, hostileBody, fc.option(authorization, { nil: undefined }), async (url, body, auth) => {
        const answer = await json(t, url, body, auth === undefined ? {} : { authorization: auth });
        const context = `${url} ${auth} ${JSON.stringify(body)}`;
        if (answer.status === 401 || answer.status === 403) {
          expect(expectV1Answer('other', answer, context)).toMatchObject({ code: answer.status === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN' });
          if (answer.status === 401) expect(auth).not.toBe(`Bearer ${TOKEN}`);
          else expect(auth?.trim()).toBe(`Bearer ${TOKEN}`);
        } else {
          expect(auth?.trim()).toBe(`Bearer ${TOKEN}`);
          expectAnswer(url, answer, context);
        }
      }),
      runs(400),
    );
  });
});

describe.each<StoreKind>(['memory', 'redis'])('GET /v1/audit with hostile queries on the %s store', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp(kind);
    await json(t, V1.send, { phone: '13800000000', channel: 'login' });
    await json(t, V1.check, { phone: '13800000000', channel: 'login', code: '0000' });
  });
  afterAll(async () => {
    await t?.close();
  });

  const dateTime = fc.oneof(
    fc.date({ min: new Date('0000-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }).map((d) => d.toISOString()),
    fc.constantFrom(
      '2016-12-31T23:59:60Z',
      '1969-12-31T23:59:59Z',
      '0000-01-01T00:00:00Z',
      '1970-01-01T00:00:00+23:59',
      '1970-01-01T00:00:00.000-00:01',
      '2026-02-30T00:00:00Z',
      '2026-01-01T00:00:00.123456789Z',
      '2026-01-01t00:00:00z',
      '9999-12-31T23:59:59.999-23:59',
      '2026-01-01',
      'yesterday',
    ),
  );
  const streamId = fc.tuple(fc.bigInt({ min: 0n, max: 10n ** 17n }), fc.bigInt({ min: 0n, max: 10n ** 17n })).map(([a, b]) => `${a}-${b}`);
  const cursor = fc.oneof(fc.oneof(streamId, nastyString(20)).map((id) => Buffer.from(id).toString('base64url')), nastyString(20));
  /** Mostly values the schema lets through (so the query reaches the store), some that it should not. */
  const parameters = fc.record(
    {
      phone: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...phoneSpellings('13800000000')) }, { weight: 1, arbitrary: hostilePhone }),
      channel: fc.oneof({ weight: 3, arbitrary: fc.constantFrom('login', 'other') }, { weight: 1, arbitrary: hostileChannel }),
      since: fc.oneof({ weight: 3, arbitrary: dateTime }, { weight: 1, arbitrary: nastyString(25) }),
      until: fc.oneof({ weight: 3, arbitrary: dateTime }, { weight: 1, arbitrary: nastyString(25) }),
      limit: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 1, max: 200 }).map(String) }, { weight: 1, arbitrary: fc.integer({ min: -10, max: 100_000 }).map(String) }, { weight: 1, arbitrary: nastyString(5) }),
      cursor,
    },
    { requiredKeys: [] },
  );
  const extra = fc.array(fc.tuple(fc.oneof(fc.constantFrom('phone', 'since', 'limit'), nastyString(6)), nastyString(20)), { maxLength: 2 });
  const query = fc.tuple(parameters, extra, fc.boolean()).map(([known, more, encode]) =>
    [...Object.entries(known), ...more]
      .map(([key, v]) => (encode ? `${encodeURIComponent(key)}=${encodeURIComponent(v)}` : `${key}=${v}`.replace(/[\s#&]/g, '%20')))
      .join('&'),
  );

  it('answers every query string with a page or a stable error, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(query, async (q) => {
        const url = `/v1/audit?${q}`;
        let answer: Answer;
        try {
          answer = await call(t, url, undefined, {}, 'GET');
        } catch (error) {
          // light-my-request refuses some URLs outright (before the server sees them): not our answer to judge.
          if (error instanceof TypeError) return;
          throw error;
        }
        expectV1Answer('audit', answer, url);
      }),
      runs(kind === 'memory' ? 600 : 400),
    );
  });
});

describe('URLs near the API routes', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp('memory');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers unknown paths and methods with a stable error code and without echoing the path', async () => {
    const path = fc.oneof(
      fc.tuple(route, fc.constantFrom('/', '//', '/x', '%2F', ';x', '/..', '/%00', '.json', '?', '?a=1&a=2', '#frag')).map(([r, s]) => `${r}${s}`),
      route.map((r) => r.toUpperCase()),
      route.map((r) => `/${r}`),
      fc.constantFrom('/v1', '/v1/', '/v1/verification', '/sms_message', '/sms_message/', '/v1/x<script>'),
    );
    await fc.assert(
      fc.asyncProperty(path, fc.constantFrom<'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH'>('GET', 'POST', 'PUT', 'DELETE', 'PATCH'), async (url, method) => {
        const res = await t.app.inject({ method, url, payload: JSON.stringify({ phone: '13800000000', channel: 'u' }), headers: { 'content-type': 'application/json' } });
        const answer = { status: res.statusCode, headers: res.headers, text: res.body };
        const known = ROUTES.includes(url.split(/[?#]/)[0] as (typeof ROUTES)[number]) && method === 'POST';
        if (known) return void expectAnswer(url, answer, `${method} ${url}`);
        const body = expectV1Answer('other', answer, `${method} ${url}`);
        expect([400, 404]).toContain(answer.status);
        expect(String(body.message)).not.toContain('<script>');
      }),
      runs(300),
    );
  });
});

describe('Redis key layout under hostile input (TRUST_PROXY=true: X-Forwarded-For is input too)', () => {
  let t: TestApp;
  let admin: Redis;
  const seen = new Map<string, number>();
  const POOL = ['13800000000', '13912345678', '15000000001', '18600000002', '+85261234567'];

  beforeAll(async () => {
    t = await buildTestApp('redis', {
      TRUST_PROXY: 'true',
      IP_SEND_LIMITS: '1000/1h',
      GLOBAL_SEND_LIMITS: '100000/1d',
      SEND_LIMITS: '3/1h',
      PHONE_SEND_LIMITS: '50/1d',
      IP_CHECK_LIMITS: '1000/1h',
    });
    admin = new Redis(requireRedisUrl());
    // One send and one wrong guess, so every kind of key exists from the start.
    await json(t, V1.send, { phone: POOL[0], channel: 'login' });
    const code = t.sms.lastCode('+8613800000000');
    await json(t, V1.check, { phone: POOL[0], channel: 'login', code: code === '0000' ? '1111' : '0000' });
  });
  afterAll(async () => {
    admin?.disconnect();
    await t?.close();
  });

  /** Keys already judged: each check looks at the keys the last request added, so a failure names the input that made its key. */
  const judged = new Set<string>();

  async function expectLayout(context: string): Promise<void> {
    const prefix = t.harness.prefix;
    const keys = (await keysWithPrefix(admin, prefix)).filter((key) => !judged.has(key));
    const ttls = await Promise.all(keys.map((key) => admin.pttl(key)));
    keys.forEach((key) => judged.add(key));
    keys.forEach((key, i) => {
      const kind = layoutKind(key, prefix);
      expect(kind, `a key outside the documented layout: ${JSON.stringify(key)} after ${context}`).toBeDefined();
      seen.set(kind as string, (seen.get(kind as string) ?? 0) + 1);
      if (kind !== 'audit' && kind !== 'secret') expect(ttls[i], `${key} has no TTL`).toBeGreaterThan(0);
    });
  }

  it('never creates a key outside <prefix>{+digits}:<channel>:code|sends, {+digits}:sends|failures|notices, {ip:<ip>}:sends|checks, {global}:sends, audit, secret', async () => {
    const phone = fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...POOL).chain((p) => fc.constantFrom(...phoneSpellings(p))) },
      { weight: 1, arbitrary: hostilePhone },
    );
    const channel = fc.oneof({ weight: 3, arbitrary: fc.constantFrom('login', 'reset', 'a.b-c_D9') }, { weight: 2, arbitrary: hostileChannel });
    const step = fc.record({
      url: route,
      phone,
      channel,
      code: fc.oneof(fc.stringMatching(/^[0-9]{4}$/), hostileCode),
      xff: fc.option(forwardedFor, { nil: undefined }),
      requestId: fc.option(fc.oneof(fc.constantFrom('req-1', 'a:b.c_d-e', 'x'.repeat(129), '{evil}', 'a b'), headerText(140)), { nil: undefined }),
      raw: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: hostileObject }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 8 }), async (steps) => {
        for (const s of steps) {
          const body = s.raw ? { ...s.raw, ...bodyFor(s.url, s.phone, s.channel, s.code) } : bodyFor(s.url, s.phone, s.channel, s.code);
          const headers: Record<string, string> = {};
          if (s.xff !== undefined) headers['x-forwarded-for'] = s.xff;
          if (s.requestId !== undefined) headers['x-request-id'] = s.requestId;
          const answer = await json(t, s.url, body, headers);
          const context = `${s.url} ${JSON.stringify(headers)} ${JSON.stringify(body)}`;
          expectAnswer(s.url, answer, context);
          // A trusted proxy's request id is echoed only when it is well formed; otherwise a fresh UUID.
          expect(String(answer.headers['x-request-id']), context).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
          if (s.requestId !== undefined && !/^[A-Za-z0-9._:-]{1,128}$/.test(s.requestId)) {
            expect(answer.headers['x-request-id'], context).not.toBe(s.requestId);
          }
          await expectLayout(context);
        }
      }),
      // Keys outlive a run, so shrinking could not replay a failure: report the first one, which names its request.
      { ...runs(120), endOnFailure: true },
    );
    // The property looked at real keys of every kind, not at an empty database.
    for (const kind of ['code', 'channel sends', 'phone sends', 'failures', 'notices', 'ip sends', 'ip checks', 'global sends', 'audit', 'secret']) {
      expect(seen.get(kind) ?? 0, kind).toBeGreaterThan(0);
    }
  });
});

describe('slow clients on a real socket', () => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    t = await buildTestApp('memory', { SEND_LIMITS: '100/1h' });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await t?.close();
  });

  const head = (path: string, length: number | 'chunked', type = 'application/json') =>
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${type}\r\n` +
    (length === 'chunked' ? 'Transfer-Encoding: chunked\r\n' : `Content-Length: ${length}\r\n`) +
    'Connection: close\r\n\r\n';

  /** A quick request on its own connection: how long it took and what it said. */
  async function quick(path: string, body: string | undefined, method = 'POST'): Promise<{ ms: number; answer: Answer; at: number }> {
    const started = Date.now();
    const h = body === undefined ? `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n` : head(path, Buffer.byteLength(body));
    const answer = await slowRequest(port, h, body === undefined ? [] : [Buffer.from(body)], 0);
    return { ms: Date.now() - started, answer, at: Date.now() };
  }

  /** While `slow` is in flight, other requests are answered promptly (before it, and each well under a second). */
  async function meanwhile<T extends { totalMs: number }>(slow: Promise<T>): Promise<{ slow: T; started: number }> {
    const started = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 150));
    const others = await Promise.all([
      quick('/healthz', undefined, 'GET'),
      quick(V1.check, JSON.stringify({ phone: '13800000000', channel: 'other', code: '1234' })),
      quick(LEGACY.check, JSON.stringify({ phone: '13800000000', channel: 'other', code: '1234' })),
    ]);
    const result = await slow;
    const slowEnd = started + result.totalMs;
    for (const other of others) {
      expect(other.ms).toBeLessThan(1_000);
      expect(other.at).toBeLessThan(slowEnd);
      expect(other.answer.status).toBeLessThan(500);
    }
    expect(others[0]?.answer.status).toBe(200);
    expectV1Answer('check', others[1]!.answer, 'meanwhile');
    expectLegacyAnswer(others[2]!.answer, 'meanwhile');
    return { slow: result, started };
  }

  // Multi-byte characters everywhere (full-width digits, ideographic spaces, which are separators), so the cuts split them.
  it.each([
    ['v1 send', V1.send, { phone: '+８６\u3000１３８\u3000００００\u3000００００', channel: 'slow' }, 400, 'INVALID_PHONE'],
    ['v1 send', V1.send, { phone: '+86\u3000139\u30000000\u30000001', channel: 'slow' }, 201, undefined],
    ['legacy send', LEGACY.send, { phone: '139\u30000000\u30000002', channel: 'slow', pad: 'é１٣'.repeat(20) }, 200, 200],
    ['legacy check', LEGACY.check, { phone: '13900000002', channel: 'slow', code: '١٢٣٤', pad: 'é１٣'.repeat(20) }, 200, 400],
  ] as const)('answers a %s whose body arrives in pieces with pauses, splitting UTF-8 characters (%s)', async (_name, path, body, status, code) => {
    const text = JSON.stringify(body);
    const bytes = Buffer.byteLength(text);
    const chunks = splitBytes(text, [1, 2, 17, 18, 40, 41, 42, 80, 81, bytes - 1]);
    const { slow } = await meanwhile(slowRequest(port, head(path, bytes), chunks, 60));
    // The answer came only after the last byte: the server waited for the body, then answered it.
    expect(slow.firstByteMs).toBeGreaterThanOrEqual(60 * chunks.length - 20);
    expect(slow.status).toBe(status);
    const parsed = expectAnswer(path, slow, 'slow');
    if (path.startsWith('/v1/')) {
      if (code) expect(parsed.code).toBe(code);
    } else {
      expect(parsed.code).toBe(code);
    }
  });

  it('answers an oversized chunked body that trickles in with 413 once it passes the limit', async () => {
    const piece = Buffer.from(`${'x'.repeat(4096)}`);
    const chunk = Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]);
    const prefix = Buffer.from(`${(13).toString(16)}\r\n{"phone":"1",\r\n`);
    const chunks = [prefix, ...Array.from({ length: 8 }, () => chunk), Buffer.from('0\r\n\r\n')];
    const { slow } = await meanwhile(slowRequest(port, head(V1.send, 'chunked'), chunks, 40));
    expect(expectV1Answer('send', slow, 'chunked')).toMatchObject({ statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' });
  });

  it('stays responsive while clients stall mid-headers and mid-body, and after they vanish', async () => {
    const stalled: Socket[] = [];
    const open = (data: string) =>
      new Promise<Socket>((resolve, reject) => {
        const socket = new Socket();
        socket.on('error', () => undefined);
        socket.connect(port, '127.0.0.1', () => {
          socket.write(data);
          resolve(socket);
        });
        socket.once('error', reject);
      });
    for (let i = 0; i < 20; i++) {
      stalled.push(await open(`POST ${V1.send} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: app`));
      stalled.push(await open(`${head(LEGACY.send, 500)}{"phone":"138`));
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const path of [V1.check, LEGACY.check]) {
      const { ms, answer } = await quick(path, JSON.stringify({ phone: '13800000000', channel: 'stall', code: '1234' }));
      expect(ms).toBeLessThan(1_000);
      expectAnswer(path, answer, 'while stalled');
    }
    for (const socket of stalled) socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const after = await quick(V1.send, JSON.stringify({ phone: '13900000003', channel: 'stall' }));
    expect(expectV1Answer('send', after.answer, 'after')).toMatchObject({ phone: '+8613900000003' });
  });

  it('answers bodies split at random byte offsets with random pauses as it answers them whole', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(V1.check, LEGACY.check),
        fc.record({ phone: hostilePhone, channel: hostileChannel, code: hostileCode }),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.integer({ min: 0, max: 15 }),
        async (path, body, cuts, pause) => {
          const text = JSON.stringify(body);
          const whole = await call(t, path, text, { 'content-type': 'application/json' });
          const pieces = await slowRequest(port, head(path, Buffer.byteLength(text)), splitBytes(text, cuts), pause);
          expectAnswer(path, pieces, text);
          expect({ status: pieces.status, body: JSON.parse(pieces.text) }).toEqual({ status: whole.status, body: JSON.parse(whole.text) });
        },
      ),
      runs(40),
    );
  });
});

describe('the checks themselves', () => {
  it('recognise stack traces, paths and internal error text', () => {
    for (const leak of [
      'Error: boom\n    at foo (/work/main/src/x.ts:1:2)',
      '{"message":"TypeError: Cannot read properties of undefined"}',
      '{"message":"at Object.<anonymous> (node:internal/x:1:1)"}',
      '{"message":"ERR Invalid stream ID specified as stream command argument"}',
      '{"message":"/work/main/node_modules/fastify/lib/x.js:10"}',
    ]) {
      expect(() => expectNoLeak(leak, 'probe')).toThrow();
    }
    expectNoLeak('{"code":400,"message":"参数错误: phone","data":{}}');
    expectNoLeak('{"statusCode":400,"code":"FST_ERR_VALIDATION","error":"Bad Request","message":"body/channel must match pattern \\"^[A-Za-z0-9_.-]{1,64}$\\""}');
  });

  it('place keys in the layout exactly', () => {
    const p = 'sms:';
    for (const ok of ['sms:{+8613800000000}:login:code', 'sms:{+8613800000000}:a.b-c_D:sends', 'sms:{+85261234567}:sends', 'sms:{+8613800000000}:failures', 'sms:{ip:127.0.0.1}:sends', 'sms:{ip:::ffff:1.2.3.4}:sends', 'sms:{global}:sends', 'sms:audit', 'sms:secret']) {
      expect(layoutKind(ok, p), ok).toBeDefined();
    }
    for (const bad of ['sms:{+86１3800000000}:login:code', 'sms:{+8613800000000}:a:b:code', 'sms:{+8613800000000}:a{b}:sends', 'sms:{ip:}{*:evil}:sends', 'sms:{ip:a b}:sends', 'sms:{ip:[::1]:80}:sends', 'sms:{+8613800000000}:login\n:code', 'other:secret', 'sms:{+8613800000000}::code', `sms:{+8613800000000}:${'x'.repeat(65)}:code`]) {
      expect(layoutKind(bad, p), bad).toBeUndefined();
    }
  });
});
