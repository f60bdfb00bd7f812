import type { Config } from './config.js';
import type { SendWindow } from './send-limits.js';

/** Everything that may differ between channels. */
export interface ChannelPolicy {
  readonly codeLength: number;
  readonly codeTtlMs: number;
  readonly sendLimits: readonly SendWindow[];
  readonly maxVerifyAttempts: number;
  /** Provider signature; undefined for providers that need none. */
  readonly signName: string | undefined;
  /** Verification-code template. */
  readonly templateCode: string;
  /** Name of the template variable that receives the code. */
  readonly templateVariable: string;
}

export interface ChannelPolicies {
  forChannel(channel: string): ChannelPolicy;
}

export const LOG_TEMPLATE_CODE = 'verification-code';

/** Every channel gets the service-wide defaults. */
export function uniformPolicies(config: Config): ChannelPolicies {
  const policy: ChannelPolicy = {
    codeLength: config.codeLength,
    codeTtlMs: config.codeTtlMs,
    sendLimits: config.sendLimits,
    maxVerifyAttempts: config.maxVerifyAttempts,
    signName: undefined,
    templateCode: LOG_TEMPLATE_CODE,
    templateVariable: 'code',
  };
  return { forChannel: () => policy };
}
