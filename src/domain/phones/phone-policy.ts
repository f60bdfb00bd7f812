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
