import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePhone, parsePhoneWithLibrary } from '../../src/domain/phones/phone.js';

/**
 * parsePhone answers mainland mobiles (11 digits starting 13–19, bare or after +86/0086/86, with the
 * separators the parser accepts) without running libphonenumber-js on each number. These properties
 * prove its answers are the library's, over every five-digit prefix 13000–19999 (the library's mainland
 * mobile pattern is decided within five digits), prefixes the library accepts and rejects alike.
 */
const FORMS = ['', '+86', '0086', '86', '+86 ', '+86-', '(+86) '];
const SEPARATORS = [' ', '-', '.', '(', ')', '\t'];

function decorate(digits: string, cuts: number[], separators: string[]): string {
  let out = '';
  for (let i = 0; i < digits.length; i++) {
    out += digits[i];
    const at = cuts.indexOf(i);
    if (at >= 0) out += separators[at % separators.length];
  }
  return out;
}

const suffix = fc.stringMatching(/^[0-9]{6}$/);
const form = fc.constantFrom(...FORMS);
const decoration = fc.record({
  cuts: fc.uniqueArray(fc.integer({ min: 0, max: 9 }), { maxLength: 3 }),
  separators: fc.array(fc.constantFrom(...SEPARATORS), { minLength: 1, maxLength: 3 }),
});

describe('parsePhone fast path for mainland mobiles', () => {
  it('answers as libphonenumber-js for every prefix 13000–19999, each in every form', () => {
    let accepted = 0;
    let rejected = 0;
    fc.assert(
      fc.property(suffix, suffix, suffix, suffix, (s1, s2, s3, s4) => {
        for (let prefix = 13_000; prefix <= 19_999; prefix++) {
          const suffixes = [s1, s2, s3, s4];
          for (let f = 0; f < 4; f++) {
            const input = `${FORMS[f]}${prefix}${suffixes[f]}`;
            const expected = parsePhoneWithLibrary(input);
            expect(parsePhone(input), input).toEqual(expected);
            if (expected.ok) accepted++;
            else rejected++;
          }
        }
      }),
      { numRuns: 3 },
    );
    // Both kinds of prefix are covered: the library accepts most 13–19 prefixes and rejects some (e.g. 1740[6-9], 179).
    expect(accepted).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(0);
  });

  it('answers as libphonenumber-js for any suffix, form and separators', () => {
    fc.assert(
      fc.property(fc.integer({ min: 13_000, max: 19_999 }), suffix, form, decoration, (prefix, rest, lead, { cuts, separators }) => {
        const input = `${lead}${decorate(`${prefix}${rest}`, cuts, separators)}`;
        expect(parsePhone(input), input).toEqual(parsePhoneWithLibrary(input));
      }),
      { numRuns: 20_000 },
    );
  });

  it('leaves numbers that only look close to the library (wrong length, other leading digits, other countries)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^(\+|00)?(86)?1[0-9]{8,11}$/), (input) => {
        expect(parsePhone(input), input).toEqual(parsePhoneWithLibrary(input));
      }),
      { numRuns: 5_000 },
    );
  });

  it('answers the same twice (the per-prefix table and the cache do not change an answer)', () => {
    for (const input of ['13800000000', '+8617400000000', '8617406000000', '17912345678', '+85261234567', '01012345678']) {
      expect(parsePhone(input)).toEqual(parsePhoneWithLibrary(input));
      expect(parsePhone(input)).toEqual(parsePhoneWithLibrary(input));
    }
  });
});
