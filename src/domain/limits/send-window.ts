/** One sliding window: at most `count` sends in any `windowMs`. */
export interface SendWindow {
  readonly count: number;
  readonly windowMs: number;
  /** The text the window was configured with, e.g. `5/1h`. */
  readonly label: string;
}

export { longestWindowMs } from './windows.js';


/** Sliding windows beyond the per-(channel, phone) ones; an empty list is off. */
export interface AbuseLimits {
  /** Per phone, across all channels. */
  readonly phone: readonly SendWindow[];
  /** Per client IP. */
  readonly ip: readonly SendWindow[];
  /** The whole deployment. */
  readonly global: readonly SendWindow[];
  /** Wrong guesses per phone, across all its codes. */
  readonly verifyFailures: readonly SendWindow[];
  /** Notices per phone (NOTICE_LIMITS), apart from the code limits. */
  readonly notice: readonly SendWindow[];
  /** Checks per client IP (IP_CHECK_LIMITS), whatever their outcome. */
  readonly ipChecks: readonly SendWindow[];
}
