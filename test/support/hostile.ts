import fc from 'fast-check';
import { STATUS_CODES } from 'node:http';
import { isIP, Socket } from 'node:net';
import { expect } from 'vitest';

/**
 * Hostile input for the HTTP properties of `test/hostile-input.test.ts`: arbitraries for phones,
 * codes, channels and whole bodies that a careless or malicious caller might send, and the checks
 * every answer must pass whatever the input was.
 */

// ---------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------

/** Digits that are not ASCII: full-width, Arabic-Indic (both), Devanagari, Bengali, Thai, math bold, superscripts, circled. */
export const UNICODE_DIGIT_SETS: readonly string[] = [
  '０１２３４５６７８９',
  '٠١٢٣٤٥٦٧٨٩',
  '۰۱۲۳۴۵۶۷۸۹',
  '०१२३४५६७८९',
  '০১২৩৪৫৬৭৮৯',
  '๐๑๒๓๔๕๖๗๘๙',
  '𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗',
  '⁰¹²³⁴⁵⁶⁷⁸⁹',
  '⓪①②③④⑤⑥⑦⑧⑨',
];
const UNICODE_DIGITS = UNICODE_DIGIT_SETS.flatMap((set) => [...set]);

/** One non-ASCII digit. */
export const unicodeDigit = fc.constantFrom(...UNICODE_DIGITS);

/** True when `text` holds a digit outside ASCII (what the service must refuse rather than fold). */
export function hasNonAsciiDigit(text: string): boolean {
  return /\p{Nd}|\p{No}/u.test(text.replace(/[0-9]/g, ''));
}

/** Transliterates ASCII digits into one of the Unicode digit sets. */
export function toUnicodeDigits(text: string, set: number): string {
  const digits = [...(UNICODE_DIGIT_SETS[set % UNICODE_DIGIT_SETS.length] as string)];
  return text.replace(/[0-9]/g, (d) => digits[Number(d)] as string);
}

/** Mainland mobiles (130–139 are all mobile ranges) and Hong Kong mobiles. */
export const validPhone = fc.oneof(
  fc.tuple(fc.integer({ min: 130, max: 139 }), fc.integer({ min: 0, max: 99_999_999 })).map(
    ([head, tail]) => `${head}${String(tail).padStart(8, '0')}`,
  ),
  fc.tuple(fc.constantFrom('6', '9'), fc.integer({ min: 0, max: 9_999_999 })).map(([head, tail]) => `+852${head}${String(tail).padStart(7, '0')}`),
);

/** Every accepted spelling of one national CN number: +86, 0086, 86, spaces, dashes, Unicode spaces. */
export function phoneSpellings(national: string): string[] {
  if (national.startsWith('+')) return [national, `00${national.slice(1)}`, national.slice(1)];
  const spaced = `${national.slice(0, 3)} ${national.slice(3, 7)} ${national.slice(7)}`;
  return [
    national,
    `+86${national}`,
    `0086${national}`,
    `86${national}`,
    `+86 ${spaced}`,
    `+86-${national.slice(0, 3)}-${national.slice(3, 7)}-${national.slice(7)}`,
    `(+86) ${spaced}`,
    `${national.slice(0, 3)}\u3000${national.slice(3)}`,
  ];
}

const CONTROL = fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c));
const KEY_META = fc.constantFrom('{', '}', ':', '*', '?', '[', ']', '\\', ' ', '\n', '\r', '\t', '\u0000', '\u007f', '\u2028', '\u3000', '"', '%', '/', '$');
const CHANNEL_CHAR = fc.constantFrom(...'abcxyzABCZ019_.-');

/** Strings built mostly from characters that would shape a Redis key or a log line, plus anything at all. */
export const nastyString = (maxLength = 80): fc.Arbitrary<string> =>
  fc.string({
    unit: fc.oneof(
      { weight: 4, arbitrary: CHANNEL_CHAR },
      { weight: 3, arbitrary: KEY_META },
      { weight: 1, arbitrary: CONTROL },
      { weight: 1, arbitrary: unicodeDigit },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
    ),
    maxLength,
  });

export const CHANNEL_RE = /^[A-Za-z0-9_.-]{1,64}$/;

