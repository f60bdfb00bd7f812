import { describe, expect, it } from 'vitest';
import { parseSendLimits } from '../../src/config/send-limits.js';
import type { SendWindow } from '../../src/domain/limits/send-window.js';
import { judgeWindows, ROOM } from '../../src/domain/limits/windows.js';
import { commitOutcome, judgeCheck, judgeSend, limitGroups, planSend } from '../../src/domain/verification/rules.js';

function windows(text: string): SendWindow[] {
  const parsed = parseSendLimits(text);
  if (typeof parsed === 'string') throw new Error(parsed);
  return parsed;
}

describe('window arithmetic', () => {
  const w = windows('1/60s,3/10m');

  it('has room until a window holds `count` entries; an entry leaves exactly windowMs after it', () => {
    expect(judgeWindows([], w, 1_000)).toEqual(ROOM);
    expect(judgeWindows([0], w, 59_999)).toEqual({ refused: 0, retryAfterMs: 1 });
    expect(judgeWindows([0], w, 60_000)).toEqual(ROOM);
  });

  it('reports the first refusing window and waits until every refusing window frees a slot', () => {
    // 3 sends in 10 min, the last one 10 s ago: both windows are full; the 10-min one frees last.
    expect(judgeWindows([0, 100_000, 200_000], w, 210_000)).toEqual({ refused: 0, retryAfterMs: 600_000 - 210_000 });
    // Only the 10-min window is full: it frees when its oldest counted entry leaves.
    expect(judgeWindows([0, 100_000, 200_000], w, 300_000)).toEqual({ refused: 1, retryAfterMs: 300_000 });
  });
});

describe('send, check and commit rules', () => {
  const limits = { channel: windows('1/60s'), phone: [], ip: { address: '10.0.0.1', windows: windows('5/1h') }, global: windows('9/1h') };

  it('orders the limit groups channel, phone, ip, global, leaving out empty ones, and plans a send once', () => {
    expect(limitGroups(limits).map((g) => g.scope)).toEqual(['channel', 'ip', 'global']);
    const plan = planSend({ subject: { channel: 'c', phone: '+1' }, context: { phone: '+1', channel: 'c' }, sendId: 's', codeHash: 'h', codeTtlMs: 30_000, limits });
    expect(plan.keepMs).toBe(60_000);
  });

  it('names the first refusing group and takes the longest wait over every refusing group', () => {
    const groups = limitGroups(limits);
    const verdict = judgeSend(groups, [ROOM, { refused: 0, retryAfterMs: 5 }, { refused: 0, retryAfterMs: 9 }]);
    expect(verdict).toEqual({ ok: false, group: 1, scope: 'ip', window: 0, reason: 'ip:5/1h', retryAfterMs: 9 });
    expect(judgeSend(groups, [ROOM, ROOM, ROOM])).toEqual({ ok: true });
  });

  it('decides a check not found → expired → used → too many attempts → wrong-guess limit → compare', () => {
    const code = { hash: 'H', expiresAt: 100, used: false, attempts: 0 };
    const limited = { refused: 0, retryAfterMs: 7 };
    expect(judgeCheck(undefined, 'H', 0, 3, ROOM).status).toBe('not_found');
    expect(judgeCheck({ ...code, used: true }, 'H', 100, 3, limited).status).toBe('expired');
    expect(judgeCheck({ ...code, used: true, attempts: 3 }, 'H', 99, 3, limited).status).toBe('used');
    expect(judgeCheck({ ...code, attempts: 3 }, 'H', 99, 3, limited).status).toBe('too_many_attempts');
    expect(judgeCheck(code, 'H', 99, 3, limited)).toMatchObject({ status: 'verify_limited', retryAfterMs: 7, effect: 'none' });
    expect(judgeCheck(code, 'H', 99, 3, ROOM)).toMatchObject({ status: 'approved', attemptsRemaining: 3, effect: 'use', attempt: 1 });
    expect(judgeCheck({ ...code, attempts: 2 }, 'X', 99, 3, ROOM)).toMatchObject({ status: 'mismatch', attemptsRemaining: 0, effect: 'wrong' });
  });

  it('promotes a pending code unless a newer one is current; without one, repeated or lost', () => {
    expect(commitOutcome(10, undefined, 'a')).toBe('promoted');
    expect(commitOutcome(10, { sentAt: 10, sendId: 'b' }, 'a')).toBe('promoted');
    expect(commitOutcome(10, { sentAt: 11, sendId: 'b' }, 'a')).toBe('superseded');
    expect(commitOutcome(undefined, { sentAt: 11, sendId: 'a' }, 'a')).toBe('repeated');
    expect(commitOutcome(undefined, { sentAt: 11, sendId: 'b' }, 'a')).toBe('lost');
  });
});
