import { UNIT_MS } from '../../../src/config/duration.js';
import type { SendWindow } from '../../../src/domain/limits/send-window.js';

/** The seed's wording, kept with the routes that answer in it. */

const CHINESE_UNITS: ReadonlyArray<readonly [number, string]> = [
  [UNIT_MS.d, '天'],
  [UNIT_MS.h, '小时'],
  [UNIT_MS.m, '分钟'],
  [UNIT_MS.s, '秒'],
  [UNIT_MS.ms, '毫秒'],
];

/** `60000` → `1分钟`, `3600000` → `1小时`: the largest unit that divides the duration evenly. */
export function formatDurationChinese(ms: number): string {
  for (const [unit, name] of CHINESE_UNITS) {
    if (ms % unit === 0) return `${ms / unit}${name}`;
  }
  return `${ms}毫秒`;
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
