import { describeTopology } from '../stores/redis/topology.js';
import type { Config } from './config.js';

/** What the start-up log says the service runs on: the store and the provider, never a secret. */
export function describeSetup(config: Config): { store: string; provider: string } {
  return {
    store: config.redis ? describeTopology(config.redis) : 'memory',
    provider: config.smsProvider === 'aliyun' ? `aliyun ${config.aliyun.endpoint}` : 'log',
  };
}
