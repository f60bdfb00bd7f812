import { createHmac } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSendLimits } from '../src/config/send-limits.js';
import { generateSendId, generateVerificationId, hashCode } from '../src/domain/codes/code.js';
import type { SendWindow } from '../src/domain/limits/send-window.js';
import type { CheckCodeInput, Subject } from '../src/domain/store.js';
import { planSend } from '../src/domain/verification/rules.js';
import { subjectKeys } from '../src/stores/keys.js';
import { keysWithPrefix, redisHarness, requireRedisUrl, type StoreHarness } from './support/stores.js';

/**
 * What a phone costs Redis, and that records written by the previous version still work: every key
 * of a phone stays listpack-encoded (no field name or value over hash-max-listpack-value, 64 bytes);
 * a code stored with its whole HMAC still verifies; a verification record stored as JSON still reads
 * and changes.
 */

function windows(text: string): SendWindow[] {
  const parsed = parseSendLimits(text);
  if (typeof parsed === 'string') throw new Error(parsed);
  return parsed;
}

const SECRET = 'footprint-test-secret-0123456789';
const MAX_ATTEMPTS = 5;
const FAILURE_LIMITS = windows('20/1d');
let counter = 0;

/** The digest as the previous version stored it: the HMAC whole (43 base64url characters). */
function wholeDigest(subject: Subject, code: string): string {
  return createHmac('sha256', SECRET).update(`${subject.channel}\n${subject.phone}\n${code}`).digest('base64url');
}

