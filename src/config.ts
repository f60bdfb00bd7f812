import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parseSendLimits, type SendWindow } from './send-limits.js';

/**
 * Every setting the service reads, as it appears in the environment. Values are
 * converted (`"5"` → 5, `"true"` → true) and then checked against this schema once,
 * at start-up; nothing else in the code reads `process.env`.
 */
export const EnvSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  REDIS_PREFIX: Type.String({ pattern: '^[A-Za-z0-9_.:-]*$', maxLength: 64, default: 'sms:' }),
  CODE_LENGTH: Type.Integer({ minimum: 4, maximum: 10, default: 4 }),
  CODE_TTL_SECONDS: Type.Integer({ minimum: 1, maximum: 86_400, default: 300 }),
  MAX_VERIFY_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 100, default: 5 }),
  SEND_LIMITS: Type.String({ default: '1/60s,5/1h,10/1d' }),
  SMS_PROVIDER: Type.Union([Type.Literal('log'), Type.Literal('aliyun')], { default: 'log' }),
  EXPOSE_CODE: Type.Boolean({ default: false }),
  CODE_SECRET: Type.Optional(Type.String({ minLength: 16 })),
  STORE_TIMEOUT_MS: Type.Integer({ minimum: 1, maximum: 60_000, default: 1000 }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
    { default: 'info' },
  ),
});

export type Env = Static<typeof EnvSchema>;

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly redisUrl: string | undefined;
  readonly redisPrefix: string;
  readonly codeLength: number;
  readonly codeTtlMs: number;
  readonly maxVerifyAttempts: number;
  readonly sendLimits: readonly SendWindow[];
  readonly smsProvider: 'log' | 'aliyun';
  readonly exposeCode: boolean;
  /** Unset: a secret generated once and shared through the store. */
  readonly codeSecret: string | undefined;
  readonly storeTimeoutMs: number;
  readonly logLevel: string;
}

/** A setting that stops the process; the message names the variable and never echoes a secret. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    readonly variable: string,
    detail: string,
  ) {
    super(`Invalid configuration: ${variable} ${detail}`);
  }
}

const SECRET_VARIABLES = new Set(['CODE_SECRET', 'REDIS_URL']);

export function loadConfig(source: Record<string, string | undefined> = process.env): Config {
  const env = readEnv(EnvSchema, source);
  const sendLimits = parseSendLimits(env.SEND_LIMITS);
  if (typeof sendLimits === 'string') throw new ConfigError('SEND_LIMITS', sendLimits);
  return {
    port: env.PORT,
    host: env.HOST,
    redisUrl: env.REDIS_URL,
    redisPrefix: env.REDIS_PREFIX,
    codeLength: env.CODE_LENGTH,
    codeTtlMs: env.CODE_TTL_SECONDS * 1000,
    maxVerifyAttempts: env.MAX_VERIFY_ATTEMPTS,
    sendLimits,
    smsProvider: env.SMS_PROVIDER,
    exposeCode: env.EXPOSE_CODE,
    codeSecret: env.CODE_SECRET,
    storeTimeoutMs: env.STORE_TIMEOUT_MS,
    logLevel: env.LOG_LEVEL,
  };
}

/** Picks the schema's variables out of `source` (empty counts as unset), converts, defaults and checks them. */
export function readEnv<T extends TSchema & { properties: Record<string, TSchema> }>(
  schema: T,
  source: Record<string, string | undefined>,
): Static<T> {
  const picked: Record<string, string> = {};
  for (const [name, property] of Object.entries(schema.properties)) {
    const value = source[name];
    if (value === undefined || value === '') continue;
    // TypeBox's Convert truncates "1.5" to 1; an integer setting must be written as one.
    if (property.type === 'integer' && !/^-?\d+$/.test(value.trim())) {
      throw new ConfigError(name, `is invalid: Expected an integer (got ${JSON.stringify(value)})`);
    }
    picked[name] = value;
  }
  const value = Value.Default(schema, Value.Convert(schema, { ...picked }));
  const error = Value.Errors(schema, value).First();
  if (error) {
    const variable = error.path.replace(/^\//, '').split('/')[0] || '(environment)';
    const raw = picked[variable];
    const shown = raw === undefined || SECRET_VARIABLES.has(variable) ? '' : ` (got ${JSON.stringify(raw)})`;
    throw new ConfigError(variable, `is invalid: ${error.message}${shown}`);
  }
  return value as Static<T>;
}
