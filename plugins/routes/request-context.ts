import type { FastifyRequest } from 'fastify';
import type { RequestContext } from '../../src/domain/verification/verification-service.js';

/**
 * Who is asking, as the domain records it: the client address (through trusted proxies only), the API
 * key's name, and the request's logger (its lines carry the request id).
 */
export function requestContext(request: FastifyRequest): RequestContext {
  return { ip: request.ip, caller: request.caller, channels: request.callerChannels, logger: request.log };
}
