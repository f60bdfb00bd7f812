/**
 * Whether `text` shows the phone `national` (bare, or after 86 / +86) as a number of its own. Digits
 * inside a longer number do not count: a log's response time such as `1.1213800000000447` holds
 * `13800000000` without being a phone.
 */
export function showsPhone(text: string, national: string): boolean {
  return new RegExp(`(?<![\\d.])(?:\\+?86)?${national}(?![\\d])`).test(text);
}
