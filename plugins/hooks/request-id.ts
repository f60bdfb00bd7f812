import fp from 'fastify-plugin';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TrustFunction } from '../../src/config/trust-proxy.js';

/** What an incoming `X-Request-Id` must look like to be kept: no spaces, no injection, bounded. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Fastify's `genReqId`: the `X-Request-Id` header when the request comes straight from a trusted
 * proxy and the value is well formed; otherwise a fresh UUID. `trusted` is the very function Fastify
 * judges `X-Forwarded-For` with (`TRUST_PROXY`), so a client talking to us directly cannot choose its id.
 */
export function requestIdGenerator(trusted: TrustFunction): (request: IncomingMessage) => string {
  return (request) => {
    const header = request.headers['x-request-id'];
    const peer = request.socket?.remoteAddress;
    if (typeof header === 'string' && REQUEST_ID_PATTERN.test(header) && peer !== undefined && trusted(peer, 0)) {
      return header;
    }
    return randomUUID();
  };
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
