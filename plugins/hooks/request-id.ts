import proxyAddr from '@fastify/proxy-addr';
import fp from 'fastify-plugin';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TrustProxy } from '../../src/config/trust-proxy.js';

/** What an incoming `X-Request-Id` must look like to be kept: no spaces, no injection, bounded. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Fastify's `genReqId`: the `X-Request-Id` header when the request comes straight from a trusted
 * proxy (by `TRUST_PROXY`, judged the way Fastify judges `X-Forwarded-For`) and the value is
 * well formed; otherwise a fresh UUID. A client talking to us directly cannot choose its id.
 */
export function requestIdGenerator(trustProxy: TrustProxy): (request: IncomingMessage) => string {
  const trusted = trustFunction(trustProxy);
  return (request) => {
    const header = request.headers['x-request-id'];
    const peer = request.socket?.remoteAddress;
    if (typeof header === 'string' && REQUEST_ID_PATTERN.test(header) && peer !== undefined && trusted(peer, 0)) {
      return header;
    }
    return randomUUID();
  };
}

/** The same reading of `trustProxy` as Fastify's: `true`, a hop count, or addresses/CIDRs. */
function trustFunction(trustProxy: TrustProxy): (address: string, hop: number) => boolean {
  if (trustProxy === true) return () => true;
  if (trustProxy === false) return () => false;
  if (typeof trustProxy === 'number') return (_address, hop) => hop < trustProxy;
  return proxyAddr.compile(trustProxy);
}

/**
 * Echoes the request id in an `x-request-id` response header. (The routes hand `request.log` to the
 * domain service, so its lines carry the id too: explicit, without AsyncLocalStorage's cost on every
 * promise.)
 */
export default fp(
  async (fastify) => {
    fastify.addHook('onSend', async (request, reply) => {
      reply.header('x-request-id', request.id);
    });
  },
  { name: 'request-id', fastify: '5.x' },
);
