/** Parses `60s`, `5m`, `1h`, `1d` (and `250ms`, for tests) into milliseconds. */
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

const DURATION = /^(\d+)(ms|s|m|h|d)$/;

export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  return Number.isSafeInteger(ms) && ms > 0 ? ms : undefined;
}

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
