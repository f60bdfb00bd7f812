import { afterEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from './support/app.js';
import { STORE_KINDS } from './support/stores.js';

/** The client address and its per-IP bucket, as each request reaches the service (`inject` sets the socket's peer). */
describe('the client address', () => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });

  async function send(i: number, remoteAddress: string, headers: Record<string, string> = {}) {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/verifications',
      payload: { phone: `+86138000000${String(i).padStart(2, '0')}`, channel: 'login' },
      remoteAddress,
      headers,
    });
    return { status: res.statusCode, code: res.json().code as string | undefined, requestId: res.headers['x-request-id'] };
  }

  async function auditIps(): Promise<string[]> {
    const page = await t.app.store.audit.page({ channel: 'login' }, { limit: 100 });
    return page.events.map((event) => event.fields.ip ?? '');
  }

  it('with TRUST_PROXY=N is the address N hops back in X-Forwarded-For; the request id trusts the same hops', async () => {
    const xff = { 'x-forwarded-for': '198.51.100.1, 198.51.100.2', 'x-request-id': 'edge-1' };
    t = await buildTestApp('memory', { TRUST_PROXY: '1' });
    expect(await send(1, '10.0.0.1', xff)).toMatchObject({ status: 201, requestId: 'edge-1' });
    await t.close();
    t = await buildTestApp('memory', { TRUST_PROXY: '2' });
    expect(await send(2, '10.0.0.1', xff)).toMatchObject({ status: 201, requestId: 'edge-1' });
    await t.close();
    // More hops than the header has: the left-most entry, as proxy-addr has it.
    t = await buildTestApp('memory', { TRUST_PROXY: '5' });
    expect((await send(3, '10.0.0.1', xff)).status).toBe(201);
    await t.close();
    t = await buildTestApp('memory', { TRUST_PROXY: '0' });
    const untrusted = await send(4, '10.0.0.1', xff);
    expect(untrusted.status).toBe(201);
    expect(untrusted.requestId).not.toBe('edge-1');
    expect(await auditIps()).toEqual(['10.0.0.1']);
  });

  it.each([
    ['1', ['198.51.100.2']],
    ['2', ['198.51.100.1']],
    ['true', ['198.51.100.1']],
    ['10.0.0.0/8', ['198.51.100.2']],
    ['10.0.0.0/8,198.51.100.2', ['198.51.100.1']],
    ['false', ['10.0.0.1']],
  ])('TRUST_PROXY=%s: the audit ip is %j', async (trustProxy, expected) => {
    t = await buildTestApp('memory', { TRUST_PROXY: trustProxy });
    expect((await send(1, '10.0.0.1', { 'x-forwarded-for': '198.51.100.1, 198.51.100.2' })).status).toBe(201);
    expect(await auditIps()).toEqual(expected);
  });

  describe.each(STORE_KINDS)('per-IP limits on %s', (kind) => {
    it('count an IPv6 client per /64 and an IPv4-mapped address as its IPv4; the audit keeps the full address', async () => {
      t = await buildTestApp(kind, { IP_SEND_LIMITS: '2/1h', PHONE_SEND_LIMITS: 'off', TRUST_PROXY: '1' });
      expect((await send(1, '2001:db8:1:2::1')).status).toBe(201);
      expect((await send(2, '2001:db8:1:2:aaaa:bbbb:cccc:dddd')).status).toBe(201);
      expect(await send(3, '2001:db8:1:2::ffff')).toMatchObject({ status: 429, code: 'IP_RATE_LIMITED' });
      expect((await send(4, '2001:db8:1:3::1')).status).toBe(201);

      // The same IPv4 client, straight on a dual-stack socket and through a proxy: one bucket.
      expect((await send(5, '::ffff:192.0.2.9')).status).toBe(201);
      expect((await send(6, '10.0.0.1', { 'x-forwarded-for': '192.0.2.9' })).status).toBe(201);
      expect(await send(7, '10.0.0.1', { 'x-forwarded-for': '::ffff:192.0.2.9' })).toMatchObject({ status: 429, code: 'IP_RATE_LIMITED' });
      expect((await send(8, '10.0.0.1', { 'x-forwarded-for': '192.0.2.10' })).status).toBe(201);

      expect(await auditIps()).toEqual([
        '2001:db8:1:2::1',
        '2001:db8:1:2:aaaa:bbbb:cccc:dddd',
        '2001:db8:1:2::ffff',
        '2001:db8:1:3::1',
        '::ffff:192.0.2.9',
        '192.0.2.9',
        '::ffff:192.0.2.9',
        '192.0.2.10',
      ]);
    });
  });
});
