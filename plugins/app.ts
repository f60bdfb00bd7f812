import Fastify, { type FastifyHttpOptions, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Server, ServerOptions } from 'node:http';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from '../src/config/config.js';
import { compileTrust } from '../src/config/trust-proxy.js';
import type { SmsProvider } from '../src/domain/sms-provider.js';
import type { VerificationStore } from '../src/domain/store.js';
import { notFoundHandler, v1ErrorHandler } from './hooks/errors.js';
import auditRoutes from './routes/audit/index.js';
import auth from './hooks/auth.js';
import docs from './hooks/docs.js';
import health from './routes/health/index.js';
import idempotency, { inFlightBoundMs } from './hooks/idempotency.js';
import idempotencyStore from './decorators/idempotency.js';
import legacyRoutes from './routes/legacy/index.js';
import receiptRoutes from './routes/receipts/index.js';
import metrics from './decorators/metrics.js';
import requestId, { requestIdGenerator } from './hooks/request-id.js';
import smsPlugin from './decorators/sms.js';
import storePlugin from './decorators/store.js';
import v1Routes from './routes/v1/index.js';
import verificationPlugin from './decorators/verification.js';

export interface BuildAppOptions {
  /** Fastify's logger option; defaults to JSON logs at `LOG_LEVEL`. */
  readonly logger?: FastifyServerOptions['logger'];
  /** Ready-made parts (tests); otherwise built from `config`. */
  readonly store?: VerificationStore;
  readonly sms?: SmsProvider;
  /** This process is one of `WORKERS`: `/metrics` answers for all of them (server.ts sets it). */
  readonly clusterWorker?: boolean;
}

/** The whole service as a Fastify instance, ready to `inject` or `listen`. */
export async function buildApp(config: Config, options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const trust = compileTrust(config.trustProxy);
  const serverOptions: FastifyHttpOptions<Server> = {
    logger: options.logger === false ? false : withSafeSerializers({ level: config.logLevel, ...asObject(options.logger) }),
    bodyLimit: config.bodyLimitBytes,
    // One trust decision for the client address (request.ip) and the request id.
    trustProxy: trust,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    // X-Request-Id from a trusted proxy, else a fresh UUID; logged as `reqId`, echoed as x-request-id.
    genReqId: requestIdGenerator(trust),
    ...timeouts(config.requestTimeoutMs),
  };
  const app = Fastify(serverOptions).withTypeProvider<TypeBoxTypeProvider>();

  // Before anything connects: a misspelt REDIS_URL or REDIS_PASSWORD explains what follows.
  for (const warning of config.warnings) app.log.warn(warning);

  app.setErrorHandler(v1ErrorHandler);
  app.setNotFoundHandler(notFoundHandler);

  // Auth first: it checks every route's declaration as it is added. Then docs: swagger collects the
  // routes registered after it. Metrics before the parts it measures.
  await app.register(auth, { keys: config.apiKeys, protectOpsRoutes: config.protectOpsRoutes });
  await app.register(docs);
  await app.register(requestId);
  await app.register(metrics, { globalSendLimits: config.limits.global, clusterWorker: options.clusterWorker });
  await app.register(storePlugin, { config, store: options.store });
  await app.register(smsPlugin, { config, provider: options.sms });
  await app.register(verificationPlugin, { config });
  await app.register(idempotencyStore, { config });
  await app.register(idempotency, { store: app.idempotency, ttlMs: config.idempotencyTtlMs, inFlightMs: inFlightBoundMs(config) });
  await app.register(health, { storeTimeoutMs: config.storeTimeoutMs });
  await app.register(legacyRoutes, { config });
  await app.register(v1Routes, { config });
  await app.register(auditRoutes);
  if (config.receiptToken) await app.register(receiptRoutes, { token: config.receiptToken });
  return app;
}

/**
 * Slow clients: the headers and body of a request must arrive within `REQUEST_TIMEOUT_MS` of its first
 * byte (or of the connection, for its first request), else Node answers 408 and closes the connection;
 * Node looks for such connections every `checkMs`. An idle keep-alive connection is closed after
 * `KEEP_ALIVE_TIMEOUT_MS`, longer than the 60 s a proxy (nginx, cloud load balancers) keeps an idle
 * upstream connection, so the proxy closes first and never reuses one the service just closed.
 */
const KEEP_ALIVE_TIMEOUT_MS = 72_000;

function timeouts(requestTimeoutMs: number): { requestTimeout: number; keepAliveTimeout: number; http: ServerOptions } {
  const checkMs = Math.max(50, Math.min(1000, Math.floor(requestTimeoutMs / 4)));
  return {
    requestTimeout: requestTimeoutMs,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    http: { requestTimeout: requestTimeoutMs, headersTimeout: requestTimeoutMs, connectionsCheckingInterval: checkMs },
  };
}

type LoggerOptions = Exclude<FastifyServerOptions['logger'], boolean | undefined>;

function asObject(logger: FastifyServerOptions['logger']): object {
  return typeof logger === 'object' && logger !== null ? logger : {};
}

/**
 * Request lines without the query string: `GET /v1/audit?phone=…` must not put a phone number
 * in the log. Everything else as Fastify's own serializer has it.
 */
function withSafeSerializers(logger: object): LoggerOptions {
  return {
    ...logger,
    serializers: {
      req: (request: { method: string; url: string; host?: string; ip?: string; socket?: { remotePort?: number } }) => ({
        method: request.method,
        url: request.url.split('?')[0],
        host: request.host,
        remoteAddress: request.ip,
        remotePort: request.socket?.remotePort,
      }),
    },
  } as LoggerOptions;
}
