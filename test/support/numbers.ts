/**
 * Whether `text` shows `digits` as a number of its own. Digits inside a longer number do not count:
 * a log's timestamp `1796202471472` holds the code `2471`, and a response time `1.1213800000000447`
 * holds `13800000000`, without either having leaked.
 */
export function showsNumber(text: string, digits: string): boolean {
  return new RegExp(`(?<![\\d.])${digits}(?!\\d)`).test(text);
}

/** showsNumber for a phone's national digits, bare or after 86 / +86. */
export function showsPhone(text: string, national: string): boolean {
  return new RegExp(`(?<![\\d.])(?:\\+?86)?${national}(?!\\d)`).test(text);
}
