import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseSendLimits } from '../src/config/send-limits.js';
import { generateSendId, generateVerificationId } from '../src/domain/codes/code.js';
import type { SendWindow } from '../src/domain/limits/send-window.js';
import type { CheckCodeInput, Subject } from '../src/domain/store.js';
import { planNotice, planSend } from '../src/domain/verification/rules.js';
import { connectRedisStore } from '../src/stores/redis/redis-store.js';
import { parseHostPorts } from '../src/config/redis-topology.js';
import { STORE_KINDS, TEST_AUDIT, createHarness, requireClusterNodes, requireRedisUrl, type StoreHarness } from './support/stores.js';

function windows(text: string): SendWindow[] {
  const parsed = parseSendLimits(text);
  if (typeof parsed === 'string') throw new Error(parsed);
  return parsed;
}

let counter = 0;
function newSubject(): Subject {
  counter += 1;
  return { channel: 'login', phone: `+86139${String(counter).padStart(8, '0')}` };
}

describe.each(STORE_KINDS)('verification records on the %s store', (kind) => {
  let h: StoreHarness;
  beforeEach(async () => {
    h = await createHarness(kind, 1000, { verificationRetentionMs: 1_500 });
  });
  afterEach(async () => {
    await h.close();
  });

  function reservation(subject: Subject, hash: string, limits = windows('1/60s,5/1h'), maxAttempts = 3) {
    const plan = planSend({
      subject,
      context: { ...subject, ip: '127.0.0.1' },
      sendId: generateVerificationId(),
      codeHash: hash,
      codeTtlMs: 60_000,
      maxAttempts,
      limits: { channel: limits, phone: windows('3/1h'), ip: undefined, global: [] },
    });
    return {
      plan,
      reserve: () => h.store.reserveSend(plan),
      commit: () => h.store.commitSend(plan, { provider: 'test', outId: plan.sendId }),
      release: () => h.store.releaseSend(plan, { reason: 'isp.SYSTEM_ERROR', outId: plan.sendId }),
    };
  }
  const checkInput = (subject: Subject, hash: string, extra: Partial<CheckCodeInput> = {}): CheckCodeInput => ({
    subject,
    context: subject,
    codeHash: hash,
    maxAttempts: 3,
    checkId: generateSendId(),
    failureLimits: [],
    ...extra,
  });
  const events = async (subject: Subject) => {
    const found: string[] = [];
    for await (const entry of h.store.audit.scan({ phone: subject.phone })) found.push(entry.fields.event as string);
    return found;
  };

  it('a report that arrives before the commit is kept, then applied when the send lands (audited after code.sent)', async () => {
    const s = newSubject();
    const send = reservation(s, 'H1');
    expect((await send.reserve()).ok).toBe(true);
    expect((await h.store.findOutId(send.plan.sendId))?.kind).toBe('code');
    const early = await h.store.recordReceipt({ outId: send.plan.sendId, delivered: false, errorCode: 'MK:0001', reportedAt: 1_000 });
    expect(early).toMatchObject({ outcome: 'early', kind: 'code', subject: s });
    expect(await events(s)).toEqual([]);
    expect((await h.store.getVerification(send.plan.sendId))?.status).toBe('pending');
    expect(await send.commit()).toBe('promoted');
    expect(await events(s)).toEqual(['code.sent', 'code.undelivered']);
    const view = await h.store.getVerification(send.plan.sendId);
    expect(view?.delivery).toEqual({ status: 'undelivered', errorCode: 'MK:0001', reportedAt: 1_000 });
    // Applied: its slot is free in the channel's 1/60s window and the phone's log.
    expect((await reservation(s, 'H2').reserve()).ok).toBe(true);
    // Once.
    expect(await send.commit()).toBe('repeated');
    expect((await h.store.recordReceipt({ outId: send.plan.sendId, delivered: false, errorCode: 'MK:0001', reportedAt: 1 })).outcome).toBe('duplicate');
    expect((await events(s)).filter((e) => e === 'code.undelivered')).toHaveLength(1);
  });

  it('cancel against a concurrent correct check: at most one of them wins (two connections on Redis)', async () => {
    // On Redis the cancel comes from a second store (its own connection), as from another instance.
    const other =
      kind === 'memory'
        ? h.store
        : await connectRedisStore(kind === 'redis' ? requireRedisUrl() : { kind: 'cluster', nodes: parseHostPorts('REDIS_CLUSTER_NODES', requireClusterNodes()), tls: false }, {
            prefix: h.prefix,
            commandTimeoutMs: 2000,
            auditKey: `${h.prefix}audit`,
            audit: TEST_AUDIT,
            verificationRetentionMs: 1_500,
          });
    try {
      for (let round = 0; round < 15; round++) {
        const s = newSubject();
        const send = reservation(s, 'H');
        await send.reserve();
        await send.commit();
        const [canceled, checked] = await Promise.all([
          other.cancelVerification(send.plan.sendId, {}),
          h.store.checkCode(checkInput(s, 'H')),
        ]);
        const cancelWon = canceled.found && canceled.canceled;
        const checkWon = checked.status === 'approved';
        expect(cancelWon !== checkWon, `round ${round}: cancel ${JSON.stringify(canceled)}, check ${checked.status}`).toBe(true);
        expect((await h.store.getVerification(send.plan.sendId))?.status).toBe(cancelWon ? 'canceled' : 'approved');
        if (cancelWon) expect(checked.status).toBe('not_found');
        else expect(canceled).toEqual({ found: true, canceled: false, status: 'approved' });
      }
    } finally {
      if (other !== h.store) await other.close();
    }
  });

  it('a send canceled while in flight never becomes current; the older code stays pending and verifies', async () => {
    const s = newSubject();
    const older = reservation(s, 'OLD', windows('5/1h'));
    await older.reserve();
    await older.commit();
    const newer = reservation(s, 'NEW', windows('5/1h'));
    await newer.reserve();
    expect(await h.store.cancelVerification(newer.plan.sendId, {})).toEqual({ found: true, canceled: true, status: 'canceled' });
    expect(await newer.commit()).toBe('superseded');
    expect((await h.store.getVerification(older.plan.sendId))?.status).toBe('pending');
    expect((await h.store.checkCode(checkInput(s, 'NEW'))).status).toBe('mismatch');
    expect((await h.store.checkCode(checkInput(s, 'OLD'))).status).toBe('approved');
  });

  it('unconfirmed: a send committed without the provider answer reads unconfirmed, verifies, and can be superseded', async () => {
    const s = newSubject();
    const send = reservation(s, 'U', windows('5/1h'));
    await send.reserve();
    expect(await h.store.commitSend(send.plan, { provider: 'test' }, 'unconfirmed')).toBe('promoted');
    expect((await h.store.getVerification(send.plan.sendId))?.status).toBe('unconfirmed');
    const next = reservation(s, 'V', windows('5/1h'));
    await next.reserve();
    await next.commit();
    expect((await h.store.getVerification(send.plan.sendId))?.status).toBe('superseded');
  });

  it('an idempotent check records its decision in the same step: the same key replays it, another key does not', async () => {
    const s = newSubject();
    const send = reservation(s, 'H');
    await send.reserve();
    await send.commit();
    expect(await h.store.checkCode(checkInput(s, 'WRONG', { idempotencyKey: 'k0' }))).toMatchObject({ status: 'mismatch', attemptsRemaining: 2 });
    expect(await h.store.checkCode(checkInput(s, 'WRONG', { idempotencyKey: 'k0' }))).toMatchObject({ status: 'mismatch', attemptsRemaining: 2, replayed: true });
    // Another code under the same key is a new check; its decision replaces the key's.
    expect(await h.store.checkCode(checkInput(s, 'H', { idempotencyKey: 'k0' }))).toEqual({ status: 'approved', attemptsRemaining: 2, retryAfterMs: 0 });
    expect(await h.store.checkCode(checkInput(s, 'H', { idempotencyKey: 'k0' }))).toEqual({ status: 'approved', attemptsRemaining: 2, retryAfterMs: 0, replayed: true });
    expect((await h.store.checkCode(checkInput(s, 'WRONG', { idempotencyKey: 'k0' }))).status).toBe('used');
    expect((await h.store.checkCode(checkInput(s, 'H', { idempotencyKey: 'k1' }))).status).toBe('used');
    expect((await h.store.checkCode(checkInput(s, 'H'))).status).toBe('used');
    expect((await events(s)).filter((e) => e === 'code.approved')).toHaveLength(1);
    expect((await h.store.getVerification(send.plan.sendId))).toMatchObject({ status: 'approved', attempts: 1 });
  });

  it('keeps a verification and its OutId for the retention, then forgets them', async () => {
    const s = newSubject();
    const send = reservation(s, 'H');
    await send.reserve();
    await send.commit();
    const notice = planNotice({ subject: s, context: s, sendId: 'notice-out-id-1', limits: { ip: undefined, global: [] } });
    expect((await h.store.reserveSend(notice)).ok).toBe(true);
    expect((await h.store.findOutId('notice-out-id-1'))?.kind).toBe('notice');
    expect((await h.store.getVerification(send.plan.sendId))?.status).toBe('pending');
    await h.advance(1_600);
    expect(await h.store.getVerification(send.plan.sendId)).toBeUndefined();
    expect(await h.store.findOutId(send.plan.sendId)).toBeUndefined();
    expect(await h.store.findOutId('notice-out-id-1')).toBeUndefined();
    expect(await h.store.cancelVerification(send.plan.sendId, {})).toEqual({ found: false });
    expect((await h.store.recordReceipt({ outId: send.plan.sendId, delivered: true, errorCode: 'DELIVERED', reportedAt: 1 })).outcome).toBe('unknown');
  });

  it('a refused send leaves no verification behind', async () => {
    const s = newSubject();
    await reservation(s, 'A').reserve();
    const refused = reservation(s, 'B');
    expect((await refused.reserve()).ok).toBe(false);
    expect(await h.store.getVerification(refused.plan.sendId)).toBeUndefined();
    expect(await h.store.findOutId(refused.plan.sendId)).toBeUndefined();
  });

  it('a released send reads failed', async () => {
    const s = newSubject();
    const send = reservation(s, 'A');
    await send.reserve();
    await send.release();
    expect((await h.store.getVerification(send.plan.sendId))?.status).toBe('failed');
  });
});
