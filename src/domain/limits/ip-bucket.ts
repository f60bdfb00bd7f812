import ipaddr from 'ipaddr.js';
import { isIP } from 'node:net';

/**
 * The bucket a client address counts in, for every per-IP rule. An IPv4 address is its own bucket;
 * an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, as a dual-stack socket reports IPv4 clients) is that
 * IPv4 address; any other IPv6 address counts for its /64 (`2001:db8:1:2::/64`), since one host or
 * one subscriber commonly holds a whole /64. Undefined for anything that is not an IP address.
 * (Audit events keep the full address; only the limits group by bucket.)
 */
export function ipBucket(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  const family = isIP(address);
  if (family === 4) return address;
  if (family !== 6) return undefined;
  let parsed: ipaddr.IPv6;
  try {
    parsed = ipaddr.IPv6.parse(address);
  } catch {
    return undefined;
  }
  if (parsed.isIPv4MappedAddress()) return parsed.toIPv4Address().toString();
  const [a = 0, b = 0, c = 0, d = 0] = parsed.parts;
  return `${new ipaddr.IPv6([a, b, c, d, 0, 0, 0, 0]).toString()}/64`;
}
