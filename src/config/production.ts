import { readFileSync } from 'node:fs';
import { ConfigError, type ConfigProblem } from './config-error.js';
import { describeReadError } from './json-config-file.js';

/** Minimum length of the code secret: any in production, as before elsewhere. */
export const MIN_CODE_SECRET = { production: 32, other: 16 } as const;

const STORED_SECRET_RISK =
  'without it the HMAC key of the codes is stored in Redis beside their hashes, so anyone who reads a dump, a replica or MONITOR recovers every live code in milliseconds';

/**
 * The code secret: `CODE_SECRET`, or the content of `CODE_SECRET_FILE` (a mounted container secret;
 * its trailing newline is not part of it). Undefined: none configured, which production refuses.
 */
export function readCodeSecret(
  env: { CODE_SECRET?: string | undefined; CODE_SECRET_FILE?: string | undefined },
  production: boolean,
): string | undefined {
  if (env.CODE_SECRET && env.CODE_SECRET_FILE) throw new ConfigError('CODE_SECRET, CODE_SECRET_FILE', 'are mutually exclusive: set only one');
  const minimum = production ? MIN_CODE_SECRET.production : MIN_CODE_SECRET.other;
  const mode = production ? ' with NODE_ENV=production' : '';
  if (env.CODE_SECRET_FILE) {
    let secret: string;
    try {
      secret = readFileSync(env.CODE_SECRET_FILE, 'utf8').replace(/[\r\n]+$/, '');
    } catch (error) {
      throw new ConfigError('CODE_SECRET_FILE', `cannot be read (${env.CODE_SECRET_FILE}): ${describeReadError(error)}`);
    }
    if (secret.length < minimum) {
      throw new ConfigError('CODE_SECRET_FILE', `holds a secret shorter than ${minimum} characters (${minimum} at least${mode}; e.g. openssl rand -base64 32)`);
    }
    return secret;
  }
  if (env.CODE_SECRET !== undefined && env.CODE_SECRET.length < minimum) {
    throw new ConfigError('CODE_SECRET', `is too short: at least ${minimum} characters${mode} (e.g. openssl rand -base64 32)`);
  }
  if (env.CODE_SECRET === undefined && production) {
    throw new ConfigError('CODE_SECRET', `is required with NODE_ENV=production (or CODE_SECRET_FILE, a file holding it): ${STORED_SECRET_RISK}`);
  }
  return env.CODE_SECRET;
}

/** The start-up warning when the secret is generated and kept in Redis (outside production only). */
export const STORED_SECRET_WARNING = `CODE_SECRET is unset: the code secret is generated and kept in Redis; ${STORED_SECRET_RISK}. Set CODE_SECRET or CODE_SECRET_FILE (required with NODE_ENV=production).`;

/** What NODE_ENV=production refuses: EXPOSE_CODE=true, and no explicit cost choices. */
export function productionRefusals(env: {
  EXPOSE_CODE: boolean;
  ALLOWED_COUNTRIES?: string | undefined;
  GLOBAL_SEND_LIMITS?: string | undefined;
}): ConfigProblem[] {
  const refusals: ConfigProblem[] = [];
  if (env.EXPOSE_CODE) {
    refusals.push({
      variable: 'EXPOSE_CODE',
      detail: 'must not be true with NODE_ENV=production: it returns every code in the send response, so any caller could approve any phone',
    });
  }
  const missing = (['ALLOWED_COUNTRIES', 'GLOBAL_SEND_LIMITS'] as const).filter((name) => env[name] === undefined);
  if (missing.length > 0) {
    refusals.push({
      variable: missing.join(', '),
      detail: `${missing.length > 1 ? 'are' : 'is'} required with NODE_ENV=production: ALLOWED_COUNTRIES (countries that may receive SMS, e.g. CN,HK, or * for all) and GLOBAL_SEND_LIMITS (the deployment's SMS budget, e.g. 10000/1d, or off) must be explicit choices, so that no deployment is open to SMS pumping (texts to premium-rate numbers, paid by you) by default`,
    });
  }
  return refusals;
}
