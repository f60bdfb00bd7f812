import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CheckCodeInput } from '../src/domain/store.js';
import { connectRedisStore, type RedisStore } from '../src/stores/redis/redis-store.js';
import { TEST_AUDIT, requireRedisUrl, uniquePrefix } from './support/stores.js';

/**
 * Issue 11 §7, the other side of "no decision runs past its deadline": the deadline is on Redis's
 * clock, so an app host whose clock is off (by an hour either way, or stepped after start-up) still
 * gets its decisions taken, instead of every script refusing as late.
 */
const SUBJECT = { channel: 'login', phone: '+8613800000077' };
const check = (n: number): CheckCodeInput => ({
  subject: SUBJECT,
  context: SUBJECT,
  codeHash: 'H',
  maxAttempts: 5,
  checkId: `check-${n}`,
  failureLimits: [],
});

describe('request deadlines are on Redis time', () => {
  let store: RedisStore | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    await store?.close();
    store = undefined;
  });

  /** Date.now() of this process, `skew()` ms away from the real time. */
  function skewClock(skew: () => number): void {
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + skew());
  }

  const connect = () =>
    connectRedisStore(requireRedisUrl(), { prefix: uniquePrefix(), commandTimeoutMs: 500, auditKey: undefined, audit: TEST_AUDIT });

  for (const skewMs of [-3_600_000, 3_600_000]) {
    it(`decides as usual with the host clock ${skewMs < 0 ? 'behind' : 'ahead of'} Redis by an hour`, async () => {
      skewClock(() => skewMs);
      store = await connect();
      for (let i = 0; i < 5; i++) expect((await store.checkCode(check(i))).status).toBe('not_found');
    });
  }

  it('measures the clock again when the host clock steps back after start-up: decisions resume at once', async () => {
    let skew = 0;
    skewClock(() => skew);
    store = await connect();
    expect((await store.checkCode(check(0))).status).toBe('not_found');
    skew = -3_600_000;
    // The first decision after the step may be refused as late (answered store unavailable, nothing done)…
    const answers: string[] = [];
    for (let i = 1; i <= 5; i++) {
      answers.push(await store.checkCode(check(i)).then((r) => r.status, (e: Error) => e.name));
    }
    // …and is enough to re-measure: the ones after it are decided.
    expect(answers.slice(2)).toEqual(['not_found', 'not_found', 'not_found']);
    expect(answers.filter((a) => a !== 'not_found').every((a) => a === 'LateScriptError')).toBe(true);
  });
});
