import { isIP } from 'node:net';
import proxyAddr from '@fastify/proxy-addr';
import { commaList } from './comma-list.js';

/** What Fastify's `trustProxy` takes: a boolean, a hop count, or addresses/CIDRs of trusted proxies. */
export type TrustProxy = boolean | number | string[];

/** `TRUST_PROXY`: `true`/`false`, a hop count (`1`), or a comma list of IPs and CIDRs. Undefined if malformed. */
export function parseTrustProxy(text: string): TrustProxy | undefined {
  const value = text.trim();
  if (value === 'true') return true;
  if (value === 'false') return false;
  if (/^\d+$/.test(value)) return Number(value);
  const parts = commaList(value);
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

/** Whether the address at `hop` (0: the socket's peer, 1: the last `X-Forwarded-For` entry, …) is a trusted proxy. */
export type TrustFunction = (address: string, hop: number) => boolean;

/**
 * The one trust decision of the service, handed to Fastify (`request.ip`, `X-Forwarded-*`) and to the
 * request id (`X-Request-Id`), with proxy-addr's (and Express's) meaning: `true` trusts every hop, so
 * the client is the left-most `X-Forwarded-For` entry; a hop count N trusts the socket's peer and the
 * N-1 proxies before it, so the client is the address N hops back; addresses/CIDRs trust exactly those.
 * (Fastify's own reading of a bare number trusts nothing: the reason this is a function.)
 */
export function compileTrust(trustProxy: TrustProxy): TrustFunction {
  if (trustProxy === true) return () => true;
  if (trustProxy === false) return () => false;
  if (typeof trustProxy === 'number') return (_address, hop) => hop < trustProxy;
  return proxyAddr.compile(trustProxy);
}
