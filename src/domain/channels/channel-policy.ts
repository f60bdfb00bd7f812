import type { SendWindow } from '../limits/send-window.js';

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