/** Channels: valid ones, ones that are almost valid, and ones full of key syntax and control characters. */
export const hostileChannel = fc.oneof(
  fc.constantFrom('login', 'reset', 'a', 'x'.repeat(64), 'x'.repeat(65), '', 'a{b}', 'a:b', 'a*', 'a?', 'a[b', 'a b', 'login\n', '\nlogin', 'lo\u0000gin', 'ｌｏｇｉｎ', '{+8613800000000}', '*', '{global}'),
  fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/),
  nastyString(80),
);

/** Phones: valid spellings, Unicode and full-width digits, separators, junk. */
export const hostilePhone = fc.oneof(
  validPhone.chain((p) => fc.constantFrom(...phoneSpellings(p))),
  fc.tuple(validPhone, fc.nat(UNICODE_DIGIT_SETS.length - 1)).map(([p, set]) => toUnicodeDigits(p, set)),
  // One ASCII digit swapped for a Unicode one: a number that would be valid if folded.
  fc.tuple(validPhone, fc.nat(20), unicodeDigit).map(([p, i, d]) => {
    const at = p.length - 1 - (i % 8);
    return `${p.slice(0, at)}${d}${p.slice(at + 1)}`;
  }),
  fc.constantFrom('１３８００１３８０００', '٠١٢٣٤٥٦٧٨٩٠', '+８６13800000000', '13800000000\n', '+', '00', '', ' ', '+0', '+86', '-13800000000', '138 0000 000x', '+86{13800000000}'),
  nastyString(40),
);

/** Codes: well-formed ones, Unicode digits, wrong lengths, junk. */
export const hostileCode = fc.oneof(
  fc.stringMatching(/^[0-9]{4}$/),
  fc.tuple(fc.stringMatching(/^[0-9]{4}$/), fc.nat(UNICODE_DIGIT_SETS.length - 1)).map(([c, set]) => toUnicodeDigits(c, set)),
  fc.constantFrom('１２３４', '٠١٢٣', '١٢٣٤', '12３4', '123', '12345', ' 1234', '1234\n', '12.3', '-123', '+123', '1e3', '0x12'),
  nastyString(12),
);

/** A value of a type no field wants (and some it does). */
export const wrongType: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -0, -1, 13800000000, -13800000000, 13800000000.5, 1e21, Number.MAX_SAFE_INTEGER + 2, 1234, 0.1),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
  fc.string({ maxLength: 30 }),
);

/** Any value a field of ours might receive. */
export const fieldValue = (typed: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 3, arbitrary: typed }, { weight: 2, arbitrary: wrongType });

const FIELD_NAMES = ['phone', 'channel', 'code', 'templateCode', 'templateParam', 'template_code', 'template_param'] as const;

/** An object with any subset of the fields of both APIs (typed or not) plus arbitrary extra keys. */
export const hostileObject: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(
    fc.record(
      {
        phone: fieldValue(hostilePhone),
        channel: fieldValue(hostileChannel),
        code: fieldValue(hostileCode),
        templateCode: fieldValue(fc.oneof(fc.constantFrom('SMS_1', 'SMS_123'), nastyString(20))),
        templateParam: fieldValue(fc.dictionary(nastyString(10), fc.oneof(nastyString(20), fc.integer(), fc.boolean()), { maxKeys: 4 })),
        template_code: fieldValue(fc.oneof(fc.constantFrom('SMS_1', 'SMS_123'), nastyString(20))),
        template_param: fieldValue(fc.oneof(fc.constantFrom('', '{"a":"1"}', '{oops', '[1]', '{"a":{"b":1}}'), fc.json({ maxDepth: 2 }))),
      },
      { requiredKeys: [] },
    ),
    fc.dictionary(
      fc.oneof(fc.constantFrom(...FIELD_NAMES, 'extra', 'toString', 'hasOwnProperty', 'valueOf'), nastyString(10)),
      fc.jsonValue({ maxDepth: 2 }),
      { maxKeys: 3 },
    ),
  )
  .map(([known, extra]) => ({ ...extra, ...known }));

/** Whole bodies: shaped objects, arbitrary JSON of any top-level type, and `fc.anything` squeezed through JSON. */
export const hostileBody: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 5, arbitrary: hostileObject },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  {
    weight: 1,
    arbitrary: fc
      .anything({ maxDepth: 3, withBoxedValues: true, withMap: true, withSet: true, withDate: true, withSparseArray: true })
      .map((value) => {
        try {
          return JSON.parse(JSON.stringify(value) ?? 'null') as unknown;
        } catch {
          return null;
        }
      }),
  },
);

