import { describe, expect, it } from 'vitest';
import { maskPhone, parsePhone } from '../../src/domain/phones/phone.js';

describe('parsePhone', () => {
  it.each(['13800000000', '+86 138-0000-0000', '8613800000000', '008613800000000', '+86 (138) 0000.0000', 13800000000])(
    '%s is the mainland mobile +8613800000000',
    (input) => {
      expect(parsePhone(input)).toEqual({
        ok: true,
        phone: { e164: '+8613800000000', aliyun: '13800000000', countryCallingCode: '86', country: 'CN' },
      });
    },
  );

  it.each(['+85261234567', '0085261234567', '85261234567'])('%s is the Hong Kong mobile +85261234567', (input) => {
    const result = parsePhone(input);
    expect(result).toMatchObject({ ok: true, phone: { e164: '+85261234567', aliyun: '85261234567', country: 'HK' } });
  });

  it('refuses landlines as not mobile', () => {
    expect(parsePhone('01012345678')).toEqual({ ok: false, reason: 'not_mobile' });
  });

  it.each(['', '123', 'abc', '１３８００１３８０００', '138\u00000000000', '+86138000000001234567890', null, {}, [], 1.5])(
    'refuses %j as invalid',
    (input) => {
      expect(parsePhone(input)).toEqual({ ok: false, reason: 'invalid' });
    },
  );
});

describe('maskPhone', () => {
  it('keeps the country code, the last four and at most three leading digits, hiding at least four', () => {
    expect(maskPhone('+8613800000000', '86')).toBe('+86138****0000');
    expect(maskPhone('+85261234567', '852')).toBe('+852****4567');
    expect(maskPhone('+6591234567', '65')).toBe('+65****4567');
    expect(maskPhone('+14155552671', '1')).toBe('+141****2671');
    expect(maskPhone('+85366123456', '853')).toBe('+853****3456');
    expect(maskPhone('+3531234', '353')).toBe('+353****');
  });
});
