import { parsePhoneNumberFromString, type CountryCode, type PhoneNumber } from 'libphonenumber-js/max';

export interface Phone {
  /** `+8613800000000`: the one form every key and audit record uses. */
  readonly e164: string;
  /** What Dysmsapi wants: 11 digits in mainland China, else country code + number without `+`. */
  readonly aliyun: string;
  readonly countryCallingCode: string;
  /** ISO country (`CN`, `HK`, …) when the number maps to one. */
  readonly country: string | undefined;
}

export type PhoneParseResult =
  | { readonly ok: true; readonly phone: Phone }
  | { readonly ok: false; readonly reason: 'invalid' | 'not_mobile' };

const DEFAULT_REGION: CountryCode = 'CN';
const SEPARATORS = /[\s\-().]/g;
const ASCII_NUMBER = /^\+?[0-9]{5,20}$/;
const MOBILE_TYPES = new Set(['MOBILE', 'FIXED_LINE_OR_MOBILE']);

/**
 * Accepts `13800000000`, `+86 138-0000-0000`, `8613800000000`, `008613800000000`,
 * `+852…`, `00852…` and Aliyun's `852…`. Only ASCII digits count: full-width or
 * other Unicode digits are refused rather than silently folded.
 */
export function parsePhone(input: unknown): PhoneParseResult {
  if (typeof input !== 'string' && typeof input !== 'number') return { ok: false, reason: 'invalid' };
  const compact = String(input).replace(SEPARATORS, '');
  if (!ASCII_NUMBER.test(compact)) return { ok: false, reason: 'invalid' };
  const number = bestParse(compact);
  if (!number) return { ok: false, reason: 'invalid' };
  const type = number.getType();
  if (type === undefined || !MOBILE_TYPES.has(type)) return { ok: false, reason: 'not_mobile' };
  const mainland = number.countryCallingCode === '86';
  return {
    ok: true,
    phone: {
      e164: number.number,
      aliyun: mainland ? number.nationalNumber : `${number.countryCallingCode}${number.nationalNumber}`,
      countryCallingCode: number.countryCallingCode,
      country: number.country,
    },
  };
}

function bestParse(compact: string): PhoneNumber | undefined {
  if (compact.startsWith('+')) return valid(parsePhoneNumberFromString(compact));
  if (compact.startsWith('00')) return valid(parsePhoneNumberFromString(`+${compact.slice(2)}`));
  // A national number first (13800000000), then Aliyun's country-code form (8613800000000, 85261234567).
  return (
    valid(parsePhoneNumberFromString(compact, DEFAULT_REGION)) ??
    valid(parsePhoneNumberFromString(`+${compact}`))
  );
}

function valid(number: PhoneNumber | undefined): PhoneNumber | undefined {
  return number?.isValid() ? number : undefined;
}

/**
 * `+8613800000000` → `+86138****0000`, `+85261234567` → `+852****4567`: the country
 * code, the last four digits, and at most three leading digits of the national
 * number, so that at least four digits are always hidden.
 */
export function maskPhone(e164: string, countryCallingCode: string): string {
  const national = e164.slice(1 + countryCallingCode.length);
  if (national.length < 8) return `+${countryCallingCode}****`;
  const head = national.slice(0, Math.min(3, national.length - 8));
  return `+${countryCallingCode}${head}****${national.slice(-4)}`;
}
