import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/config/duration.js';
import { parseSendLimits } from '../../src/config/send-limits.js';
import { longestWindowMs } from '../../src/domain/limits/send-window.js';
import { formatDurationChinese, legacyRefusalMessage } from '../../plugins/routes/legacy/messages.js';

describe('parseSendLimits', () => {
  it('parses count/duration windows in order', () => {
    expect(parseSendLimits('1/60s,5/1h,10/1d')).toEqual([
      { count: 1, windowMs: 60_000, label: '1/60s' },
      { count: 5, windowMs: 3_600_000, label: '5/1h' },
      { count: 10, windowMs: 86_400_000, label: '10/1d' },
    ]);
    expect(parseSendLimits(' 3/10m ')).toEqual([{ count: 3, windowMs: 600_000, label: '3/10m' }]);
  });

  it.each(['', '1', '1/60', '0/60s', '-1/60s', '1/60x', '1/0s', 'a/1h', '1/60s,,x'])('refuses %j', (text) => {
    expect(typeof parseSendLimits(text)).toBe('string');
  });

  it('finds the longest window', () => {
    const windows = parseSendLimits('10/1d,1/60s');
    if (typeof windows === 'string') throw new Error(windows);
    expect(longestWindowMs(windows)).toBe(86_400_000);
  });
});

describe('durations', () => {
  it('parses units', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('2d')).toBe(172_800_000);
    expect(parseDuration('1.5h')).toBeUndefined();
  });

  it('formats with the largest whole Chinese unit', () => {
    expect(formatDurationChinese(60_000)).toBe('1分钟');
    expect(formatDurationChinese(90_000)).toBe('90秒');
    expect(formatDurationChinese(7_200_000)).toBe('2小时');
    expect(formatDurationChinese(86_400_000)).toBe('1天');
  });
});

describe('legacyRefusalMessage', () => {
  const defaults = parseSendLimits('1/60s,5/1h,10/1d');
  if (typeof defaults === 'string') throw new Error(defaults);

  it("repeats the seed's sentences for the default limits", () => {
    expect(legacyRefusalMessage(defaults, 0)).toBe('短信1分钟之内已经发送过,请稍后再试');
    expect(legacyRefusalMessage(defaults, 1)).toBe('短信1小时之内已经发送过5条,超出上限,请稍后再试');
    expect(legacyRefusalMessage(defaults, 2)).toBe('短信1天之内已经发送过10条,超出上限,请稍后再试');
  });

  it('treats the first window with count 1 as the resend interval, wherever it stands', () => {
    const limits = parseSendLimits('5/1h,1/1d');
    if (typeof limits === 'string') throw new Error(limits);
    expect(legacyRefusalMessage(limits, 0)).toBe('短信1小时之内已经发送过5条,超出上限,请稍后再试');
    expect(legacyRefusalMessage(limits, 1)).toBe('短信1天之内已经发送过,请稍后再试');
    const two = parseSendLimits('1/30s,1/10m');
    if (typeof two === 'string') throw new Error(two);
    expect(legacyRefusalMessage(two, 1)).toBe('短信10分钟之内已经发送过1条,超出上限,请稍后再试');
  });

  it('names the configured count and duration for other limits', () => {
    const custom = parseSendLimits('3/10s');
    if (typeof custom === 'string') throw new Error(custom);
    expect(legacyRefusalMessage(custom, 0)).toBe('短信10秒之内已经发送过3条,超出上限,请稍后再试');
  });
});
