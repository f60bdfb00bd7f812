import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, EnvSchema, loadConfig } from '../../src/config/config.js';
import { editDistance, misspelledVariables } from '../../src/config/env-typos.js';

function messageOf(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

describe('configuration errors that say what to fix', () => {
  it('reports every bad variable at once, one line each', () => {
    const message = messageOf({
      CODE_LENGTH: '99',
      PORT: '1.5',
      SMS_PROVIDER: 'twilio',
      SEND_LIMITS: '5 per hour',
      TRUST_PROXY: 'maybe',
      AUDIT_RETENTION: 'forever',
      CHANNELS_FILE: '/nonexistent/channels.json',
    });
    expect(message).toMatch(/^Invalid configuration \(7 settings to fix\):\n/);
    for (const variable of ['CODE_LENGTH', 'PORT', 'SMS_PROVIDER', 'SEND_LIMITS', 'TRUST_PROXY', 'AUDIT_RETENTION', 'CHANNELS_FILE']) {
      expect(message).toMatch(new RegExp(`^  - ${variable} `, 'm'));
    }
    expect(message).toContain('CODE_LENGTH is invalid: expected an integer from 4 to 10 (got "99")');
  });

  it('keeps the one-line form for a single bad variable', () => {
    expect(messageOf({ CODE_LENGTH: '3' })).toBe('Invalid configuration: CODE_LENGTH is invalid: expected an integer from 4 to 10 (got "3")');
  });

  it('lists the allowed values of an enum', () => {
    expect(messageOf({ SMS_PROVIDER: 'twilio' })).toContain('SMS_PROVIDER is invalid: expected one of log, aliyun (got "twilio")');
    expect(messageOf({ LOG_LEVEL: 'loud' })).toContain('LOG_LEVEL is invalid: expected one of fatal, error, warn, info, debug, trace, silent (got "loud")');
    expect(messageOf({ EXPOSE_CODE: 'yes' })).toContain('EXPOSE_CODE is invalid: expected true or false (got "yes")');
  });

  it('says why a file setting cannot be used: missing, a directory, or not JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'config-files-'));
    const garbage = join(dir, 'keys.json');
    writeFileSync(garbage, '[{"name":"shop","token":"secret-token-0123456789"');
    expect(messageOf({ CHANNELS_FILE: '/nonexistent/channels.json' })).toBe(
      'Invalid configuration: CHANNELS_FILE cannot be read (/nonexistent/channels.json): no such file',
    );
    expect(messageOf({ API_KEYS_FILE: dir })).toBe(`Invalid configuration: API_KEYS_FILE cannot be read (${dir}): it is a directory, not a file`);
    const notJson = messageOf({ API_KEYS_FILE: garbage });
    expect(notJson).toBe(`Invalid configuration: API_KEYS_FILE is not valid JSON (${garbage})`);
    expect(notJson).not.toContain('secret-token');
  });

  it('never echoes a secret among several problems', () => {
    const message = messageOf({ REDIS_URL: 'http://user:hunter2@host', CODE_SECRET: 'short', CODE_LENGTH: '2' });
    expect(message).toMatch(/REDIS_URL/);
    expect(message).toMatch(/CODE_SECRET is too short/);
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('short"');
  });
});

describe('misspelt variables', () => {
  const known = Object.keys(EnvSchema.properties);

  it('warns about a name one or two edits from a setting, or the same in other case, naming the setting', () => {
    const config = loadConfig({ SEND_LIMIT: '1/60s', REDIS_ULR: 'redis://127.0.0.1:6379', redis_url: 'x', CODE_SECERT: 'y' });
    expect(config.warnings).toEqual([
      'SEND_LIMIT is not a setting of this service and is ignored: did you mean SEND_LIMITS?',
      'REDIS_ULR is not a setting of this service and is ignored: did you mean REDIS_URL?',
      'redis_url is not a setting of this service and is ignored: did you mean REDIS_URL?',
      'CODE_SECERT is not a setting of this service and is ignored: did you mean CODE_SECRET?',
    ]);
    // The misspelt setting really was ignored: the defaults apply.
    expect(config.redis).toBeUndefined();
  });

  it("leaves the environment's own variables and other software's alone", () => {
    const environment = ['PATH', 'HOME', 'HOSTNAME', 'PWD', 'SHELL', 'TERM', 'LANG', 'USER', 'TZ', 'NODE_VERSION', 'YARN_VERSION', 'NODE_OPTIONS', 'REDIS_PORT', 'REDIS_HOST', 'KUBERNETES_SERVICE_HOST', 'CI'];
    expect(misspelledVariables(Object.fromEntries(environment.map((name) => [name, 'x'])), known)).toEqual([]);
    expect(loadConfig({ PORT: '0', SEND_LIMITS: '1/60s' }).warnings).toEqual([]);
  });

  it('counts a swap of two neighbours as one edit', () => {
    expect(editDistance('REDIS_ULR', 'REDIS_URL')).toBe(1);
    expect(editDistance('SEND_LIMIT', 'SEND_LIMITS')).toBe(1);
    expect(editDistance('HOME', 'HOST')).toBe(2);
    expect(editDistance('', 'PORT')).toBe(4);
  });
});
