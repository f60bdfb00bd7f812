import type { SendWindow } from '../domain/limits/send-window.js';
import { commaList } from './comma-list.js';
import { parseDuration } from './duration.js';

const WINDOW = /^(\d+)\/(\S+)$/;

/**
 * Parses `1/60s,5/1h,10/1d`. Returns an error sentence instead of throwing so
 * the config loader can name the variable the text came from.
 */
export function parseSendLimits(text: string): SendWindow[] | string {
  const parts = commaList(text);
  if (parts.length === 0) return 'expected at least one window such as 1/60s';
  const windows: SendWindow[] = [];
  for (const part of parts) {
    const match = WINDOW.exec(part);
    const count = match ? Number(match[1]) : NaN;
    const windowMs = match ? parseDuration(match[2] as string) : undefined;
    if (!match || !Number.isSafeInteger(count) || count < 1 || windowMs === undefined) {
      return `"${part}" is not count/duration (e.g. 5/1h; units ms, s, m, h, d)`;
    }
    windows.push({ count, windowMs, label: part });
  }
  return windows;
}
