import proxyAddr from '@fastify/proxy-addr';
import fp from 'fastify-plugin';
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Logger } from '../src/logger.js';
import type { TrustProxy } from '../src/trust-proxy.js';

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

const requestLogger = new AsyncLocalStorage<Logger>();

/**
 * A logger for code outside the HTTP layer (the domain service, the SMS provider): inside a request
 * it writes through that request's logger, so its lines carry the `reqId`; elsewhere through `fallback`.
 */
export function requestScopedLogger(fallback: Logger): Logger {
  const current = (): Logger => requestLogger.getStore() ?? fallback;
  return {
    info: (object, message) => current().info(object, message),
    warn: (object, message) => current().warn(object, message),
    error: (object, message) => current().error(object, message),
  };
}

/**
 * Echoes the request id in an `x-request-id` response header, and makes the request's logger the
 * one `requestScopedLogger` writes through while the handler runs.
 */
export default fp(
  async (fastify) => {
    // The last hook before the handler: the body has been read, so the context is not lost to stream events.
    fastify.addHook('preHandler', (request, _reply, done) => requestLogger.run(request.log, done));
    fastify.addHook('onSend', async (request, reply) => {
      reply.header('x-request-id', request.id);
    });
  },
  { name: 'request-id', fastify: '5.x' },
);
