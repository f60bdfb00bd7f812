import type { SendWindow } from './send-window.js';

/**
 * Sliding-window arithmetic, the one definition every store follows (the memory store calls it; the
 * Lua function `check_windows` in src/stores/redis/lua/prelude.lua implements it on sorted sets).
 *
 * A log is the times (ms) of the sends it counts. An entry counts in a window of `windowMs` while
 * `at > now - windowMs`; a log keeps only what its longest window still counts.
 */

export function longestWindowMs(windows: readonly SendWindow[]): number {
  return windows.reduce((max, w) => Math.max(max, w.windowMs), 0);
}

/** The entries the longest window still counts (`ZREMRANGEBYSCORE -inf now-longest`), in their order. */
export function liveEntries<T extends { readonly at: number }>(entries: readonly T[], windows: readonly SendWindow[], now: number): T[] {
  const cut = now - longestWindowMs(windows);
  return entries.filter((entry) => entry.at > cut);
}

export interface WindowsVerdict {
  /** The first window (0-based) that is full, or undefined when every window has room. */
  readonly refused: number | undefined;
  /** The wait until every full window frees a slot; 0 when none is full. */
  readonly retryAfterMs: number;
}

export const ROOM: WindowsVerdict = { refused: undefined, retryAfterMs: 0 };

/**
 * A window is full when `count` entries fall inside it; it frees a slot when the entry that keeps it
 * full (the `count`-th newest inside it) leaves it, `windowMs` after that entry.
 * `times` must be oldest first.
 */
export function judgeWindows(times: readonly number[], windows: readonly SendWindow[], now: number): WindowsVerdict {
  let refused: number | undefined;
  let retryAfterMs = 0;
  windows.forEach((window, index) => {
    const inside = times.filter((at) => at > now - window.windowMs);
    if (inside.length < window.count) return;
    const blocker = inside[inside.length - window.count] as number;
    refused ??= index;
    retryAfterMs = Math.max(retryAfterMs, blocker + window.windowMs - now);
  });
  return { refused, retryAfterMs };
}
