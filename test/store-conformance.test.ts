import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditContext } from '../src/domain/audit/audit.js';
import { generateSendId } from '../src/domain/codes/code.js';
import { parseSendLimits } from '../src/config/send-limits.js';
import type { SendWindow } from '../src/domain/limits/send-window.js';
import type { CheckStatus, SendLimits, Subject } from '../src/domain/store.js';
import { planSend } from '../src/domain/verification/rules.js';
import { STORE_KINDS, createHarness, keysWithPrefix, requireRedisUrl, until, type StoreHarness } from './support/stores.js';

function windows(text: string): SendWindow[] {
  const parsed = parseSendLimits(text);
  if (typeof parsed === 'string') throw new Error(parsed);
  return parsed;
}

/** Only the per-(channel, phone) windows; the other limits are tested on their own below. */
const only = (channel: SendWindow[]): SendLimits => ({ channel, phone: [], ip: undefined, global: [] });
const ctx = (s: Subject): AuditContext => ({ phone: s.phone, channel: s.channel, ip: '127.0.0.1' });
const FAILED = { reason: 'isp.SYSTEM_ERROR', provider: 'test' };
const SENT = { provider: 'test' };

let subjectCounter = 0;
function newSubject(): Subject {
  subjectCounter += 1;
  return { channel: 'login', phone: `+86138${String(subjectCounter).padStart(8, '0')}` };
}

