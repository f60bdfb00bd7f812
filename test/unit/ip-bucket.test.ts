import { describe, expect, it } from 'vitest';
import { compileTrust } from '../../src/config/trust-proxy.js';
import { ipBucket } from '../../src/domain/limits/ip-bucket.js';
import { limitKey } from '../../src/stores/keys.js';

describe('ipBucket', () => {
  it('keeps an IPv4 address as its own bucket', () => {
    expect(ipBucket('203.0.113.7')).toBe('203.0.113.7');
  });

  it('counts an IPv4-mapped IPv6 address as its IPv4 address, in any spelling', () => {
    expect(ipBucket('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(ipBucket('::FFFF:cb00:7107')).toBe('203.0.113.7');
    expect(ipBucket('0:0:0:0:0:ffff:203.0.113.7')).toBe('203.0.113.7');
  });

  it('groups IPv6 addresses by /64, whatever their spelling', () => {
    const bucket = '2001:db8:1:2::/64';
    for (const address of ['2001:db8:1:2::1', '2001:0db8:0001:0002:ffff:ffff:ffff:ffff', '2001:DB8:1:2:a:b:c:d', '2001:db8:1:2::9%eth0']) {
      expect(ipBucket(address), address).toBe(bucket);
    }
    expect(ipBucket('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(ipBucket('::1')).toBe('::/64');
    // Other embeddings of IPv4 are IPv6 networks of their own, not the IPv4 address.
    expect(ipBucket('64:ff9b::203.0.113.7')).toBe('64:ff9b::/64');
  });

  it('has no bucket for what is not an IP address', () => {
    for (const text of [undefined, '', 'unknown', '{global}', '1.2.3', '0x7f.1', '2001:db8::1::2', '1.2.3.4/32', ' 1.2.3.4']) {
      expect(ipBucket(text), String(text)).toBeUndefined();
    }
  });

  it('is where the per-IP send limit counts', () => {
    const key = (address: string | undefined) =>
      limitKey('p:', 'ip', { phone: '+8613800000000', channel: 'login' }, {
        channel: [],
        phone: [],
        global: [],
        ip: address === undefined ? undefined : { address, windows: [] },
      } as never);
    expect(key('2001:db8:1:2::1')).toBe(key('2001:db8:1:2:ffff::2'));
    expect(key('2001:db8:1:2::1')).toBe('p:{ip:2001:db8:1:2::/64}:sends');
    expect(key('::ffff:10.0.0.1')).toBe(key('10.0.0.1'));
    expect(key('10.0.0.1')).toBe('p:{ip:10.0.0.1}:sends');
    expect(key('10.0.0.1')).not.toBe(key('10.0.0.2'));
    expect(key('not an ip')).toBe('p:{ip:unknown}:sends');
  });
});

describe('compileTrust (TRUST_PROXY)', () => {
  it('with a hop count trusts the socket peer and the N-1 proxies before it, as proxy-addr does', () => {
    const one = compileTrust(1);
    expect([one('10.0.0.1', 0), one('10.0.0.2', 1)]).toEqual([true, false]);
    const two = compileTrust(2);
    expect([two('10.0.0.1', 0), two('10.0.0.2', 1), two('10.0.0.3', 2)]).toEqual([true, true, false]);
    const zero = compileTrust(0);
    expect(zero('10.0.0.1', 0)).toBe(false);
  });

  it('with true trusts everything, with false nothing, with addresses/CIDRs exactly those', () => {
    expect(compileTrust(true)('198.51.100.1', 5)).toBe(true);
    expect(compileTrust(false)('127.0.0.1', 0)).toBe(false);
    const listed = compileTrust(['10.0.0.0/8', '::1']);
    expect([listed('10.9.9.9', 0), listed('::1', 3), listed('11.0.0.1', 0)]).toEqual([true, true, false]);
  });
});