/** A JSON text with a key repeated: JSON.parse keeps the last one, and validation must see that same one. */
export function duplicateKeyJson(pairs: ReadonlyArray<readonly [string, unknown]>): string {
  return `{${pairs.map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value) ?? 'null'}`).join(',')}}`;
}

/** Raw payload texts: broken JSON, duplicate keys, number tokens JSON.parse turns odd, deep nesting, not JSON at all. */
export const rawPayload: fc.Arbitrary<string> = fc.oneof(
  // Valid JSON cut anywhere, or with a byte inserted.
  fc.tuple(hostileObject.map((o) => JSON.stringify(o)), fc.nat()).map(([text, cut]) => text.slice(0, cut % (text.length + 1))),
  fc.tuple(hostileObject.map((o) => JSON.stringify(o)), fc.nat(), fc.constantFrom('"', '{', '}', ',', ':', '\\', '\u0000', ']', '\n'))
    .map(([text, at, c]) => {
      const i = at % (text.length + 1);
      return `${text.slice(0, i)}${c}${text.slice(i)}`;
    }),
  // Duplicate keys, in any order.
  fc
    .array(
      fc.tuple(fc.constantFrom('phone', 'channel', 'code', 'templateCode', 'template_code', 'template_param'), fieldValue(fc.oneof(hostilePhone, hostileChannel, hostileCode))),
      { minLength: 1, maxLength: 8 },
    )
    .map(duplicateKeyJson),
  // Number tokens: huge, tiny, negative zero, exponent overflow.
  fc
    .tuple(
      fc.constantFrom('phone', 'code'),
      fc.constantFrom('1e400', '-1e400', '-0', '0.0', '1234.0', '1.2340e3', '138000000000000000000000000', '13800000000e0', '1e-400', '00', '-13800000000'),
    )
    .map(([key, token]) => `{"${key}":${token},"channel":"login","phone":"13800000000","${key}":${token}}`),
  // Prototype pollution attempts and deep nesting.
  fc.constantFrom(
    '{"__proto__":{"admin":true},"phone":"13800000000","channel":"login"}',
    '{"constructor":{"prototype":{"admin":true}},"phone":"13800000000","channel":"login"}',
    `${'{"a":'.repeat(2000)}{"constructor":{"prototype":1}}${'}'.repeat(2000)}`,
    `${'['.repeat(5000)}${']'.repeat(5000)}`,
    `{"phone":"13800000000","channel":"login","x":${'['.repeat(5000)}${']'.repeat(5000)}}`,
    '\uFEFF{"phone":"13800000000","channel":"login"}',
    '{"phone":"13800000000","channel":"login"}garbage',
    '{"phone":"13800000000","channel":"login"}{"phone":"13900000000"}',
    'null',
    'true',
    '"13800000000"',
    '13800000000',
    '',
    ' ',
    '\u0000',
  ),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.json({ maxDepth: 3 }),
);

/** Content types a client might send (undefined: no header). */
export const contentType = fc.constantFrom<string | undefined>(
  undefined,
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'APPLICATION/JSON',
  'application/json;;;=',
  'application/vnd.api+json',
  'application/json-patch+json',
  'text/plain',
  'text/plain; charset=utf-8',
  'text/html',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=----hostile',
  'multipart/form-data',
  'application/octet-stream',
  'application/xml',
  '*/*',
  '',
  ';',
  '@@@',
  'application/json, text/plain',
);

/** Header values Node accepts from a client (printable ASCII and tab), shaped to look like addresses or key syntax. */
export const headerText = (maxLength = 60): fc.Arbitrary<string> =>
  fc.string({
    unit: fc.oneof(
      fc.constantFrom(...'0123456789.:abcdef,[]{}*? %'),
      fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
    ),
    maxLength,
  });

/** `X-Forwarded-For` values: real addresses, lists, ports, brackets and key syntax. */
export const forwardedFor = fc.oneof(
  fc.ipV4(),
  fc.ipV6(),
  fc.tuple(fc.ipV4(), fc.ipV4()).map(([a, b]) => `${a}, ${b}`),
  fc.constantFrom('unknown', '}{*:evil', '[::1]:80', '1.2.3.4:5678', '::ffff:1.2.3.4', 'a b, c', '', ' , ,', '{global}', '1.2.3.4}:x'),
  headerText(),
);

/** A string of roughly `length` characters (up to 100 kB), repeated from a nasty seed; may end in half a surrogate pair. */
export const longString = (min: number, max: number): fc.Arbitrary<string> =>
  fc.tuple(nastyString(8).filter((s) => s.length > 0), fc.integer({ min, max })).map(([seed, length]) => seed.repeat(Math.ceil(length / seed.length)).slice(0, length));

// ---------------------------------------------------------------------------------------------
// Checks on every answer
// ---------------------------------------------------------------------------------------------

export interface Answer {
  readonly status: number;
  readonly headers: Record<string, unknown>;
  readonly text: string;
}

const LEAKS: ReadonlyArray<readonly [string, RegExp]> = [
  ['a stack frame', /\bat [^\s"]+ \(|\n\s+at |\bat (?:async )?(?:file:|node:|\/)/],
  ['a source path', /\.(?:[cm]?[jt]s):\d+|node_modules|file:\/\/|\/work\/|\/src\/|\/plugins\//],
  ['an internal error name', /\b(?:Type|Range|Reference|Syntax|Eval|URI|Aggregate|Replyhttp|ReplyError|Redis|Abort)?Error: /],
  ['a driver message', /\b(?:ERR |NOSCRIPT|WRONGTYPE|ECONNREFUSED|ECONNRESET|EPIPE|ioredis|Lua|redis\.call)/],
];

/** No stack, no path, no internal error text: whatever the body is. */
export function expectNoLeak(text: string, context = ''): void {
  for (const [what, pattern] of LEAKS) {
    expect(pattern.test(text), `${context}: the answer holds ${what}: ${text.slice(0, 300)}`).toBe(false);
  }
}

function parseJson(answer: Answer, context: string): unknown {
  const type = String(answer.headers['content-type'] ?? '');
  expect(type, `${context}: content-type`).toMatch(/^application\/json\b/);
  try {
    return JSON.parse(answer.text) as unknown;
  } catch {
    throw new Error(`${context}: the answer is not JSON: ${answer.text.slice(0, 300)}`);
  }
}

export const V1_CODE = /^[A-Z][A-Z0-9_]+$/;
const V1_ERROR_EXTRAS = new Set(['attemptsRemaining', 'retryAfter', 'limit']);
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export type V1Route = 'send' | 'check' | 'notice' | 'audit' | 'other';

export function v1RouteOf(url: string): V1Route {
  const path = url.split(/[?#]/)[0];
  if (path === '/v1/verifications') return 'send';
  if (path === '/v1/verifications/check') return 'check';
  if (path === '/v1/notifications') return 'notice';
  if (path === '/v1/audit') return 'audit';
  return 'other';
}

/**
 * A v1 answer: JSON; below 500 (the store and provider are healthy in these tests); either the
 * route's success shape, or Fastify's error shape with a stable upper-case code and the HTTP status.
 */
export function expectV1Answer(route: V1Route, answer: Answer, context = ''): Record<string, unknown> {
  const body = parseJson(answer, context) as Record<string, unknown>;
  expect(answer.status, `${context}: ${answer.text.slice(0, 300)}`).toBeLessThan(500);
  expect(body !== null && typeof body === 'object' && !Array.isArray(body), context).toBe(true);
  if (answer.status < 300) {
    expectV1Success(route, answer.status, body, context);
    return body;
  }
  expectNoLeak(answer.text, context);
  expect(Object.keys(body).filter((k) => !['statusCode', 'code', 'error', 'message'].includes(k) && !V1_ERROR_EXTRAS.has(k)), context).toEqual([]);
  expect(body.statusCode, context).toBe(answer.status);
  expect(body.code, context).toEqual(expect.stringMatching(V1_CODE));
  expect(body.error, context).toBe(STATUS_CODES[answer.status]);
  expect(typeof body.message, context).toBe('string');
  expect(body.code, context).not.toBe('INTERNAL_SERVER_ERROR');
  return body;
}

function expectV1Success(route: V1Route, status: number, body: Record<string, unknown>, context: string): void {
  switch (route) {
    case 'send':
      expect(status, context).toBe(201);
      // Issue 12 added the verification's id, status and resend time.
      expect(Object.keys(body).sort(), context).toEqual(['channel', 'expiresAt', 'id', 'phone', 'resendAvailableAt', 'status']);
      expect(body.phone, context).toMatch(/^\+[0-9]{6,15}$/);
      expect(body.channel, context).toMatch(CHANNEL_RE);
      expect(body.expiresAt, context).toMatch(ISO_TIME);
      expect(body.id, context).toMatch(/^[0-9a-f]{32}$/);
      expect(body.status, context).toBe('pending');
      expect(body.resendAvailableAt, context).toMatch(ISO_TIME);
      return;
    case 'check':
      expect(status, context).toBe(200);
      expect(body, context).toEqual({ status: 'approved' });
      return;
    case 'notice':
      expect(status, context).toBe(201);
      expect(body, context).toEqual({
        phone: expect.stringMatching(/^\+[0-9]{6,15}$/),
        channel: expect.stringMatching(CHANNEL_RE),
        templateCode: expect.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/),
        bizId: expect.any(String),
      });
      return;
    case 'audit':
      expect(status, context).toBe(200);
      expect(Array.isArray(body.events), context).toBe(true);
      for (const key of Object.keys(body)) expect(['events', 'nextCursor'], context).toContain(key);
      return;
    case 'other':
      throw new Error(`${context}: an unknown route answered ${status}`);
  }
}

const LEGACY_CODES = new Set([200, 400, 401, 402, 403, 405, 406, 429]);
const LEGACY_MESSAGES = new Set([
  '请求成功!',
  '验证成功',
  '验证码已过期',
  '验证码已被验证过了,请勿重复使用',
  '验证码错误次数过多,请重新获取',
  '验证码错误',
  '该手机未发送过验证码',
  '短信发送失败',
  '参数错误',
  '参数错误: phone',
  '参数错误: channel',
  '参数错误: code',
  '参数错误: template_code',
  '参数错误: template_param',
  '该手机号码不支持发送短信',
  '请求过于频繁,请稍后再试',
  '短信发送量已达上限,请稍后再试',
  '验证失败次数过多,请稍后再试',
]);
const LEGACY_LIMIT_SENTENCE =
  /^(?:短信[0-9]+(?:毫秒|秒|分钟|小时|天)之内已经发送过(?:[0-9]+条,超出上限)?|该手机号[0-9]+(?:毫秒|秒|分钟|小时|天)之内已经接收过[0-9]+条短信,超出上限),请稍后再试$/;

/**
 * A legacy answer: HTTP 200 with exactly `{code, message, data}`, a body code the seed contract
 * knows (never 500: the store is healthy here, so a 500 would be an internal error the route hid),
 * and one of the contract's messages.
 */
export function expectLegacyAnswer(answer: Answer, context = ''): Record<string, unknown> {
  const body = parseJson(answer, context) as Record<string, unknown>;
  expectNoLeak(answer.text, context);
  expect(answer.status, `${context}: ${answer.text.slice(0, 300)}`).toBe(200);
  expect(Object.keys(body).sort(), context).toEqual(['code', 'data', 'message']);
  expect(LEGACY_CODES.has(body.code as number), `${context}: body code ${String(body.code)}`).toBe(true);
  const message = body.message as string;
  expect(LEGACY_MESSAGES.has(message) || LEGACY_LIMIT_SENTENCE.test(message), `${context}: message ${message}`).toBe(true);
  expect(body.data, context).toEqual({});
  return body;
}

// ---------------------------------------------------------------------------------------------
// Redis key layout
// ---------------------------------------------------------------------------------------------

const CHANNEL_PART = '[A-Za-z0-9_.-]{1,64}';
const PHONE_TAG = '\\{\\+[0-9]{1,15}\\}';
const LAYOUT: ReadonlyArray<readonly [string, RegExp]> = [
  ['code', new RegExp(`^${PHONE_TAG}:${CHANNEL_PART}:code$`)],
  ['channel sends', new RegExp(`^${PHONE_TAG}:${CHANNEL_PART}:sends$`)],
  ['phone sends', new RegExp(`^${PHONE_TAG}:sends$`)],
  ['failures', new RegExp(`^${PHONE_TAG}:failures$`)],
  ['notices', new RegExp(`^${PHONE_TAG}:notices$`)],
  ['global sends', /^\{global\}:sends$/],
  // Issue 12: verification records and idempotent check decisions (phone slot), the OutId index (hex or base36 ids).
  ['verifications', new RegExp(`^${PHONE_TAG}:${CHANNEL_PART}:ver$`)],
  ['check decisions', new RegExp(`^${PHONE_TAG}:${CHANNEL_PART}:checks$`)],
  ['out ids', /^out:[0-9a-z]{8,64}$/],
  ['audit', /^audit$/],
  ['secret', /^secret$/],
];

/**
 * Which documented key `key` is (`undefined`: none). `{ip:<bucket>}:sends` (and `:checks`,
 * IP_CHECK_LIMITS) takes an IP address, an IPv6 /64 network (`2001:db8:1:2::/64`), or the store's
 * `unknown` for a client address that is not an IP.
 */
export function layoutKind(key: string, prefix: string): string | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const rest = key.slice(prefix.length);
  for (const [kind, pattern] of LAYOUT) if (pattern.test(rest)) return kind;
  const [, ip, log] = /^\{ip:(.*)\}:(sends|checks)$/s.exec(rest) ?? [];
  const network = ip?.endsWith('/64') ? ip.slice(0, -3) : undefined;
  if (ip !== undefined && (isIP(ip) !== 0 || (network !== undefined && isIP(network) === 6) || ip === 'unknown')) return `ip ${log}`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// A slow client on a real socket
// ---------------------------------------------------------------------------------------------

export interface RawAnswer extends Answer {
  /** When the first byte of the answer arrived, ms after the request started. */
  readonly firstByteMs: number;
  readonly totalMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Writes `head` and then each of `chunks` to a fresh TCP connection, pausing `pauseMs` before each
 * chunk, stopping early if the server answers or closes; resolves with the parsed answer.
 */
export async function slowRequest(port: number, head: string, chunks: readonly Buffer[], pauseMs: number): Promise<RawAnswer> {
  const started = Date.now();
  const socket = new Socket();
  const received: Buffer[] = [];
  let firstByteMs = -1;
  let closed = false;
  const done = new Promise<void>((resolve, reject) => {
    socket.on('data', (data: Buffer) => {
      if (firstByteMs < 0) firstByteMs = Date.now() - started;
      received.push(data);
    });
    socket.on('close', () => {
      closed = true;
      resolve();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // The server may close while we still write (e.g. after a 413): what it said is what counts.
      if (error.code === 'EPIPE' || error.code === 'ECONNRESET') return;
      reject(error);
    });
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.connect(port, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.write(head);
  for (const chunk of chunks) {
    await sleep(pauseMs);
    if (closed || received.length > 0 || socket.destroyed) break;
    socket.write(chunk);
  }
  const timer = setTimeout(() => socket.destroy(new Error('no answer within 10 s')), 10_000);
  await done.finally(() => clearTimeout(timer));
  return { ...parseHttpResponse(Buffer.concat(received)), firstByteMs, totalMs: Date.now() - started };
}

/** Parses one HTTP/1.1 response (content-length or chunked body). */
export function parseHttpResponse(raw: Buffer): Answer {
  const split = raw.indexOf('\r\n\r\n');
  if (split < 0) throw new Error(`no complete HTTP answer: ${JSON.stringify(raw.toString('latin1').slice(0, 200))}`);
  const [statusLine, ...lines] = raw.subarray(0, split).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1]);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = raw.subarray(split + 4);
  if (headers['transfer-encoding'] === 'chunked') {
    const parts: Buffer[] = [];
    let rest = body;
    for (;;) {
      const eol = rest.indexOf('\r\n');
      const size = Number.parseInt(rest.subarray(0, eol).toString('latin1'), 16);
      if (!(size > 0)) break;
      parts.push(rest.subarray(eol + 2, eol + 2 + size));
      rest = rest.subarray(eol + 2 + size + 2);
    }
    body = Buffer.concat(parts);
  } else if (headers['content-length'] !== undefined) {
    body = body.subarray(0, Number(headers['content-length']));
  }
  return { status, headers, text: body.toString('utf8') };
}

/** `text` as UTF-8 cut into `parts` pieces at byte offsets, so multi-byte characters are split across chunks. */
export function splitBytes(text: string, cuts: readonly number[]): Buffer[] {
  const bytes = Buffer.from(text, 'utf8');
  const offsets = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const offset of [...offsets, bytes.length]) {
    if (offset > from) chunks.push(bytes.subarray(from, offset));
    from = Math.max(from, offset);
  }
  return chunks;
}
