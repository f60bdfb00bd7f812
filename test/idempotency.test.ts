import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { startInstance, type AppInstance } from './support/app.js';
import { GatedSmsProvider, idemApp, sender, switchableStore, topologyEnv, type IdemApp } from './support/idempotency.js';
import { buildApp } from '../plugins/app.js';
import { loadConfig } from '../src/config/config.js';
import { RecordingSmsProvider } from './support/recording-sms.js';
import { spawnRedisServer, type SpawnedRedis } from './support/redis-server.js';
import { STORE_KINDS, keysWithPrefix, memoryHarness, requireRedisUrl, uniquePrefix, until } from './support/stores.js';

const PHONE = '+8613800000000';
const SEND = { phone: PHONE, channel: 'login' };
const NOTICE = { phone: PHONE, channel: 'orders', templateCode: 'SMS_1', templateParam: { order: '42' } };

describe.each(STORE_KINDS)('Idempotency-Key on %s', (kind) => {
  const open: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((o) => o.close()));
  });
  async function app(env: Record<string, string> = {}, options: Parameters<typeof idemApp>[2] = {}): Promise<IdemApp> {
    const made = await idemApp(kind, env, options);
    open.push(made);
    return made;
  }
  async function events(t: IdemApp, event: string): Promise<number> {
    const page = (await t.app.inject({ url: `/v1/audit?phone=${encodeURIComponent(PHONE)}&limit=200` })).json();
    return page.events.filter((e: { event: string }) => e.event === event).length;
  }

  it('replays the first answer to a repeat: no second SMS, no second count, no second audit event', async () => {
    const t = await app({ SEND_LIMITS: '2/1h', PHONE_SEND_LIMITS: 'off', EXPOSE_CODE: 'true' });
    const key = randomUUID();
    const first = await t.send('/v1/verifications', SEND, key);
    expect(first.status).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    for (let i = 0; i < 3; i++) {
      const again = await t.send('/v1/verifications', SEND, key);
      expect(again.status).toBe(201);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.headers['content-type']).toBe(first.headers['content-type']);
      expect(again.raw).toBe(first.raw);
    }
    expect(t.sms.messages).toHaveLength(1);
    expect(await events(t, 'code.sent')).toBe(1);
    // The replays took no slot of the 2/1h window: one more send passes, the one after is refused.
    expect((await t.send('/v1/verifications', SEND)).status).toBe(201);
    expect((await t.send('/v1/verifications', SEND)).status).toBe(429);
  });

  it('replays notices too, and takes the same body spelled differently as the same request', async () => {
    const t = await app();
    const key = randomUUID();
    expect((await t.send('/v1/notifications', NOTICE, key)).status).toBe(201);
    const reordered = `{ "templateParam": {"order":"42"}, "templateCode": "SMS_1", "channel": "orders", "phone": "${PHONE}" }`;
    const again = await t.send('/v1/notifications', reordered, key);
    expect(again.status).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(t.sms.messages).toHaveLength(1);
    expect(await events(t, 'notice.sent')).toBe(1);
  });

  it('answers 422 IDEMPOTENCY_KEY_REUSED to the same key with another body, sending nothing', async () => {
    const t = await app();
    const key = randomUUID();
    expect((await t.send('/v1/verifications', SEND, key)).status).toBe(201);
    const other = await t.send('/v1/verifications', { ...SEND, channel: 'signup' }, key);
    expect(other.status).toBe(422);
    expect(other.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(other.headers['idempotent-replayed']).toBeUndefined();
    expect(t.sms.messages).toHaveLength(1);
  });

  it('answers 409 IDEMPOTENCY_KEY_IN_USE with Retry-After 1 while the first is in flight, then replays it', async () => {
    const sms = new GatedSmsProvider();
    const t = await app({}, { sms });
    const key = randomUUID();
    const first = t.send('/v1/verifications', SEND, key);
    await sms.arrived();
    const during = await t.send('/v1/verifications', SEND, key);
    expect(during.status).toBe(409);
    expect(during.body.code).toBe('IDEMPOTENCY_KEY_IN_USE');
    expect(during.headers['retry-after']).toBe('1');
    sms.release();
    expect((await first).status).toBe(201);
    const after = await t.send('/v1/verifications', SEND, key);
    expect([after.status, after.headers['idempotent-replayed']]).toEqual([201, 'true']);
    expect(sms.messages).toHaveLength(1);
  });

  it('answers 400 INVALID_IDEMPOTENCY_KEY to an empty, too long or non-ASCII key, before anything runs', async () => {
    const t = await app({ SEND_LIMITS: '100/1h', PHONE_SEND_LIMITS: 'off' });
    for (const key of ['', '""', 'x'.repeat(256), `"${'x'.repeat(256)}"`, 'cl\u00e9', '"a"b"', '"a\\b"']) {
      const res = await t.send('/v1/verifications', SEND, key);
      expect([key, res.status, res.body.code]).toEqual([key, 400, 'INVALID_IDEMPOTENCY_KEY']);
    }
    expect(t.sms.messages).toHaveLength(0);
    // 255 printable characters is the longest key; a quoted key is the same as the bare one.
    const longest = `${'x'.repeat(254)} `;
    expect((await t.send('/v1/verifications', SEND, longest)).status).toBe(201);
    expect((await t.send('/v1/verifications', SEND, 'a "quoted" key')).status).toBe(201);
    const quoted = await t.send('/v1/verifications', SEND, '"a \\"quoted\\" key"');
    expect(quoted.headers['idempotent-replayed']).toBe('true');
    expect(t.sms.messages).toHaveLength(2);
  });

  it('keeps a 429 refusal and replays it with its Retry-After', async () => {
    const t = await app();
    expect((await t.send('/v1/verifications', SEND)).status).toBe(201);
    const key = randomUUID();
    const refused = await t.send('/v1/verifications', SEND, key);
    expect(refused.status).toBe(429);
    const again = await t.send('/v1/verifications', SEND, key);
    expect(again.status).toBe(429);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.headers['retry-after']).toBe(refused.headers['retry-after']);
    expect(again.raw).toBe(refused.raw);
    expect(await events(t, 'code.rate_limited')).toBe(1);
  });

  it('keeps a provider failure (502) but not 503 STORE_UNAVAILABLE: a retry after an outage runs', async () => {
    let store!: ReturnType<typeof switchableStore>;
    const t = await app({}, { wrap: (inner) => (store = switchableStore(inner)) });
    t.sms.failNext('failed');
    const failedKey = randomUUID();
    expect((await t.send('/v1/verifications', SEND, failedKey)).status).toBe(502);
    const failedAgain = await t.send('/v1/verifications', SEND, failedKey);
    expect([failedAgain.status, failedAgain.headers['idempotent-replayed']]).toEqual([502, 'true']);
    expect(t.sms.messages).toHaveLength(1);

    const key = randomUUID();
    store.down = true;
    const down = await t.send('/v1/verifications', SEND, key);
    expect([down.status, down.body.code]).toEqual([503, 'STORE_UNAVAILABLE']);
    store.down = false;
    const retry = await t.send('/v1/verifications', SEND, key);
    expect(retry.status).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBeUndefined();
    expect(t.sms.messages).toHaveLength(2);
  });

  it('scopes keys by API key name and by route', async () => {
    const shop = 'shop-token-0123456789';
    const bank = 'bank-token-0123456789';
    const t = await app({ API_KEYS: `shop:${shop},bank:${bank}`, SEND_LIMITS: '10/1h', PHONE_SEND_LIMITS: 'off' });
    const key = randomUUID();
    const as = (token: string) => ({ authorization: `Bearer ${token}` });
    expect((await t.send('/v1/verifications', SEND, key, as(shop))).status).toBe(201);
    const otherCaller = await t.send('/v1/verifications', SEND, key, as(bank));
    expect([otherCaller.status, otherCaller.headers['idempotent-replayed']]).toEqual([201, undefined]);
    const otherRoute = await t.send('/v1/notifications', NOTICE, key, as(shop));
    expect([otherRoute.status, otherRoute.headers['idempotent-replayed']]).toEqual([201, undefined]);
    const sameCaller = await t.send('/v1/verifications', SEND, key, as(shop));
    expect(sameCaller.headers['idempotent-replayed']).toBe('true');
    expect(t.sms.messages).toHaveLength(3);
  });

  it('lets one of 20 concurrent requests with one key send; the others replay it or answer 409', async () => {
    const t = await app();
    const key = randomUUID();
    const answers = await Promise.all(Array.from({ length: 20 }, () => t.send('/v1/verifications', SEND, key)));
    expect(t.sms.messages).toHaveLength(1);
    expect(answers.filter((a) => a.status === 201 && !a.headers['idempotent-replayed'])).toHaveLength(1);
    for (const a of answers) expect(a.status === 201 || (a.status === 409 && a.headers['retry-after'] === '1')).toBe(true);
  });
});

