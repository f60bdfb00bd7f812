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
 *
 * A mainland mobile (by far the most common input) takes a fast path that gives the answer
 * libphonenumber-js gives (test/unit/phone-fast-path.test.ts proves it over every 1[3-9]xxx
 * prefix); any other input is parsed by libphonenumber-js, with a small bounded cache.
 */
export function parsePhone(input: unknown): PhoneParseResult {
  if (typeof input !== 'string' && typeof input !== 'number') return INVALID;
  const text = String(input);
  if (text.length > MAX_CACHED_LENGTH) return parseUncached(text);
  const fast = parseMainlandMobile(text.replace(SEPARATORS, ''));
  if (fast) return fast;
  const cached = cache.get(text);
  if (cached) return cached;
  const result = parseUncached(text);
  if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string);
  cache.set(text, result);
  return result;
}

/** The libphonenumber-js answer for any input, without the fast path or the cache (tests compare against it). */
export function parsePhoneWithLibrary(input: unknown): PhoneParseResult {
  if (typeof input !== 'string' && typeof input !== 'number') return INVALID;
  return parseUncached(String(input));
}

const INVALID: PhoneParseResult = { ok: false, reason: 'invalid' };
const NOT_MOBILE: PhoneParseResult = { ok: false, reason: 'not_mobile' };

/**
 * Only numbers the fast path does not take (other countries, other forms) are cached. 1,000 entries
 * hold well under 1 MB (bench/README.md: a 50,000-entry cache of mainland phones was ~13 MB of old
 * generation before the fast path); a send and its checks still find the phone there.
 */
const CACHE_SIZE = 1_000;
const MAX_CACHED_LENGTH = 32;
const cache = new Map<string, PhoneParseResult>();

/**
 * An 11-digit number starting 13–19, bare or after `+86`, `0086` or `86` (separators already removed).
 * libphonenumber-js accepts a mainland mobile by a pattern decided within the first five digits (e.g.
 * 1740[0-5]), so whether a prefix is accepted is looked up once per (form, five-digit prefix) by parsing
 * a representative number with the library itself, and kept in a 28 KB table; an accepted number is then
 * built without parsing. A refused one goes to the library: why it is refused (invalid, or a valid number
 * of another type) can depend on more digits.
 */
const MAINLAND_MOBILE = /^(\+86|0086|86)?(1[3-9][0-9]{9})$/;
const FORMS = ['', '+86', '0086', '86'] as const;
const UNKNOWN = 0;
const ACCEPTED = 1;
/** Not accepted, or accepted in a way the fast path does not reproduce: the library parses each number. */
const LIBRARY = 2;
const PREFIXES = 7_000; // 13000 … 19999 → 0 … 6999
const verdicts = new Uint8Array(FORMS.length * PREFIXES);

function parseMainlandMobile(compact: string): PhoneParseResult | undefined {
  if (compact.length < 11 || compact.length > 15) return undefined;
  const match = MAINLAND_MOBILE.exec(compact);
  if (!match) return undefined;
  const form = FORMS.indexOf((match[1] ?? '') as (typeof FORMS)[number]);
  const national = match[2] as string;
  const slot = form * PREFIXES + (Number(national.slice(0, 5)) - 13_000);
  let verdict = verdicts[slot] as number;
  if (verdict === UNKNOWN) {
    verdict = verdictOf(FORMS[form] as string, national.slice(0, 5));
    verdicts[slot] = verdict;
  }
  if (verdict !== ACCEPTED) return undefined;
  return { ok: true, phone: { e164: `+86${national}`, aliyun: national, countryCallingCode: '86', country: 'CN' } };
}

function verdictOf(form: string, prefix: string): number {
  const national = `${prefix}000000`;
  const result = parseUncached(`${form}${national}`);
  if (!result.ok) return LIBRARY;
  const { phone } = result;
  const same = phone.e164 === `+86${national}` && phone.aliyun === national && phone.countryCallingCode === '86' && phone.country === 'CN';
  return same ? ACCEPTED : LIBRARY;
}

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
