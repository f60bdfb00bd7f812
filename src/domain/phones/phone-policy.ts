import type { Phone } from './phone.js';

/** Which numbers may receive SMS at all: the usual defence against SMS pumping to premium ranges. */
export interface PhonePolicy {
  /** E.164 prefixes never sent to, e.g. `+8617`, `+882`. */
  readonly blockedPrefixes: readonly string[];
  /** ISO 3166 countries allowed; undefined: all. */
  readonly allowedCountries: ReadonlySet<string> | undefined;
}

export function isPhoneAllowed(policy: PhonePolicy, phone: Phone): boolean {
  if (policy.blockedPrefixes.some((prefix) => phone.e164.startsWith(prefix))) return false;
  if (policy.allowedCountries && !(phone.country && policy.allowedCountries.has(phone.country))) return false;
  return true;
}

/** `+8617,+882` (a leading `+` is optional). Undefined if any entry is not a prefix of digits. */
export function parseBlockedPrefixes(text: string): string[] | undefined {
  const parts = text.split(',').map((part) => part.trim()).filter(Boolean);
  const prefixes = parts.map((part) => (part.startsWith('+') ? part : `+${part}`));
  return prefixes.every((prefix) => /^\+\d{1,15}$/.test(prefix)) ? prefixes : undefined;
}

/** `CN,HK,MO`. Undefined if any entry is not a two-letter code. */
export function parseCountries(text: string): Set<string> | undefined {
  const parts = text.split(',').map((part) => part.trim().toUpperCase()).filter(Boolean);
  return parts.length > 0 && parts.every((part) => /^[A-Z]{2}$/.test(part)) ? new Set(parts) : undefined;
}