describe.each(STORE_KINDS)('store conformance: %s', (kind) => {
  let h: StoreHarness;
  beforeEach(async () => {
    h = await createHarness(kind);
  });
  afterEach(async () => {
    await h.close();
  });

  const TTL = 5_000;
  const LOOSE = windows('100/10s');

  type SendOptions = { limits?: SendWindow[]; ttl?: number };

  /** Reserves a send; the SMS is "in flight" until commit or release. */
  async function reserve(subject: Subject, hash: string, opts: SendOptions = {}) {
    const sendId = generateSendId();
    const plan = planSend({
      subject,
      context: ctx(subject),
      sendId,
      codeHash: hash,
      codeTtlMs: opts.ttl ?? TTL,
      limits: only(opts.limits ?? LOOSE),
    });
    const result = await h.store.reserveSend(plan);
    return {
      sendId,
      result,
      commit: () => h.store.commitSend(plan, SENT),
      release: () => h.store.releaseSend(plan, FAILED),
    };
  }

  /** A send whose SMS went out: reserve, then commit. */
  async function send(subject: Subject, hash: string, opts: SendOptions = {}) {
    const reserved = await reserve(subject, hash, opts);
    if (reserved.result.ok) await reserved.commit();
    return reserved;
  }

  const check = async (subject: Subject, hash: string, maxAttempts = 5) =>
    h.store.checkCode({ subject, context: ctx(subject), codeHash: hash, maxAttempts, checkId: generateSendId(), failureLimits: [] });

  it('approves the right code once, then answers used', async () => {
    const s = newSubject();
    const { result } = await send(s, 'H1');
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.expiresAt - result.sentAt).toBe(TTL);
    expect((await check(s, 'H1')).status).toBe('approved');
    expect((await check(s, 'H1')).status).toBe('used');
    expect((await check(s, 'WRONG')).status).toBe('used');
  });

  it('answers not_found when no code was sent, per channel and phone', async () => {
    const s = newSubject();
    await send(s, 'H1');
    expect((await check({ ...s, channel: 'other' }, 'H1')).status).toBe('not_found');
    expect((await check(newSubject(), 'H1')).status).toBe('not_found');
  });

  it('keeps only the latest code valid', async () => {
    const s = newSubject();
    await send(s, 'OLD');
    await send(s, 'NEW');
    expect((await check(s, 'OLD')).status).toBe('mismatch');
    expect((await check(s, 'NEW')).status).toBe('approved');
  });

  it('answers expired after the TTL until the longest window has passed, then not_found', async () => {
    const s = newSubject();
    await send(s, 'H1', { ttl: 150, limits: windows('5/600ms') });
    await h.advance(150);
    expect((await check(s, 'H1')).status).toBe('expired');
    await h.advance(460);
    expect((await check(s, 'H1')).status).toBe('not_found');
  });

  it('of many concurrent checks with the right code approves exactly one', async () => {
    const s = newSubject();
    await send(s, 'H1');
    const results = await Promise.all(Array.from({ length: 50 }, () => check(s, 'H1')));
    expect(count(results, 'approved')).toBe(1);
    expect(count(results, 'used')).toBe(49);
  });

  it('kills a code after max wrong attempts, even for the right code, until a new send', async () => {
    const s = newSubject();
    await send(s, 'H1');
    expect(await check(s, 'X', 3)).toEqual({ status: 'mismatch', attemptsRemaining: 2, retryAfterMs: 0 });
    expect(await check(s, 'X', 3)).toEqual({ status: 'mismatch', attemptsRemaining: 1, retryAfterMs: 0 });
    expect(await check(s, 'X', 3)).toEqual({ status: 'mismatch', attemptsRemaining: 0, retryAfterMs: 0 });
    expect((await check(s, 'H1', 3)).status).toBe('too_many_attempts');
    await send(s, 'H2');
    expect((await check(s, 'H2', 3)).status).toBe('approved');
  });

  it('counts concurrent wrong guesses exactly', async () => {
    const s = newSubject();
    await send(s, 'H1');
    const results = await Promise.all(Array.from({ length: 40 }, () => check(s, 'X', 5)));
    expect(count(results, 'mismatch')).toBe(5);
    expect(count(results, 'too_many_attempts')).toBe(35);
    expect(results.filter((r) => r.status === 'mismatch').map((r) => r.attemptsRemaining).sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it('enforces every sliding window exactly and reports the first refusing one', async () => {
    const s = newSubject();
    const limits = windows('1/50ms,5/1500ms,10/6s');
    const reserve = async () => (await send(s, 'H', { limits })).result;
    for (let i = 1; i <= 5; i++) {
      expect((await reserve()).ok, `send ${i}`).toBe(true);
      // Right after a send the resend window refuses first (after the 5th, the 5/1500ms one refuses too).
      expect(await reserve()).toMatchObject({ ok: false, window: 0 });
      await h.advance(50);
    }
    expect(await reserve()).toMatchObject({ ok: false, window: 1 });
    await h.advance(1500);
    for (let i = 6; i <= 10; i++) {
      expect((await reserve()).ok, `send ${i}`).toBe(true);
      await h.advance(50);
    }
    expect(await reserve()).toMatchObject({ ok: false, window: 1 });
    await h.advance(1500);
    const refusedByDay = await reserve();
    expect(refusedByDay).toMatchObject({ ok: false, window: 2 });
  });

  it('computes retry-after as the wait until every refusing window frees a slot', async () => {
    const s = newSubject();
    const limits = windows('1/300ms,2/2s');
    expect((await send(s, 'H', { limits })).result.ok).toBe(true);
    await h.advance(300);
    expect((await send(s, 'H', { limits })).result.ok).toBe(true);
    const refused = (await send(s, 'H', { limits })).result;
    expect(refused.ok).toBe(false);
    if (refused.ok) throw new Error('unreachable');
    expect(refused.window).toBe(0);
    // The 2/2s window frees when the first send (≥300 ms ago) leaves it: about 1.7 s from now.
    expect(refused.retryAfterMs).toBeGreaterThan(1_000);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(1_700);
  });

  it('does not count refused sends', async () => {
    const s = newSubject();
    const limits = windows('1/200ms,3/10s');
    expect((await send(s, 'H', { limits })).result.ok).toBe(true);
    for (let i = 0; i < 5; i++) expect((await send(s, 'H', { limits })).result.ok).toBe(false);
    await h.advance(200);
    expect((await send(s, 'H', { limits })).result.ok).toBe(true);
    await h.advance(200);
    expect((await send(s, 'H', { limits })).result.ok).toBe(true);
    await h.advance(200);
    expect((await send(s, 'H', { limits })).result).toMatchObject({ ok: false, window: 1 });
  });

  it('of many concurrent sends under 1/60s accepts exactly one', async () => {
    const s = newSubject();
    const limits = windows('1/60s,5/1h,10/1d');
    const results = await Promise.all(Array.from({ length: 50 }, () => send(s, 'H', { limits })));
    expect(results.filter((r) => r.result.ok)).toHaveLength(1);
  });

  it('keeps the current code valid while a new SMS is in flight', async () => {
    const s = newSubject();
    await send(s, 'OLD');
    const inFlight = await reserve(s, 'NEW');
    expect((await check(s, 'NEW')).status).toBe('mismatch');
    expect((await check(s, 'OLD')).status).toBe('approved');
    expect(await inFlight.commit()).toBe('promoted');
    expect((await check(s, 'NEW')).status).toBe('approved');
  });

  it('release undoes a send: it stops counting and the current code stays valid', async () => {
    const s = newSubject();
    const limits = windows('2/10s');
    await send(s, 'OLD', { limits });
    await check(s, 'X');
    const failed = await reserve(s, 'NEW', { limits });
    await failed.release();
    expect((await check(s, 'NEW')).status).toBe('mismatch');
    expect(await check(s, 'OLD')).toEqual({ status: 'approved', attemptsRemaining: 3, retryAfterMs: 0 });
    // The released send did not count: one more fits in 2/10s.
    expect((await send(s, 'NEXT', { limits })).result.ok).toBe(true);
  });

  it('release of the only send leaves no valid code and no state', async () => {
    const s = newSubject();
    const failed = await reserve(s, 'NEW');
    await failed.release();
    expect((await check(s, 'NEW')).status).toBe('not_found');
  });

  it('keeps the delivered code when overlapping later sends both fail', async () => {
    const s = newSubject();
    await send(s, 'A');
    const b = await reserve(s, 'B');
    const c = await reserve(s, 'C');
    await c.release();
    await b.release();
    expect((await check(s, 'B')).status).toBe('mismatch');
    expect((await check(s, 'A')).status).toBe('approved');
  });

  it('lets the newest committed send win when overlapping sends commit out of order', async () => {
    const s = newSubject();
    const b = await reserve(s, 'B');
    await h.advance(5);
    const c = await reserve(s, 'C');
    expect(await c.commit()).toBe('promoted');
    expect(await b.commit()).toBe('superseded');
    expect((await check(s, 'B')).status).toBe('mismatch');
    expect((await check(s, 'C')).status).toBe('approved');
  });

  it('commits once however often the commit is retried, and reports a pending code that was lost', async () => {
    const s = newSubject();
    const sent = await reserve(s, 'H1');
    expect(await sent.commit()).toBe('promoted');
    expect(await sent.commit()).toBe('repeated');
    const events = async () => {
      const all: Array<Record<string, string>> = [];
      for await (const entry of h.store.audit.scan({ phone: s.phone })) all.push({ ...entry.fields });
      return all.filter((f) => f.event === 'code.sent');
    };
    expect(await events()).toHaveLength(1);
    expect((await check(s, 'H1')).status).toBe('approved');
    const lost = await reserve(s, 'H2');
    await lost.release();
    expect(await lost.commit()).toBe('lost');
    expect((await events()).map((f) => f.reason)).toEqual([undefined, 'unconfirmed']);
  });

  it('answers expired for a code past its TTL whether it was used or locked', async () => {
    const s = newSubject();
    await send(s, 'H1', { ttl: 100 });
    expect((await check(s, 'H1')).status).toBe('approved');
    const t = newSubject();
    await send(t, 'H2', { ttl: 100 });
    await check(t, 'X', 1);
    expect((await check(t, 'H2', 1)).status).toBe('too_many_attempts');
    await h.advance(100);
    expect((await check(s, 'H1')).status).toBe('expired');
    expect((await check(t, 'H2', 1)).status).toBe('expired');
  });

  it('keeps nothing of a phone once its longest window has passed', async () => {
    const s = newSubject();
    await send(s, 'H', { ttl: 100, limits: windows('1/100ms,3/400ms') });
    await check(s, 'X');
    expect(await h.stateCount()).toBeGreaterThan(0);
    await h.advance(410);
    expect(await h.stateCount()).toBe(0);
  });

  it('shares one secret: the first stored wins', async () => {
    const first = await h.store.sharedSecret('secret-one');
    expect(await h.store.sharedSecret('secret-two')).toBe(first);
  });
});

describe('redis store key layout', () => {
  let h: StoreHarness;
  let admin: Redis;
  beforeEach(async () => {
    h = await createHarness('redis');
    admin = new Redis(requireRedisUrl());
  });
  afterEach(async () => {
    await h.close();
    admin.disconnect();
  });

  it('puts every key of a phone under one hash tag and the prefix, each with a TTL', async () => {
    const s = { channel: 'login', phone: '+8613812345678' };
    const finish = { subject: s, context: ctx(s), sendId: 'id1', codeTtlMs: 300_000, limits: only(windows('1/60s,10/1d')) };
    await h.store.reserveSend(planSend({ ...finish, codeHash: 'H' }));
    await h.store.commitSend(planSend({ ...finish, codeHash: 'H' }), {});
    await h.store.checkCode({ subject: s, context: ctx(s), codeHash: 'X', maxAttempts: 5, checkId: 'c1', failureLimits: [] });
    const keys = (await keysWithPrefix(admin, h.prefix)).sort();
    const phoneKeys = [
      `${h.prefix}{+8613812345678}:login:code`,
      `${h.prefix}{+8613812345678}:login:sends`,
      // Issue 12: the verification records (kept VERIFICATION_RETENTION), in the phone's slot too.
      `${h.prefix}{+8613812345678}:login:ver`,
    ];
    // Issue 12: where the verification id leads (its own slot on Cluster), with a TTL as well.
    const index = `${h.prefix}out:id1`;
    expect(keys).toEqual([`${h.prefix}audit`, index, ...phoneKeys].sort());
    for (const key of [...phoneKeys, index]) {
      const ttl = await admin.pttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(86_400_000);
    }
    expect(await admin.type(`${h.prefix}audit`)).toBe('stream');
    // The code itself is nowhere: only its HMAC.
    const fields = await admin.hgetall(`${h.prefix}{+8613812345678}:login:code`);
    expect(fields.h).toBe('H');
  });

  it('decides each send and each check in one EVALSHA round trip (plus one to commit a sent SMS)', async () => {
    const s = { channel: 'login', phone: '+8613812340000' };
    const limits = windows('1/60s,5/1h,10/1d');
    // Warm up: the first call of a script on a connection may be EVAL (ioredis loads it once).
    const warm = { subject: s, context: ctx(s), sendId: 'warm', codeTtlMs: 1000, limits: only(limits) };
    await h.store.reserveSend(planSend({ ...warm, codeHash: 'H' }));
    await h.store.commitSend(planSend({ ...warm, codeHash: 'H' }), {});
    await h.store.checkCode({ subject: s, context: ctx(s), codeHash: 'X', maxAttempts: 5, checkId: 'c1', failureLimits: [] });

    const monitor = await admin.monitor();
    const seen: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args.some((a) => a.includes(h.prefix))) seen.push(args);
    });
    const s2 = { channel: 'login', phone: '+8613812340001' };
    const finish = { subject: s2, context: ctx(s2), sendId: 'one', codeTtlMs: 1000, limits: only(limits) };
    await h.store.reserveSend(planSend({ ...finish, codeHash: 'H' }));
    await h.store.commitSend(planSend({ ...finish, codeHash: 'H' }), {});
    await h.store.checkCode({ subject: s2, context: ctx(s2), codeHash: 'H', maxAttempts: 5, checkId: 'c2', failureLimits: [] });
    // MONITOR also lists the commands a script runs inside Redis; only the script calls are round trips.
    const calls = () => seen.filter((args) => ['evalsha', 'eval'].includes(args[0]?.toLowerCase() ?? ''));
    await until(() => calls().length >= 3);
    monitor.disconnect();
    expect(calls().map((args) => args[0]?.toLowerCase())).toEqual(['evalsha', 'evalsha', 'evalsha']);
  });

  it('keeps the shared secret as the one key without a TTL', async () => {
    await h.store.sharedSecret('s3cret-value-123');
    expect(await admin.pttl(`${h.prefix}secret`)).toBe(-1);
  });
});

function count(results: Array<{ status: CheckStatus }>, status: CheckStatus): number {
  return results.filter((r) => r.status === status).length;
}
