import { formatDurationChinese, parseDuration } from './duration.js';

/** One sliding window: at most `count` sends in any `windowMs`. */
export interface SendWindow {
  readonly count: number;
  readonly windowMs: number;
  /** The text the window was configured with, e.g. `5/1h`. */
  readonly label: string;
}

const WINDOW = /^(\d+)\/(\S+)$/;

/**
 * Parses `1/60s,5/1h,10/1d`. Returns an error sentence instead of throwing so
 * the config loader can name the variable the text came from.
 */
export function parseSendLimits(text: string): SendWindow[] | string {
  const parts = text.split(',').map((part) => part.trim()).filter((part) => part.length > 0);
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

export function longestWindowMs(windows: readonly SendWindow[]): number {
  return windows.reduce((max, w) => Math.max(max, w.windowMs), 0);
}

/**
 * The seed's refusal sentences, generalised: the first window with count 1 is
 * the resend interval (`短信1分钟之内已经发送过,请稍后再试`); any other window
 * names its count (`短信1小时之内已经发送过5条,超出上限,请稍后再试`).
 */
export function legacyRefusalMessage(windows: readonly SendWindow[], index: number): string {
  const window = windows[index];
  if (!window) return '短信发送过于频繁,请稍后再试';
  const duration = formatDurationChinese(window.windowMs);
  const resendInterval = windows.findIndex((w) => w.count === 1);
  if (index === resendInterval) return `短信${duration}之内已经发送过,请稍后再试`;
  return `短信${duration}之内已经发送过${window.count}条,超出上限,请稍后再试`;
}

/** The per-phone limit across channels, in the seed's style: `该手机号1天之内已经接收过20条短信,超出上限,请稍后再试`. */
export function legacyPhoneRefusalMessage(windows: readonly SendWindow[], index: number): string {
  const window = windows[index];
  if (!window) return '该手机号短信发送过于频繁,请稍后再试';
  return `该手机号${formatDurationChinese(window.windowMs)}之内已经接收过${window.count}条短信,超出上限,请稍后再试`;
}
