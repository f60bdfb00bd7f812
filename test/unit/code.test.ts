import { describe, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import { CODE_DIGEST_LENGTH, digestMatches, generateCode, hashCode, isWellFormedCode } from '../../src/domain/codes/code.js';

describe('generateCode', () => {
  it('makes codes of exactly the given number of ASCII digits', () => {
    for (const length of [4, 6, 10]) {
      for (let i = 0; i < 200; i++) expect(generateCode(length)).toMatch(new RegExp(`^[0-9]{${length}}$`));
    }
  });

  it('draws every digit in every position about equally (leading zeros included)', () => {
    const samples = 20_000;
    const counts = Array.from({ length: 4 }, () => new Array<number>(10).fill(0));
    for (let i = 0; i < samples; i++) {
      [...generateCode(4)].forEach((digit, position) => {
        (counts[position] as number[])[Number(digit)]! += 1;
      });
    }
    // Chi-square with 9 degrees of freedom; 27.88 is the 0.999 quantile.
    for (const position of counts) {
      const expected = samples / 10;
      const chiSquare = position.reduce((sum, observed) => sum + (observed - expected) ** 2 / expected, 0);
      expect(chiSquare).toBeLessThan(27.88);
    }
  });
});

describe('hashCode', () => {
  it('binds the code to its secret, channel and phone, and hides it', () => {
    const h = hashCode('secret', 'login', '+8613800000000', '1234');
    expect(h).not.toContain('1234');
    expect(hashCode('secret', 'login', '+8613800000000', '1234')).toBe(h);
    expect(hashCode('other', 'login', '+8613800000000', '1234')).not.toBe(h);
    expect(hashCode('secret', 'reset', '+8613800000000', '1234')).not.toBe(h);
    expect(hashCode('secret', 'login', '+8613900000000', '1234')).not.toBe(h);
  });

  it('is the first 22 base64url characters of the HMAC, and a digest stored whole still matches it', () => {
    const whole = createHmac('sha256', 'secret').update('login\n+8613800000000\n1234').digest('base64url');
    const h = hashCode('secret', 'login', '+8613800000000', '1234');
    expect(whole).toHaveLength(43);
    expect(h).toHaveLength(CODE_DIGEST_LENGTH);
    expect(whole.startsWith(h)).toBe(true);
    expect(digestMatches(h, h)).toBe(true);
    expect(digestMatches(whole, h)).toBe(true);
    expect(digestMatches(whole, hashCode('secret', 'login', '+8613800000000', '1235'))).toBe(false);
    // Only a whole stored digest matches by its start, and only a short given one.
    expect(digestMatches(h, h.slice(0, 10))).toBe(false);
    expect(digestMatches(whole.slice(0, 30), h)).toBe(false);
    expect(digestMatches(h, whole)).toBe(false);
  });
});

describe('isWellFormedCode', () => {
  it('accepts only the configured number of ASCII digits', () => {
    expect(isWellFormedCode('0123', 4)).toBe(true);
    for (const code of ['123', '12345', '１２３４', '١٢٣٤', '12a4', 1234, null]) expect(isWellFormedCode(code, 4)).toBe(false);
  });
});
