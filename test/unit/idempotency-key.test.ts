import { describe, expect, it } from 'vitest';
import { parseIdempotencyKey } from '../../plugins/hooks/idempotency.js';
import { ConfigError, loadConfig } from '../../src/config/config.js';

describe('Idempotency-Key header values', () => {
  it('takes a bare value as is and an sf-string unquoted, with its escapes', () => {
    expect(parseIdempotencyKey('8e03978e-40d5-43e8-bc93-6894a57f9324')).toBe('8e03978e-40d5-43e8-bc93-6894a57f9324');
    expect(parseIdempotencyKey('"8e03978e-40d5"')).toBe('8e03978e-40d5');
    expect(parseIdempotencyKey('"say \\"hi\\" \\\\ bye"')).toBe('say "hi" \\ bye');
    expect(parseIdempotencyKey('x'.repeat(255))).toBe('x'.repeat(255));
    expect(parseIdempotencyKey(`"${'x'.repeat(255)}"`)).toBe('x'.repeat(255));
  });

  it('refuses empty, longer than 255, non-printable or non-ASCII keys and broken sf-strings', () => {
    for (const value of ['', '""', 'x'.repeat(256), 'tab\there', 'caf\u00e9', '\u4e2d', '"a"b"', '"a\\b"', '"a\\"', ['a', 'b']]) {
      expect(parseIdempotencyKey(value), JSON.stringify(value)).toBeUndefined();
    }
  });
});

describe('IDEMPOTENCY_TTL', () => {
  it('defaults to 24h and takes the duration syntax of the other limits', () => {
    expect(loadConfig({}).idempotencyTtlMs).toBe(86_400_000);
    expect(loadConfig({ IDEMPOTENCY_TTL: '30m' }).idempotencyTtlMs).toBe(1_800_000);
  });

  it('stops start-up on a bad value, naming the variable', () => {
    expect(() => loadConfig({ IDEMPOTENCY_TTL: 'forever' })).toThrow(ConfigError);
    expect(() => loadConfig({ IDEMPOTENCY_TTL: 'forever' })).toThrow(/IDEMPOTENCY_TTL.*duration/);
  });
});
