import { afterEach, describe, expect, it } from 'vitest';
import { requireClusterNodes, requireRedisUrl, uniquePrefix } from './support/stores.js';
import { startInstance, type AppInstance } from './support/app.js';

const PHONE = '+8613800000000';
const N = 500;

type Topology = 'redis' | 'cluster';

type Instance = AppInstance;

/** Volume races against the real stores, through the whole app. */
describe.each<Topology>(['redis', 'cluster'])('races at volume on %s', (topology) => {
  const open: Instance[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((i) => i.app.close()));
  });

  async function instance(prefix: string, env: Record<string, string> = {}): Promise<Instance> {
    const made = await startInstance({
      ...(topology === 'redis' ? { REDIS_URL: requireRedisUrl() } : { REDIS_CLUSTER_NODES: requireClusterNodes() }),
      REDIS_PREFIX: prefix,
      STORE_TIMEOUT_MS: '5000',
      ...env,
    });
    open.push(made);
    return made;
  }

  it(`of ${N} concurrent sends to one phone accepts exactly one`, async () => {
    const a = await instance(uniquePrefix());
    const results = await Promise.all(Array.from({ length: N }, () => a.post('/v1/verifications', { phone: PHONE, channel: 'login' })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 429 && r.body.code === 'RATE_LIMITED')).toHaveLength(N - 1);
    expect(a.sms.messages).toHaveLength(1);
  });

  it(`of ${N} concurrent checks of the right code across two instances approves exactly one`, async () => {
    const prefix = uniquePrefix();
    const [a, b] = await Promise.all([instance(prefix), instance(prefix)]);
    await a.post('/v1/verifications', { phone: PHONE, channel: 'login' });
    const code = a.sms.lastCode(PHONE);
    const results = await Promise.all(
      Array.from({ length: N }, (_, i) => (i % 2 ? a : b).post('/v1/verifications/check', { phone: PHONE, channel: 'login', code })),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(N - 1);
  });

  it(`counts ${N} concurrent wrong guesses exactly, honouring MAX_VERIFY_ATTEMPTS to the guess`, async () => {
    const a = await instance(uniquePrefix(), { MAX_VERIFY_ATTEMPTS: '37', VERIFY_FAILURE_LIMITS: 'off', CODE_LENGTH: '6' });
    await a.post('/v1/verifications', { phone: PHONE, channel: 'login' });
    const code = a.sms.lastCode(PHONE);
    const wrong = code === '000000' ? '111111' : '000000';
    const results = await Promise.all(
      Array.from({ length: N }, () => a.post('/v1/verifications/check', { phone: PHONE, channel: 'login', code: wrong })),
    );
    const mismatches = results.filter((r) => r.status === 422);
    expect(mismatches).toHaveLength(37);
    expect(mismatches.map((r) => r.body.attemptsRemaining).sort((x, y) => x - y)).toEqual(Array.from({ length: 37 }, (_, i) => i));
    expect(results.filter((r) => r.status === 429 && r.body.code === 'OTP_TOO_MANY_ATTEMPTS')).toHaveLength(N - 37);
    expect((await a.post('/v1/verifications/check', { phone: PHONE, channel: 'login', code })).body.code).toBe('OTP_TOO_MANY_ATTEMPTS');
  });

  it('never approves a replaced code when sends and checks interleave', async () => {
    const prefix = uniquePrefix();
    const [a, b] = await Promise.all([
      instance(prefix, { SEND_LIMITS: '1000/1s', PHONE_SEND_LIMITS: 'off', CODE_LENGTH: '8', MAX_VERIFY_ATTEMPTS: '100', VERIFY_FAILURE_LIMITS: 'off' }),
      instance(prefix, { SEND_LIMITS: '1000/1s', PHONE_SEND_LIMITS: 'off', CODE_LENGTH: '8', MAX_VERIFY_ATTEMPTS: '100', VERIFY_FAILURE_LIMITS: 'off' }),
    ]);
    const check = (code: string, via: Instance) => via.post('/v1/verifications/check', { phone: PHONE, channel: 'x', code });
    for (let round = 0; round < 20; round++) {
      expect((await a.post('/v1/verifications', { phone: PHONE, channel: 'x' })).status).toBe(201);
      const replaced = a.sms.lastCode(PHONE);
      // Checks of the old code race the send that replaces it; before the new code is committed
      // the old one is still valid, so those may approve it — once.
      const racing = Promise.all(Array.from({ length: 10 }, (_, i) => check(replaced, i % 2 ? a : b)));
      expect((await b.post('/v1/verifications', { phone: PHONE, channel: 'x' })).status).toBe(201);
      const raced = await racing;
      expect(raced.filter((r) => r.status === 200).length).toBeLessThanOrEqual(1);
      const fresh = b.sms.lastCode(PHONE);
      // Once the new send has answered, the old code never approves again.
      const after = await Promise.all(Array.from({ length: 10 }, (_, i) => check(replaced, i % 2 ? a : b)));
      if (replaced !== fresh) expect(after.filter((r) => r.status === 200)).toEqual([]);
      expect((await check(fresh, a)).status).toBe(200);
    }
  });
});
