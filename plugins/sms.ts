import fp from 'fastify-plugin';
import type { Config } from '../src/config.js';
import type { Logger } from '../src/logger.js';
import { AliyunSmsProvider } from '../src/sms/aliyun-provider.js';
import { LogSmsProvider } from '../src/sms/log-provider.js';
import type { SmsProvider } from '../src/sms/provider.js';

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
    fastify.decorate('sms', provider);
    fastify.addHook('onClose', async () => provider.close?.());
  },
  { name: 'sms', fastify: '5.x' },
);

export function createProvider(config: Config, logger: Logger): SmsProvider {
  switch (config.smsProvider) {
    case 'log':
      return new LogSmsProvider(logger);
    case 'aliyun':
      return new AliyunSmsProvider({
        endpoint: config.aliyun.endpoint,
        accessKeyId: config.aliyun.accessKeyId,
        accessKeySecret: config.aliyun.accessKeySecret,
        securityToken: config.aliyun.securityToken,
        timeoutMs: config.aliyun.timeoutMs,
        logger,
      });
  }
}