describe('a phone on Redis', () => {
  let h: StoreHarness;
  let admin: Redis;
  beforeAll(async () => {
    h = await redisHarness();
    admin = new Redis(requireRedisUrl());
  });
  afterAll(async () => {
    admin.disconnect();
    await h.close();
  });

  function newSubject(): Subject {
    counter += 1;
    return { channel: 'login', phone: `+86137${String(counter).padStart(8, '0')}` };
  }

  function send(subject: Subject, code: string) {
    const plan = planSend({
      subject,
      context: subject,
      sendId: generateVerificationId(),
      codeHash: hashCode(SECRET, subject.channel, subject.phone, code),
      codeTtlMs: 300_000,
      maxAttempts: MAX_ATTEMPTS,
      limits: { channel: windows('1/60s,5/1h,10/1d'), phone: windows('20/1d'), ip: undefined, global: [] },
    });
    return {
      plan,
      reserve: async () => expect((await h.store.reserveSend(plan)).ok).toBe(true),
      commit: async () => expect(await h.store.commitSend(plan, { provider: 'test', outId: plan.sendId })).toBe('promoted'),
    };
  }

  const check = (subject: Subject, code: string, extra: Partial<CheckCodeInput> = {}) =>
    h.store.checkCode({
      subject,
      context: subject,
      codeHash: hashCode(SECRET, subject.channel, subject.phone, code),
      maxAttempts: MAX_ATTEMPTS,
      checkId: generateSendId(),
      failureLimits: FAILURE_LIMITS,
      ...extra,
    });

  /** Every key of the phone with its encoding (OBJECT ENCODING). */
  async function encodings(subject: Subject): Promise<Record<string, string>> {
    const keys = await keysWithPrefix(admin, `${h.prefix}{${subject.phone}}`);
    const found: Record<string, string> = {};
    for (const key of keys) found[key.slice(h.prefix.length)] = String(await admin.object('ENCODING', key));
    return found;
  }

  it('keeps every key of a phone listpack-encoded: in flight, sent, after a wrong check and a delivery report', async () => {
    const subject = newSubject();
    const a = send(subject, '1234');
    await a.reserve();
    const inFlight = await encodings(subject);
    expect(Object.keys(inFlight).sort()).toEqual([`{${subject.phone}}:login:code`, `{${subject.phone}}:login:sends`, `{${subject.phone}}:login:ver`, `{${subject.phone}}:sends`]);
    expect(new Set(Object.values(inFlight))).toEqual(new Set(['listpack']));
    await a.commit();
    expect((await check(subject, '1235')).status).toBe('mismatch');
    const afterCheck = await encodings(subject);
    expect(Object.keys(afterCheck)).toContain(`{${subject.phone}}:failures`);
    expect(new Set(Object.values(afterCheck))).toEqual(new Set(['listpack']));
    expect((await h.store.recordReceipt({ outId: a.plan.sendId, delivered: true, errorCode: 'DELIVERED', reportedAt: Date.now() })).outcome).toBe('recorded');
    expect(new Set(Object.values(await encodings(subject)))).toEqual(new Set(['listpack']));
    expect((await check(subject, '1234')).status).toBe('approved');
  });

  it('verifies a code whose digest was stored whole, current or still in flight', async () => {
    const keys = (subject: Subject) => subjectKeys(h.prefix, subject);
    // Current: the code hash's `h` as the previous version wrote it.
    const current = newSubject();
    const a = send(current, '4321');
    await a.reserve();
    await a.commit();
    await admin.hset(keys(current).code, 'h', wholeDigest(current, '4321'));
    expect((await check(current, '4320')).status).toBe('mismatch');
    expect((await check(current, '4321')).status).toBe('approved');

    // In flight: the pending `p:<id>` as the previous version wrote it, promoted by the commit.
    const pending = newSubject();
    const b = send(pending, '5678');
    await b.reserve();
    const field = `p:${b.plan.sendId}`;
    const stored = (await admin.hget(keys(pending).code, field)) as string;
    await admin.hset(keys(pending).code, field, stored.replace(/^\S+/, wholeDigest(pending, '5678')));
    await b.commit();
    expect(await admin.hget(keys(pending).code, 'h')).toBe(wholeDigest(pending, '5678'));
    expect((await check(pending, '5678')).status).toBe('approved');
  });

  it('replays an idempotent check whose decision was stored with the whole digest', async () => {
    const subject = newSubject();
    const a = send(subject, '2468');
    await a.reserve();
    await a.commit();
    const idempotencyKey = 'footprint-key';
    expect(await check(subject, '2468', { idempotencyKey })).toMatchObject({ status: 'approved' });
    const checksKey = subjectKeys(h.prefix, subject).checks;
    const decision = (await admin.hget(checksKey, idempotencyKey)) as string;
    await admin.hset(checksKey, idempotencyKey, decision.replace(/\S+$/, wholeDigest(subject, '2468')));
    expect(await check(subject, '2468', { idempotencyKey })).toEqual({ status: 'approved', attemptsRemaining: MAX_ATTEMPTS, retryAfterMs: 0, replayed: true });
  });

  it('reads and changes a verification record stored as JSON, and writes it back as one short line', async () => {
    const subject = newSubject();
    const a = send(subject, '1357');
    await a.reserve();
    await a.commit();
    const verKey = subjectKeys(h.prefix, subject).verifications;
    const id = a.plan.sendId;
    const line = (await admin.hget(verKey, id)) as string;
    expect(line.length).toBeLessThanOrEqual(64);
    expect(line).toMatch(/^\d+ 300000 5 0 su0$/);
    const view = await h.store.getVerification(id);
    expect(view).toMatchObject({ id, status: 'pending', attempts: 0, delivery: { status: 'unknown' } });

    // The record as the previous version stored it (cjson), one wrong guess and a report already in.
    const createdAt = (view as NonNullable<typeof view>).createdAt;
    const json = JSON.stringify({ c: createdAt, e: createdAt + 300_000, m: MAX_ATTEMPTS, a: 1, s: 'sent', d: 'undelivered', ec: 'MK:0001 x', rt: 1_000, rp: 0 });
    await admin.hset(verKey, id, json);
    expect(await h.store.getVerification(id)).toEqual({
      ...view,
      attempts: 1,
      delivery: { status: 'undelivered', errorCode: 'MK:0001 x', reportedAt: 1_000 },
    });
    expect((await check(subject, '1358')).status).toBe('mismatch');
    expect(await admin.hget(verKey, id)).toBe(`${createdAt} 300000 5 2 sn0 1000 MK:0001 x`);
    expect(await h.store.getVerification(id)).toMatchObject({ attempts: 2, delivery: { status: 'undelivered', errorCode: 'MK:0001 x', reportedAt: 1_000 } });
    expect(await h.store.cancelVerification(id, {})).toEqual({ found: true, canceled: true, status: 'canceled' });
    expect(await admin.hget(verKey, id)).toBe(`${createdAt} 300000 5 2 cn0 1000 MK:0001 x`);
    expect((await check(subject, '1357')).status).toBe('not_found');
  });
});
