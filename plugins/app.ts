import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from '../src/config/config.js';
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
}

/** The whole service as a Fastify instance, ready to `inject` or `listen`. */
export async function buildApp(config: Config, options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const serverOptions: FastifyServerOptions = {
    logger: options.logger === false ? false : withSafeSerializers({ level: config.logLevel, ...asObject(options.logger) }),
    bodyLimit: config.bodyLimitBytes,
    // Fastify accepts a hop count at run time (see its trustProxy docs); its types omit number.
    trustProxy: config.trustProxy as FastifyServerOptions['trustProxy'],
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    // X-Request-Id from a trusted proxy, else a fresh UUID; logged as `reqId`, echoed as x-request-id.
    genReqId: requestIdGenerator(config.trustProxy),
  };
  const app = Fastify(serverOptions).withTypeProvider<TypeBoxTypeProvider>();

  app.setErrorHandler(v1ErrorHandler);
  app.setNotFoundHandler(notFoundHandler);

  // Docs first: swagger collects the routes registered after it. Metrics before the parts it measures.
  await app.register(docs);
  await app.register(requestId);
  await app.register(metrics);
  await app.register(storePlugin, { config, store: options.store });
  await app.register(smsPlugin, { config, provider: options.sms });
  await app.register(verificationPlugin, { config });
  await app.register(auth, { keys: config.apiKeys, protectOpsRoutes: config.protectOpsRoutes });
  await app.register(idempotencyStore, { config });
  await app.register(idempotency, { store: app.idempotency, ttlMs: config.idempotencyTtlMs, inFlightMs: inFlightBoundMs(config) });
  await app.register(health, { storeTimeoutMs: config.storeTimeoutMs });
  await app.register(legacyRoutes, { config });
  await app.register(v1Routes, { config });
  await app.register(auditRoutes);
  return app;
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
