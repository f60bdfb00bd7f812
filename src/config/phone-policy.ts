import { commaList } from './comma-list.js';

/** `+8617,+882` (a leading `+` is optional). Undefined if any entry is not a prefix of digits. */
export function parseBlockedPrefixes(text: string): string[] | undefined {
  const parts = commaList(text);
  const prefixes = parts.map((part) => (part.startsWith('+') ? part : `+${part}`));
  return prefixes.every((prefix) => /^\+\d{1,15}$/.test(prefix)) ? prefixes : undefined;
}

/** `CN,HK,MO`. Undefined if any entry is not a two-letter code. */
export function parseCountries(text: string): Set<string> | undefined {
  const parts = commaList(text).map((part) => part.toUpperCase());
  return parts.length > 0 && parts.every((part) => /^[A-Z]{2}$/.test(part)) ? new Set(parts) : undefined;
}