describe.each(['redis', 'cluster'] as const)('Idempotency-Key across instances on %s', (kind) => {
  const open: AppInstance[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((i) => i.app.close()));
  });

  it('sends one SMS for 20 concurrent requests with one key across two instances', async () => {
    const prefix = uniquePrefix();
    const instances: AppInstance[] = await Promise.all([startInstance(topologyEnv(kind, prefix)), startInstance(topologyEnv(kind, prefix))]);
    open.push(...instances);
    const [a, b] = instances.map((i) => sender(i.app)) as [IdemApp['send'], IdemApp['send']];
    const key = randomUUID();
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b)('/v1/verifications', SEND, key)));
    expect(instances.reduce((sent, i) => sent + i.sms.messages.length, 0)).toBe(1);
    expect(answers.filter((r) => r.status === 201 && !r.headers['idempotent-replayed'])).toHaveLength(1);
    for (const r of answers) expect(r.status === 201 || r.status === 409).toBe(true);
    // Once the first has answered, every repeat through either instance is its replay.
    for (const via of [a, b]) expect((await via('/v1/verifications', SEND, key)).headers['idempotent-replayed']).toBe('true');
  });
});

describe('Idempotency-Key records on Redis', () => {
  const open: AppInstance[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((i) => i.app.close()));
  });

  it('lives under <REDIS_PREFIX>idem: for IDEMPOTENCY_TTL, and is documented on the routes that honour it', async () => {
    const prefix = uniquePrefix();
    const instance = await startInstance({ ...topologyEnv('redis', prefix), IDEMPOTENCY_TTL: '2h' });
    open.push(instance);
    expect((await sender(instance.app)('/v1/verifications', SEND, randomUUID())).status).toBe(201);
    const admin = new Redis(requireRedisUrl());
    try {
      const keys = await keysWithPrefix(admin, `${prefix}idem:`);
      expect(keys).toHaveLength(1);
      const ttl = await admin.pttl(keys[0] as string);
      expect(ttl).toBeGreaterThan(7_000_000);
      expect(ttl).toBeLessThanOrEqual(7_200_000);
    } finally {
      admin.disconnect();
    }
    const doc = (await instance.app.inject({ url: '/docs/json' })).json();
    const headerOf = (path: string) =>
      (doc.paths[path].post.parameters ?? []).filter((p: { in: string; name: string }) => p.in === 'header' && p.name === 'idempotency-key');
    expect(headerOf('/v1/verifications')).toHaveLength(1);
    expect(headerOf('/v1/notifications')).toHaveLength(1);
    // Issue 12 §2: checks honour the key too (recorded with the decision in the check script, not under idem:).
    expect(headerOf('/v1/verifications/check')).toHaveLength(1);
  });
});

