import fp from 'fastify-plugin';
import type { Config } from '../src/config.js';
import { LogSmsProvider } from '../src/sms/log-provider.js';
import type { SmsProvider } from '../src/sms/provider.js';

declare module 'fastify' {
  interface FastifyInstance {
    sms: SmsProvider;
  }
}

export interface SmsPluginOptions {
  readonly config: Config;
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

function createProvider(config: Config, logger: SmsLogger): SmsProvider {
  switch (config.smsProvider) {
    case 'log':
      return new LogSmsProvider(logger);
    case 'aliyun':
      throw new Error('SMS_PROVIDER=aliyun is not available yet');
  }
}

type SmsLogger = ConstructorParameters<typeof LogSmsProvider>[0];
