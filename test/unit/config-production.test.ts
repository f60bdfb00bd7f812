import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.js';

const SECRET = 'a-code-secret-of-thirty-two-chars!';
/** Everything production requires, so that each test takes away exactly one thing. */
const PRODUCTION = {
  NODE_ENV: 'production',
  API_KEYS: 'shop:shop-token-0123456789abcdef',
  CODE_SECRET: SECRET,
  ALLOWED_COUNTRIES: 'CN',
  GLOBAL_SEND_LIMITS: '10000/1d',
};

function without(...names: (keyof typeof PRODUCTION)[]): Record<string, string> {
  return Object.fromEntries(Object.entries(PRODUCTION).filter(([name]) => !names.includes(name as keyof typeof PRODUCTION)));
}

function refusal(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

function secretFile(content: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'code-secret-')), 'code_secret');
  writeFileSync(path, content);
  return path;
}

describe('NODE_ENV=production', () => {
  it('starts with every requirement met', () => {
    const config = loadConfig(PRODUCTION);
    expect(config.codeSecret).toBe(SECRET);
    expect(config.limits.global.map((w) => w.label)).toEqual(['10000/1d']);
    expect(config.phonePolicy.allowedCountries).toEqual(new Set(['CN']));
  });

  it('refuses to start without a code secret, saying why', () => {
    const error = refusal(without('CODE_SECRET'));
    expect(error.variable).toBe('CODE_SECRET');
    expect(error.message).toMatch(/CODE_SECRET is required with NODE_ENV=production \(or CODE_SECRET_FILE/);
    expect(error.message).toMatch(/stored in Redis beside their hashes.*recovers every live code/);
  });

  it('refuses a code secret shorter than 32 characters, without echoing it', () => {
    const short = 'only-31-characters-long-secret!';
    expect(short).toHaveLength(31);
    const error = refusal({ ...PRODUCTION, CODE_SECRET: short });
    expect(error.message).toMatch(/CODE_SECRET is too short: at least 32 characters with NODE_ENV=production/);
    expect(error.message).not.toContain(short);
    expect(loadConfig({ ...PRODUCTION, CODE_SECRET: `${short}x` }).codeSecret).toBe(`${short}x`);
  });

  it('reads CODE_SECRET_FILE without its trailing newline', () => {
    expect(loadConfig({ ...without('CODE_SECRET'), CODE_SECRET_FILE: secretFile(`${SECRET}\n`) }).codeSecret).toBe(SECRET);
    expect(loadConfig({ ...without('CODE_SECRET'), CODE_SECRET_FILE: secretFile(`${SECRET}\r\n`) }).codeSecret).toBe(SECRET);
  });

  it('refuses an unreadable or too short CODE_SECRET_FILE, naming the variable', () => {
    expect(refusal({ ...without('CODE_SECRET'), CODE_SECRET_FILE: '/run/secrets/missing' }).message).toBe(
      'Invalid configuration: CODE_SECRET_FILE cannot be read (/run/secrets/missing): no such file',
    );
    const short = secretFile('too-short-secret-but-16+\n');
    const error = refusal({ ...without('CODE_SECRET'), CODE_SECRET_FILE: short });
    expect(error.message).toMatch(/CODE_SECRET_FILE holds a secret shorter than 32 characters/);
    expect(error.message).not.toContain('too-short-secret');
    if (process.getuid?.() !== 0) {
      const locked = secretFile(SECRET);
      chmodSync(locked, 0o000);
      expect(refusal({ ...without('CODE_SECRET'), CODE_SECRET_FILE: locked }).message).toMatch(/CODE_SECRET_FILE cannot be read .*: permission denied/);
    }
  });

  it('refuses CODE_SECRET and CODE_SECRET_FILE together', () => {
    expect(refusal({ ...PRODUCTION, CODE_SECRET_FILE: secretFile(SECRET) }).message).toMatch(/CODE_SECRET, CODE_SECRET_FILE are mutually exclusive/);
  });

  it('refuses EXPOSE_CODE=true', () => {
    expect(refusal({ ...PRODUCTION, EXPOSE_CODE: 'true' }).message).toMatch(/EXPOSE_CODE must not be true with NODE_ENV=production/);
    expect(loadConfig({ ...PRODUCTION, EXPOSE_CODE: 'false' }).exposeCode).toBe(false);
  });

  it('requires ALLOWED_COUNTRIES and GLOBAL_SEND_LIMITS as explicit choices, naming both and why', () => {
    const both = refusal(without('ALLOWED_COUNTRIES', 'GLOBAL_SEND_LIMITS'));
    expect(both.variable).toBe('ALLOWED_COUNTRIES, GLOBAL_SEND_LIMITS');
    expect(both.message).toMatch(/ALLOWED_COUNTRIES, GLOBAL_SEND_LIMITS are required with NODE_ENV=production: .*SMS pumping/);
    const one = refusal(without('GLOBAL_SEND_LIMITS'));
    expect(one.variable).toBe('GLOBAL_SEND_LIMITS');
    expect(one.message).toMatch(/GLOBAL_SEND_LIMITS is required with NODE_ENV=production: ALLOWED_COUNTRIES .* or \* for all\) and GLOBAL_SEND_LIMITS .* or off\)/);
    expect(refusal(without('ALLOWED_COUNTRIES')).variable).toBe('ALLOWED_COUNTRIES');
    // `*` and `off` are explicit choices: every country, no budget.
    const open = loadConfig({ ...PRODUCTION, ALLOWED_COUNTRIES: '*', GLOBAL_SEND_LIMITS: 'off' });
    expect(open.phonePolicy.allowedCountries).toBeUndefined();
    expect(open.limits.global).toEqual([]);
  });

  it('reports every missing requirement at once', () => {
    const error = refusal({ NODE_ENV: 'production', EXPOSE_CODE: 'true' });
    expect(error.problems.map((p) => p.variable)).toEqual(['API_KEYS', 'CODE_SECRET', 'EXPOSE_CODE', 'ALLOWED_COUNTRIES, GLOBAL_SEND_LIMITS']);
  });
});

describe('outside production', () => {
  it('keeps the 16-character minimum and the stored secret, and needs no explicit cost choices', () => {
    const config = loadConfig({ EXPOSE_CODE: 'true' });
    expect(config.codeSecret).toBeUndefined();
    expect(config.exposeCode).toBe(true);
    expect(config.limits.global).toEqual([]);
    expect(config.phonePolicy.allowedCountries).toBeUndefined();
    expect(loadConfig({ CODE_SECRET: 'sixteen-chars-ok' }).codeSecret).toBe('sixteen-chars-ok');
    expect(refusal({ CODE_SECRET: 'fifteen-chars!!' }).message).toBe(
      'Invalid configuration: CODE_SECRET is too short: at least 16 characters (e.g. openssl rand -base64 32)',
    );
    expect(loadConfig({ CODE_SECRET_FILE: secretFile('sixteen-chars-ok\n') }).codeSecret).toBe('sixteen-chars-ok');
  });

  it('takes * in ALLOWED_COUNTRIES as every country', () => {
    expect(loadConfig({ ALLOWED_COUNTRIES: ' * ' }).phonePolicy.allowedCountries).toBeUndefined();
    expect(refusal({ ALLOWED_COUNTRIES: '*,CN' }).message).toMatch(/ALLOWED_COUNTRIES is invalid: expected .* or \* for all/);
  });
});
