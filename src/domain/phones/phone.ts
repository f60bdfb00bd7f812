import { parsePhoneNumberFromString as parseWithAllTypes } from 'libphonenumber-js/max';
import { parsePhoneNumberFromString as parseMobile, type CountryCode, type PhoneNumber } from 'libphonenumber-js/mobile';

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
  if (typeof input !== 'string' && typeof input !== 'number') return INVALID;
  const text = String(input);
  if (text.length > MAX_CACHED_LENGTH) return parseUncached(text);
  const cached = cache.get(text);
  if (cached) return cached;
  const result = parseUncached(text);
  if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string);
  cache.set(text, result);
  return result;
}

const INVALID: PhoneParseResult = { ok: false, reason: 'invalid' };
const NOT_MOBILE: PhoneParseResult = { ok: false, reason: 'not_mobile' };

/** Parsing is pure and costs microseconds; a send and its checks parse the same text. */
const CACHE_SIZE = 50_000;
const MAX_CACHED_LENGTH = 32;
const cache = new Map<string, PhoneParseResult>();

function parseUncached(text: string): PhoneParseResult {
  const compact = text.replace(SEPARATORS, '');
  if (!ASCII_NUMBER.test(compact)) return INVALID;
  // Mobile-only metadata first (about twice as fast); the full metadata only tells a landline apart.
  const number = bestParse(compact, parseMobile);
  if (!number) return bestParse(compact, parseWithAllTypes) ? NOT_MOBILE : INVALID;
  const type = number.getType();
  if (type === undefined || !MOBILE_TYPES.has(type)) return NOT_MOBILE;
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

type Parse = (text: string, region?: CountryCode) => PhoneNumber | undefined;

function bestParse(compact: string, parse: Parse): PhoneNumber | undefined {
  if (compact.startsWith('+')) return valid(parse(compact));
  if (compact.startsWith('00')) return valid(parse(`+${compact.slice(2)}`));
  // A national number first (13800000000), then Aliyun's country-code form (8613800000000, 85261234567).
  return valid(parse(compact, DEFAULT_REGION)) ?? valid(parse(`+${compact}`));
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
