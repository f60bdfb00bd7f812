import fp from 'fastify-plugin';
import { channelPolicies, noticeTemplatePolicy } from '../../src/config/channel-policies.js';
import { generateSecret } from '../../src/domain/codes/code.js';
import type { Config } from '../../src/config/config.js';
import { STORED_SECRET_WARNING } from '../../src/config/production.js';
import { VerificationService } from '../../src/domain/verification/verification-service.js';

declare module 'fastify' {
  interface FastifyInstance {
    verification: VerificationService;
  }
}

export interface VerificationPluginOptions {
  readonly config: Config;
}

/**
 * Decorates `fastify.verification`. The code secret is `CODE_SECRET`, or else the
 * one the first instance stored (SET NX), so every instance can check every code.
 */
export default fp<VerificationPluginOptions>(
  async (fastify, { config }) => {
    // Production refuses to start without a configured secret; elsewhere a stored one is only a warning.
    if (!config.codeSecret && fastify.store.kind === 'redis') fastify.log.warn(STORED_SECRET_WARNING);
    const secret = config.codeSecret ?? (await fastify.store.sharedSecret(generateSecret()));
    const service = new VerificationService({
      store: fastify.store,
      sms: fastify.sms,
      policies: channelPolicies(config),
      logger: fastify.log,
      secret,
      guards: { limits: config.limits, phonePolicy: config.phonePolicy, notices: noticeTemplatePolicy(config) },
      ...(config.testPhones ? { testPhones: config.testPhones.codes } : {}),
      observer: fastify.metrics,
    });
    // A configured CODE_SECRET is the secret; only a shared, generated one can be lost with Redis.
    if (!config.codeSecret) fastify.store.onReconnect(() => {
      service.resyncSecret().catch(() => fastify.log.warn('could not re-publish the shared code secret; retrying on the next reconnect'));
    });
    fastify.decorate('verification', service);
    fastify.addHook('onClose', async () => service.close());
  },
  { name: 'verification', fastify: '5.x', dependencies: ['store', 'sms', 'metrics'] },
);
