/**
 * Variables in the environment that look like one of the service's but are not (`SEND_LIMIT`,
 * `REDIS_ULR`, `redis_url`): the service would silently ignore them. Only names close to one of
 * `known` count (at most 2 edits, and fewer than a quarter of the name), so the environment's own
 * variables (`PATH`, `HOME`, `HOSTNAME`, …) are never reported.
 */
export function misspelledVariables(source: Record<string, string | undefined>, known: readonly string[]): string[] {
  const names = new Set(known);
  const warnings: string[] = [];
  for (const name of Object.keys(source)) {
    if (names.has(name) || source[name] === undefined) continue;
    const nearest = closest(name, known);
    if (nearest) warnings.push(`${name} is not a setting of this service and is ignored: did you mean ${nearest}?`);
  }
  return warnings;
}

function closest(name: string, known: readonly string[]): string | undefined {
  const upper = name.toUpperCase();
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(upper, candidate);
    if (!best || distance < best.distance) best = { name: candidate, distance };
  }
  // Same name in other case (`redis_url`), or a slip of one or two characters in a long enough name.
  if (best && (best.distance === 0 || (best.distance <= 2 && best.distance < name.length / 4))) return best.name;
  return undefined;
}

/** Edits (insert, delete, substitute, swap two neighbours) from `a` to `b` (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) (rows[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++) {
    const row = rows[i] as number[];
    const above = rows[i - 1] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((above[j] as number) + 1, (row[j - 1] as number) + 1, (above[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j] as number, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      }
    }
  }
  return (rows[a.length] as number[])[b.length] as number;
}
