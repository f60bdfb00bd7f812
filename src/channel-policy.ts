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

/** The template the `log` provider names when none is configured. */
export const LOG_TEMPLATE_CODE = 'verification-code';

/** The service-wide defaults, overridden per channel by `CHANNELS_FILE`. */
export function channelPolicies(config: Config): ChannelPolicies {
  const defaults: ChannelPolicy = {
    codeLength: config.codeLength,
    codeTtlMs: config.codeTtlMs,
    sendLimits: config.sendLimits,
    maxVerifyAttempts: config.maxVerifyAttempts,
    signName: config.aliyun.signName,
    templateCode: config.aliyun.templateCode ?? LOG_TEMPLATE_CODE,
    templateVariable: 'code',
  };
  const overridden = new Map(
    Object.entries(config.channels).map(([channel, override]) => [channel, { ...defaults, ...override }]),
  );
  return { forChannel: (channel) => overridden.get(channel) ?? defaults };
}