describe('Idempotency-Key while the Redis holding the keys is down', () => {
  let redis: SpawnedRedis | undefined;
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    await redis?.stop();
  });

  it('answers 503 STORE_UNAVAILABLE and sends nothing (never runs unguarded); the key runs once Redis is back', async () => {
    redis = await spawnRedisServer();
    const port = redis.port;
    const config = loadConfig({ LOG_LEVEL: 'silent', REDIS_URL: `redis://127.0.0.1:${port}`, STORE_TIMEOUT_MS: '300', SEND_LIMITS: '10/1h' });
    const sms = new RecordingSmsProvider();
    // The codes on a store that stays up: only the idempotency records are on the Redis that goes away.
    const app = await buildApp(config, { logger: false, sms, store: memoryHarness().store });
    close = () => app.close();
    const send = sender(app);
    const key = randomUUID();
    await redis.stop();
    const down = await send('/v1/verifications', SEND, key);
    expect([down.status, down.body.code]).toEqual([503, 'STORE_UNAVAILABLE']);
    expect(sms.messages).toHaveLength(0);
    expect((await send('/v1/verifications', SEND)).status).toBe(201);
    redis = await spawnRedisServer([], port);
    let back = down;
    await until(async () => (back = await send('/v1/verifications', SEND, key)).status !== 503, 15_000, 100);
    expect([back.status, back.headers['idempotent-replayed']]).toEqual([201, undefined]);
    expect(sms.messages).toHaveLength(2);
  });
});
