import fp from 'fastify-plugin';
import type { Config } from '../../src/config/config.js';
import type { Logger } from '../../src/domain/logger.js';
import { instrumentSmsProvider } from '../../src/metrics/metrics.js';
import { AliyunSmsProvider } from '../../src/providers/aliyun/aliyun-provider.js';
import { hasBreaker, withCircuitBreaker } from '../../src/providers/circuit-breaker.js';
import { LogSmsProvider } from '../../src/providers/log-provider.js';
import type { SmsProvider } from '../../src/domain/sms-provider.js';

declare module 'fastify' {
  interface FastifyInstance {
    sms: SmsProvider;
  }
}

export interface SmsPluginOptions {
  readonly config: Config;
  /** A provider made by the caller (tests); otherwise the one `SMS_PROVIDER` names. */
  readonly provider?: SmsProvider;
}

/** Decorates `fastify.sms` with the provider `SMS_PROVIDER` names. */
export default fp<SmsPluginOptions>(
  async (fastify, { config, provider: given }) => {
    const provider = given ?? createProvider(config, fastify.log);
    // Every send is timed and its failures counted (`sms_provider_request_duration_seconds`, `sms_provider_errors_total`).
    fastify.decorate('sms', instrumentSmsProvider(provider, fastify.metrics));
    // Its circuit, if it has one, as `sms_provider_circuit_state`.
    if (hasBreaker(provider)) fastify.metrics.watchBreaker(provider.name, () => provider.breakerState());
    fastify.addHook('onClose', async () => provider.close?.());
  },
  { name: 'sms', fastify: '5.x', dependencies: ['metrics'] },
);

export function createProvider(config: Config, logger: Logger): SmsProvider {
  switch (config.smsProvider) {
    case 'log':
      return new LogSmsProvider(logger);
    case 'aliyun':
      return withCircuitBreaker(
        new AliyunSmsProvider({
          endpoint: config.aliyun.endpoint,
          accessKeyId: config.aliyun.accessKeyId,
          accessKeySecret: config.aliyun.accessKeySecret,
          securityToken: config.aliyun.securityToken,
          timeoutMs: config.aliyun.timeoutMs,
          logger,
        }),
        config.aliyun.breaker,
      );
  }
}
