import { isIP } from 'node:net';

/** What Fastify's `trustProxy` takes: a boolean, a hop count, or addresses/CIDRs of trusted proxies. */
export type TrustProxy = boolean | number | string[];

/** `TRUST_PROXY`: `true`/`false`, a hop count (`1`), or a comma list of IPs and CIDRs. Undefined if malformed. */
export function parseTrustProxy(text: string): TrustProxy | undefined {
  const value = text.trim();
  if (value === 'true') return true;
  if (value === 'false') return false;
  if (/^\d+$/.test(value)) return Number(value);
  const parts = value.split(',').map((part) => part.trim()).filter(Boolean);
  if (parts.length === 0) return undefined;
  return parts.every(isAddressOrCidr) ? parts : undefined;
}

function isAddressOrCidr(part: string): boolean {
  const [address, bits, extra] = part.split('/');
  if (extra !== undefined || !address) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d+$/.test(bits) && n <= (family === 4 ? 32 : 128);
}
