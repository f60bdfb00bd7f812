import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../plugins/app.js';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { buildTestApp, type TestApp } from './support/app.js';

const TOKENS = {
  all: 'all-token-0123456789abcdef',
  verify: 'verify-token-0123456789abcdef',
  notify: 'notify-token-0123456789abcdef',
  audit: 'audit-token-0123456789abcdef',
  login: 'login-audit-token-0123456789ab',
  scraper: 'scraper-token-0123456789abcdef',
} as const;

const PHONE = '+8613800000000';
const FORBIDDEN = { statusCode: 403, code: 'FORBIDDEN', error: 'Forbidden', message: 'Forbidden' };

function keysFile(entries: object[]): string {
  const file = join(tmpdir(), `keys-scopes-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(entries));
  return file;
}

describe('auth declared on each route', () => {
  it('refuses to start when a route declares nothing, naming the route and what to add', async () => {
    const app = await buildApp(loadConfig({ LOG_LEVEL: 'silent' }), { logger: false });
    const start = async () => {
      await app.register(async (plugin) => {
        plugin.get('/v1/forgotten', async () => ({ secret: true }));
      });
      await app.ready();
    };
    await expect(start()).rejects.toThrow(/Route GET \/v1\/forgotten declares no auth: add config: \{ auth: 'open' \| 'ops' \| \{ scope: 'verify' \| 'notify' \| 'audit' \} \}/);
    await app.close().catch(() => {});
  });

  it('refuses a declaration that names no known scope', async () => {
    const app = await buildApp(loadConfig({ LOG_LEVEL: 'silent' }), { logger: false });
    const start = async () => {
      await app.register(async (plugin) => {
        plugin.get('/v1/admin', { config: { auth: { scope: 'admin' } as never } }, async () => ({}));
      });
      await app.ready();
    };
    await expect(start()).rejects.toThrow(/Route GET \/v1\/admin declares an invalid auth/);
    await app.close().catch(() => {});
  });

  it('serves a route that declares its auth, and holds it to that declaration', async () => {
    const app = await buildApp(loadConfig({ LOG_LEVEL: 'silent', API_KEYS: `all:${TOKENS.all}` }), { logger: false });
    await app.register(async (plugin) => {
      plugin.get('/v1/extra', { config: { auth: { scope: 'audit' } } }, async () => ({ ok: true }));
    });
    await app.ready();
    expect((await app.inject({ url: '/v1/extra' })).statusCode).toBe(401);
    // `all` came from API_KEYS: verify and notify, not audit.
    const res = await app.inject({ url: '/v1/extra', headers: { authorization: `Bearer ${TOKENS.all}` } });
    expect({ status: res.statusCode, body: res.json() }).toEqual({ status: 403, body: FORBIDDEN });
    await app.close();
  });
});

describe('the OpenAPI document, from the same declarations', () => {
  it('groups each route and names the scope it needs; open routes need no key', async () => {
    const app = await buildApp(loadConfig({ LOG_LEVEL: 'silent' }), { logger: false });
    const doc = (await app.inject({ url: '/docs/json' })).json();
    await app.close();
    const operation = (path: string, method: string) => doc.paths[path][method] as { tags: string[]; description?: string; security?: unknown };
    const expected: Array<[string, string, string, string]> = [
      ['/v1/verifications', 'post', 'v1', '`verify` scope'],
      ['/v1/verifications/check', 'post', 'v1', '`verify` scope'],
      ['/v1/notifications', 'post', 'v1', '`notify` scope'],
      ['/sms_message/verify_code', 'post', 'legacy', '`verify` scope'],
      ['/sms_message/sendNotice', 'post', 'legacy', '`notify` scope'],
      ['/v1/audit', 'get', 'audit', '`audit` scope'],
      ['/metrics', 'get', 'ops', '`PROTECT_OPS_ROUTES`'],
      ['/healthz', 'get', 'ops', 'Needs no API key'],
    ];
    for (const [path, method, tag, note] of expected) {
      expect(operation(path, method).tags, path).toEqual([tag]);
      expect(operation(path, method).description, path).toContain(note);
    }
    expect(operation('/healthz', 'get').security).toEqual([]);
    expect(operation('/metrics', 'get').security).toBeUndefined();
  });
});

describe('API key scopes', () => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });

  async function call(method: 'GET' | 'POST', url: string, token: string | undefined, payload?: object) {
    const res = await t.app.inject({
      method,
      url,
      ...(payload ? { payload } : {}),
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });
    return { status: res.statusCode, body: res.headers['content-type']?.toString().includes('json') ? res.json() : res.body };
  }

  const send = { phone: PHONE, channel: 'login' };
  const notice = { phone: PHONE, channel: 'login', templateCode: 'SMS_123' };
  const legacyNotice = { phone: PHONE, channel: 'login', template_code: 'SMS_123' };

  async function withScopes(): Promise<void> {
    const file = keysFile([
      { name: 'verifier', token: TOKENS.verify, scopes: ['verify'] },
      { name: 'notifier', token: TOKENS.notify, scopes: ['notify'] },
      { name: 'auditor', token: TOKENS.audit, scopes: ['audit'] },
      { name: 'scraper', token: TOKENS.scraper, scopes: [] },
      { name: 'default', token: TOKENS.all },
    ]);
    t = await buildTestApp('memory', { API_KEYS_FILE: file });
  }

  it('API_KEYS entries may send and check codes and send notices, but not read the audit trail', async () => {
    t = await buildTestApp('memory', { API_KEYS: `all:${TOKENS.all}` });
    expect((await call('POST', '/v1/verifications', TOKENS.all, send)).status).toBe(201);
    const code = t.sms.lastCode(PHONE);
    expect((await call('POST', '/v1/verifications/check', TOKENS.all, { ...send, code })).status).toBe(200);
    expect((await call('POST', '/v1/notifications', TOKENS.all, notice)).status).toBe(201);
    expect((await call('POST', '/sms_message/sendNotice', TOKENS.all, legacyNotice)).body).toMatchObject({ code: 200 });
    expect(await call('GET', '/v1/audit', TOKENS.all)).toEqual({ status: 403, body: FORBIDDEN });
  });

  it('verify: codes on both APIs, nothing else', async () => {
    await withScopes();
    expect((await call('POST', '/v1/verifications', TOKENS.verify, send)).status).toBe(201);
    expect((await call('POST', '/sms_message/getVerificationCode', TOKENS.verify, { phone: '13800000001', channel: 'login' })).body).toMatchObject({
      code: 200,
    });
    const code = t.sms.lastCode('+8613800000001');
    expect((await call('POST', '/sms_message/verify_code', TOKENS.verify, { phone: '13800000001', channel: 'login', code })).body).toMatchObject({
      code: 200,
    });
    expect(await call('POST', '/v1/notifications', TOKENS.verify, notice)).toEqual({ status: 403, body: FORBIDDEN });
    // Legacy routes refuse in the shape authentication already answers them in.
    expect(await call('POST', '/sms_message/sendNotice', TOKENS.verify, legacyNotice)).toEqual({ status: 403, body: FORBIDDEN });
    expect(await call('GET', '/v1/audit', TOKENS.verify)).toEqual({ status: 403, body: FORBIDDEN });
  });

  it('notify: notices on both APIs, nothing else', async () => {
    await withScopes();
    const sent = t.sms.messages.length;
    expect((await call('POST', '/v1/notifications', TOKENS.notify, notice)).status).toBe(201);
    expect((await call('POST', '/sms_message/sendNotice', TOKENS.notify, legacyNotice)).body).toMatchObject({ code: 200 });
    expect(await call('POST', '/v1/verifications', TOKENS.notify, send)).toEqual({ status: 403, body: FORBIDDEN });
    expect(await call('POST', '/v1/verifications/check', TOKENS.notify, { ...send, code: '1234' })).toEqual({ status: 403, body: FORBIDDEN });
    expect(await call('POST', '/sms_message/getVerificationCode', TOKENS.notify, send)).toEqual({ status: 403, body: FORBIDDEN });
    expect(await call('POST', '/sms_message/verify_code', TOKENS.notify, { ...send, code: '1234' })).toEqual({ status: 403, body: FORBIDDEN });
    expect(await call('GET', '/v1/audit', TOKENS.notify)).toEqual({ status: 403, body: FORBIDDEN });
    expect(t.sms.messages.length - sent).toBe(2);
  });

  it('audit: the audit trail only; a key from a file without scopes has verify and notify', async () => {
    await withScopes();
    expect((await call('POST', '/v1/verifications', TOKENS.all, send)).status).toBe(201);
    const page = await call('GET', '/v1/audit', TOKENS.audit);
    expect(page.status).toBe(200);
    expect(page.body.events).toEqual([expect.objectContaining({ event: 'code.sent', channel: 'login', caller: 'default' })]);
    expect(await call('POST', '/v1/verifications', TOKENS.audit, send)).toEqual({ status: 403, body: FORBIDDEN });
    expect(await call('POST', '/v1/notifications', TOKENS.audit, notice)).toEqual({ status: 403, body: FORBIDDEN });
    expect((await call('POST', '/v1/notifications', TOKENS.all, notice)).status).toBe(201);
    expect(await call('GET', '/v1/audit', TOKENS.all)).toEqual({ status: 403, body: FORBIDDEN });
  });

  it('/metrics and /docs follow PROTECT_OPS_ROUTES whatever the scopes: any valid key, even one with none', async () => {
    await withScopes();
    for (const url of ['/metrics', '/docs', '/docs/json', '/docs/static/swagger-ui.css']) {
      expect((await call('GET', url, undefined)).status, url).toBe(401);
      for (const token of [TOKENS.scraper, TOKENS.verify, TOKENS.audit]) expect((await call('GET', url, token)).status, url).toBe(200);
    }
    expect(await call('POST', '/v1/verifications', TOKENS.scraper, send)).toEqual({ status: 403, body: FORBIDDEN });
    expect((await call('GET', '/healthz', undefined)).status).toBe(200);
    // No route matched: a 404 with or without a key, the same.
    expect((await call('GET', '/nowhere', undefined)).body).toMatchObject({ statusCode: 404, code: 'ROUTE_NOT_FOUND' });
    await t.close();
    const file = keysFile([{ name: 'auditor', token: TOKENS.audit, scopes: ['audit'] }]);
    t = await buildTestApp('memory', { API_KEYS_FILE: file, PROTECT_OPS_ROUTES: 'false' });
    for (const url of ['/metrics', '/docs/json']) expect((await call('GET', url, undefined)).status, url).toBe(200);
  });

  it('refuses an unknown scope at start-up, naming the variable, the key and the valid scopes', () => {
    const file = keysFile([{ name: 'ops', token: TOKENS.all, scopes: ['verify', 'admin'] }]);
    let error: unknown;
    try {
      loadConfig({ API_KEYS_FILE: file });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/API_KEYS_FILE.*key "ops" has an unknown scope "admin" \(valid scopes: verify, notify, audit\)/);
    expect((error as Error).message).not.toContain(TOKENS.all);
  });
});

describe('a channel-limited key with the audit scope', () => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });

  async function read(url: string, token: string, payload?: object) {
    const res = await t.app.inject({
      method: 'GET',
      url,
      ...(payload ? { payload } : {}),
      headers: { authorization: `Bearer ${token}` },
    });
    return { status: res.statusCode, body: res.json() };
  }

  it('sees only its channels, on every page, whatever cursor, filter or body it sends', async () => {
    const file = keysFile([
      { name: 'everyone', token: TOKENS.all, scopes: ['verify', 'audit'] },
      { name: 'login-desk', token: TOKENS.login, channels: ['login'], scopes: ['audit'] },
    ]);
    t = await buildTestApp('memory', { API_KEYS_FILE: file, PHONE_SEND_LIMITS: 'off' });
    const post = (channel: string, i: number) =>
      t.app.inject({
        method: 'POST',
        url: '/v1/verifications',
        payload: { phone: `+861380000000${i}`, channel },
        headers: { authorization: `Bearer ${TOKENS.all}` },
      });
    // Interleaved, so every page boundary sits next to another channel's event.
    for (let i = 0; i < 6; i++) {
      expect((await post('login', i)).statusCode).toBe(201);
      expect((await post('reset', i)).statusCode).toBe(201);
    }

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await read(`/v1/audit?channel=login&limit=1${cursor ? `&cursor=${cursor}` : ''}`, TOKENS.login);
      expect(page.status).toBe(200);
      seen.push(...page.body.events.map((event: { channel: string }) => event.channel));
      cursor = page.body.nextCursor;
      pages += 1;
    } while (cursor && pages < 50);
    expect(seen).toEqual(Array(6).fill('login'));

    // A cursor taken from another channel's page (by a key that may read it) reveals nothing more.
    const resetPage = await read('/v1/audit?channel=reset&limit=2', TOKENS.all);
    expect(resetPage.body.events.map((e: { channel: string }) => e.channel)).toEqual(['reset', 'reset']);
    const after = await read(`/v1/audit?channel=login&cursor=${resetPage.body.nextCursor}`, TOKENS.login);
    expect(after.status).toBe(200);
    expect(new Set(after.body.events.map((e: { channel: string }) => e.channel))).toEqual(new Set(['login']));

    // Another channel, no channel, or a body vouching for an allowed channel while the query names another: 403.
    expect((await read('/v1/audit?channel=reset', TOKENS.login)).body).toEqual(FORBIDDEN);
    expect((await read('/v1/audit', TOKENS.login)).body).toEqual(FORBIDDEN);
    expect((await read('/v1/audit?channel=reset', TOKENS.login, { channel: 'login' })).body).toEqual(FORBIDDEN);
  });
});
