import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { hashCode } from '../src/domain/codes/code.js';
import { MemoryStore } from '../src/stores/memory/memory-store.js';
import { connectRedisStore } from '../src/stores/redis/redis-store.js';
import type { VerificationStore } from '../src/domain/store.js';
import { buildTestApp, startInstance, type TestApp } from './support/app.js';
import { TEST_AUDIT, requireRedisUrl, uniquePrefix, until } from './support/stores.js';
import { showsNumber } from './support/numbers.js';

const PHONE = '+8613800000000';

describe('codes at rest in Redis', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of cleanup.splice(0)) await close();
  });

  async function instance(prefix: string, env: Record<string, string> = {}) {
    const made = await startInstance({ REDIS_URL: requireRedisUrl(), REDIS_PREFIX: prefix, ...env });
    cleanup.push(() => made.app.close());
    return made;
  }

  it('stores only the HMAC of the code under the shared secret', async () => {
    const prefix = uniquePrefix();
    const a = await instance(prefix);
    expect((await a.post('/v1/verifications', { phone: PHONE, channel: 'login' })).status).toBe(201);
    const code = a.sms.lastCode(PHONE);
    const admin = new Redis(requireRedisUrl());
    cleanup.push(async () => admin.disconnect());
    const secret = (await admin.get(`${prefix}secret`)) as string;
    expect(secret.length).toBeGreaterThanOrEqual(32);
    const stored = await admin.hgetall(`${prefix}{${PHONE}}:login:code`);
    expect(stored.h).toBe(hashCode(secret, 'login', PHONE, code));
    expect(Object.values(stored).some((value) => showsNumber(value, code))).toBe(false);
  });

  it('lets a code sent through one instance verify through another (one secret, made once)', async () => {
    const prefix = uniquePrefix();
    const [a, b] = await Promise.all([instance(prefix), instance(prefix)]);
    await a.post('/v1/verifications', { phone: PHONE, channel: 'login' });
    const checked = await b.post('/v1/verifications/check', { phone: PHONE, channel: 'login', code: a.sms.lastCode(PHONE) });
    expect({ status: checked.status, body: checked.body }).toEqual({ status: 200, body: { status: 'approved' } });
    expect((await b.post('/v1/verifications', { phone: PHONE, channel: 'login' })).status).toBe(429);
  });

  it('uses CODE_SECRET when it is set, storing no secret', async () => {
    const prefix = uniquePrefix();
    const a = await instance(prefix, { CODE_SECRET: 'a-configured-secret-0123456789' });
    await a.post('/v1/verifications', { phone: PHONE, channel: 'login' });
    const admin = new Redis(requireRedisUrl());
    cleanup.push(async () => admin.disconnect());
    expect(await admin.exists(`${prefix}secret`)).toBe(0);
    const stored = await admin.hget(`${prefix}{${PHONE}}:login:code`, 'h');
    expect(stored).toBe(hashCode('a-configured-secret-0123456789', 'login', PHONE, a.sms.lastCode(PHONE)));
  });
});

/** A memory store whose commit or release fails on demand, as a store that went away would. */
class FlakyStore extends MemoryStore {
  failCommits = 0;
  failReleases = 0;
  override async commitSend(...args: Parameters<MemoryStore['commitSend']>) {
    if (this.failCommits > 0) {
      this.failCommits -= 1;
      throw new Error('Connection is closed.');
    }
    return super.commitSend(...args);
  }
  override async releaseSend(...args: Parameters<MemoryStore['releaseSend']>) {
    if (this.failReleases > 0) {
      this.failReleases -= 1;
      throw new Error('Connection is closed.');
    }
    return super.releaseSend(...args);
  }
}

describe('store failures around the provider call', () => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });

  it('answers 201 when the SMS went out but the commit failed, and the code verifies once the store is back', async () => {
    const store = new FlakyStore({ audit: TEST_AUDIT });
    store.failCommits = 2;
    t = await buildTestApp('memory', {}, { store });
    expect((await t.post('/v1/verifications', { phone: PHONE, channel: 'login' })).status).toBe(201);
    const code = t.sms.lastCode(PHONE);
    await until(async () => store.failCommits === 0 && (await store.audit.page({ channel: 'login' }, { limit: 10 })).events.length > 0, 5_000);
    expect((await t.post('/v1/verifications/check', { phone: PHONE, channel: 'login', code })).status).toBe(200);
  });

  it('answers 502 (not 503) when the provider failed and the release failed too', async () => {
    const store: VerificationStore = Object.assign(new FlakyStore({ audit: TEST_AUDIT }), { failReleases: 1 });
    t = await buildTestApp('memory', {}, { store });
    t.sms.failNext();
    const res = await t.post('/v1/verifications', { phone: PHONE, channel: 'login' });
    expect(res.status).toBe(502);
    expect(res.body.code).toBe('SMS_SEND_FAILED');
  });
});

describe('Redis store without an audit stream', () => {
  it('decides without writing any audit key', async () => {
    const prefix = uniquePrefix();
    const store = await connectRedisStore(requireRedisUrl(), {
      prefix,
      commandTimeoutMs: 1000,
      auditKey: undefined,
      audit: TEST_AUDIT,
    });
    const subject = { channel: 'login', phone: PHONE };
    const context = { phone: PHONE, channel: 'login' };
    expect((await store.checkCode({ subject, context, codeHash: 'x', maxAttempts: 5, checkId: 'c', failureLimits: [] })).status).toBe('not_found');
    await store.appendAudit(context, { event: 'notice.sent' });
    const admin = new Redis(requireRedisUrl());
    expect(await admin.exists(`${prefix}audit`)).toBe(0);
    admin.disconnect();
    await store.close();
  });
});
