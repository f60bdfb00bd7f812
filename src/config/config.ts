import { Type, type Static } from '@sinclair/typebox';
import { loadChannelsFile, type ChannelOverride } from './channels-file.js';
import { ConfigError, ConfigProblems } from './config-error.js';
import { readEnv } from './env-reader.js';
import { misspelledVariables } from './env-typos.js';
import { productionRefusals, readCodeSecret } from './production.js';

export { ConfigError, readEnv };
export type { AbuseLimits };
import { loadApiKeysFile, parseApiKeys, type ApiKey } from './api-keys.js';
import { parseDuration } from './duration.js';
import type { PhonePolicy } from '../domain/phones/phone-policy.js';
import type { RedisTopology } from '../stores/redis/topology.js';
import { parseBlockedPrefixes, parseCountries } from './phone-policy.js';
import { parseHostPorts } from './redis-topology.js';
import { parseTrustProxy, type TrustProxy } from './trust-proxy.js';
import type { AbuseLimits, SendWindow } from '../domain/limits/send-window.js';
import { parseSendLimits } from './send-limits.js';
import { lifecycleSettings, type LifecycleSettings } from './lifecycle.js';
import { noticeTemplates } from './notice-templates.js';

/**
 * Every setting the service reads, as it appears in the environment. Values are
 * converted (`"5"` → 5, `"true"` → true) and then checked against this schema once,
 * at start-up; nothing else in the code reads `process.env`.
 */
export const EnvSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  REDIS_CLUSTER_NODES: Type.Optional(Type.String()),
  REDIS_SENTINELS: Type.Optional(Type.String()),
  REDIS_SENTINEL_NAME: Type.String({ minLength: 1, default: 'mymaster' }),
  REDIS_PASSWORD: Type.Optional(Type.String()),
  REDIS_TLS: Type.Boolean({ default: false }),
  REDIS_PREFIX: Type.String({ pattern: '^[A-Za-z0-9_.:-]*$', maxLength: 64, default: 'sms:' }),
  CODE_LENGTH: Type.Integer({ minimum: 4, maximum: 10, default: 4 }),
  CODE_TTL_SECONDS: Type.Integer({ minimum: 1, maximum: 86_400, default: 300 }),
  MAX_VERIFY_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 100, default: 5 }),
  SEND_LIMITS: Type.String({ default: '1/60s,5/1h,10/1d' }),
  SMS_PROVIDER: Type.Union([Type.Literal('log'), Type.Literal('aliyun')], { default: 'log' }),
  EXPOSE_CODE: Type.Boolean({ default: false }),
  CODE_SECRET: Type.Optional(Type.String()),
  CODE_SECRET_FILE: Type.Optional(Type.String()),
  STORE_TIMEOUT_MS: Type.Integer({ minimum: 1, maximum: 60_000, default: 1000 }),
  ALIBABA_CLOUD_ACCESS_KEY_ID: Type.Optional(Type.String()),
  ALIBABA_CLOUD_ACCESS_KEY_SECRET: Type.Optional(Type.String()),
  ALIBABA_CLOUD_SECURITY_TOKEN: Type.Optional(Type.String()),
  ALIYUN_SMS_ENDPOINT: Type.String({ pattern: '^https?://[^/?#@\\s]+/?$', default: 'https://dysmsapi.aliyuncs.com' }),
  ALIYUN_SMS_SIGN_NAME: Type.Optional(Type.String({ maxLength: 64 })),
  ALIYUN_SMS_TEMPLATE_CODE: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' })),
  ALIYUN_SMS_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: 5000 }),
  CHANNELS_FILE: Type.Optional(Type.String()),
  PROVIDER_BREAKER_THRESHOLD: Type.Integer({ minimum: 1, maximum: 1000, default: 5 }),
  PROVIDER_BREAKER_COOLDOWN_MS: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 10_000 }),
  AUDIT_STREAM: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.:{}-]{1,128}$' })),
  AUDIT_RETENTION: Type.String({ default: '30d' }),
  AUDIT_MAXLEN: Type.Optional(Type.Integer({ minimum: 1 })),
  IDEMPOTENCY_TTL: Type.String({ default: '24h' }),
  VERIFICATION_RETENTION: Type.String({ default: '24h' }),
  ALIYUN_RECEIPT_TOKEN: Type.Optional(Type.String()),
  TEST_PHONES: Type.Optional(Type.String()),
  API_KEYS: Type.Optional(Type.String()),
  API_KEYS_FILE: Type.Optional(Type.String()),
  PROTECT_OPS_ROUTES: Type.Optional(Type.Boolean()),
  ALLOW_UNAUTHENTICATED: Type.Boolean({ default: false }),
  NODE_ENV: Type.Optional(Type.String()),
  PHONE_SEND_LIMITS: Type.String({ default: '20/1d' }),
  IP_SEND_LIMITS: Type.String({ default: 'off' }),
  // No default in the schema: production requires it set; elsewhere unset means off.
  GLOBAL_SEND_LIMITS: Type.Optional(Type.String()),
  VERIFY_FAILURE_LIMITS: Type.String({ default: '20/1d' }),
  NOTICE_LIMITS: Type.String({ default: '10/1h,50/1d' }),
  NOTICE_TEMPLATES: Type.Optional(Type.String()),
  IP_CHECK_LIMITS: Type.String({ default: 'off' }),
  BLOCKED_PREFIXES: Type.Optional(Type.String()),
  ALLOWED_COUNTRIES: Type.Optional(Type.String()),
  TRUST_PROXY: Type.String({ default: 'false' }),
  WORKERS: Type.Integer({ minimum: 1, maximum: 64, default: 1 }),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 0, maximum: 600_000, default: 10_000 }),
  BODY_LIMIT_BYTES: Type.Integer({ minimum: 1024, maximum: 1_048_576, default: 16_384 }),
  REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 10_000 }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
    { default: 'info' },
  ),
});

export type Env = Static<typeof EnvSchema>;

export interface Config extends LifecycleSettings {
  readonly port: number;
  readonly host: string;
  /** Undefined: the in-memory store. */
  readonly redis: RedisTopology | undefined;
  readonly redisPrefix: string;
  readonly codeLength: number;
  readonly codeTtlMs: number;
  readonly maxVerifyAttempts: number;
  readonly sendLimits: readonly SendWindow[];
  readonly smsProvider: 'log' | 'aliyun';
  readonly exposeCode: boolean;
  /** `CODE_SECRET` or `CODE_SECRET_FILE`'s content. Unset: a secret generated once and shared through the store. */
  readonly codeSecret: string | undefined;
  readonly storeTimeoutMs: number;
  readonly logLevel: string;
  readonly aliyun: AliyunConfig;
  readonly audit: AuditConfig;
  /** Callers; empty: no authentication (see `ALLOW_UNAUTHENTICATED`). */
  readonly apiKeys: readonly ApiKey[];
  /** Whether `/metrics` and `/docs` need a key too. */
  readonly protectOpsRoutes: boolean;
  readonly limits: AbuseLimits;
  /** `NOTICE_TEMPLATES`: when set, the only templates a notice may use. */
  readonly noticeTemplates: ReadonlySet<string> | undefined;
  readonly phonePolicy: PhonePolicy;
  readonly trustProxy: TrustProxy;
  readonly shutdownTimeoutMs: number;
  /** Processes serving the port (Node's cluster module); more than one needs Redis. */
  readonly workers: number;
  readonly bodyLimitBytes: number;
  /** Time for a request's headers and body to arrive; then 408 and the connection closed. */
  readonly requestTimeoutMs: number;
  /** Per-channel overrides from `CHANNELS_FILE`; channels not in it use the defaults. */
  readonly channels: Readonly<Record<string, ChannelOverride>>;
  /** What to warn about at start-up: variables that look like a misspelt setting. */
  readonly warnings: readonly string[];
  /** How long the answer to a request with an `Idempotency-Key` is kept (`IDEMPOTENCY_TTL`). */
  readonly idempotencyTtlMs: number;
}

export interface AuditConfig {
  /** The stream key: `AUDIT_STREAM`, default `<REDIS_PREFIX>audit`. */
  readonly stream: string;
  readonly retentionMs: number;
  readonly maxLen: number | undefined;
}

export interface AliyunConfig {
  readonly endpoint: string;
  /** Unset id and secret: the SDK's default credential chain. */
  readonly accessKeyId: string | undefined;
  readonly accessKeySecret: string | undefined;
  readonly securityToken: string | undefined;
  readonly signName: string | undefined;
  readonly templateCode: string | undefined;
  readonly timeoutMs: number;
  /** Consecutive outages that open the provider circuit, and how long it stays open. */
  readonly breaker: { readonly threshold: number; readonly cooldownMs: number };
}

export function loadConfig(source: Record<string, string | undefined> = process.env): Config {
  const problems = new ConfigProblems();
  const env = readEnv(EnvSchema, source, problems);
  const production = env.NODE_ENV === 'production';
  const step = problems.attempt.bind(problems);
  const sendLimits = step(() => orFail('SEND_LIMITS', parseSendLimits(env.SEND_LIMITS)), []);
  step(() => requireOneRedisTopology(env), undefined);
  if (env.WORKERS > 1 && !env.REDIS_URL && !env.REDIS_CLUSTER_NODES && !env.REDIS_SENTINELS) {
    problems.add('WORKERS', 'above 1 needs Redis (REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS): the in-memory store lives in one process');
  }
  const apiKeys = step(() => readApiKeys(env), undefined) ?? [];
  if (apiKeys.length === 0 && production && !env.ALLOW_UNAUTHENTICATED && !problems.has('API_KEYS', 'API_KEYS_FILE')) {
    problems.add(
      'API_KEYS',
      'is required with NODE_ENV=production (or API_KEYS_FILE); set ALLOW_UNAUTHENTICATED=true if a gateway in front authenticates callers',
    );
  }
  const codeSecret = step(() => readCodeSecret(env, production), undefined);
  if (production) for (const refusal of productionRefusals(env)) problems.add(refusal.variable, refusal.detail);
  const trustProxy = parseTrustProxy(env.TRUST_PROXY);
  if (trustProxy === undefined) {
    problems.add('TRUST_PROXY', `is invalid: expected true, false, a hop count, or IPs/CIDRs (got ${JSON.stringify(env.TRUST_PROXY)})`);
  }
  if (env.SMS_PROVIDER === 'aliyun') step(() => requireAliyunSettings(env), undefined);
  const auditRetentionMs = parseDuration(env.AUDIT_RETENTION);
  if (auditRetentionMs === undefined) {
    problems.add('AUDIT_RETENTION', `is invalid: expected a duration such as 30d or 12h (got ${JSON.stringify(env.AUDIT_RETENTION)})`);
  }
  const idempotencyTtlMs = parseDuration(env.IDEMPOTENCY_TTL);
  if (idempotencyTtlMs === undefined) {
    throw new ConfigError('IDEMPOTENCY_TTL', `is invalid: expected a duration such as 24h or 30m (got ${JSON.stringify(env.IDEMPOTENCY_TTL)})`);
  }
  if (Boolean(env.ALIBABA_CLOUD_ACCESS_KEY_ID) !== Boolean(env.ALIBABA_CLOUD_ACCESS_KEY_SECRET)) {
    problems.add(
      env.ALIBABA_CLOUD_ACCESS_KEY_ID ? 'ALIBABA_CLOUD_ACCESS_KEY_SECRET' : 'ALIBABA_CLOUD_ACCESS_KEY_ID',
      'is required with the other half of the AccessKey (or unset both for the default credential chain)',
    );
  }
  const channels = step(() => (env.CHANNELS_FILE ? loadChannelsFile(env.CHANNELS_FILE) : {}), {});
  const { warnings: lifecycleWarnings, ...lifecycle } = lifecycleSettings(env, channels, production, problems);
  const config: Config = {
    port: env.PORT,
    host: env.HOST,
    redis: step(() => redisTopology(env), undefined),
    redisPrefix: env.REDIS_PREFIX,
    codeLength: env.CODE_LENGTH,
    codeTtlMs: env.CODE_TTL_SECONDS * 1000,
    maxVerifyAttempts: env.MAX_VERIFY_ATTEMPTS,
    sendLimits,
    smsProvider: env.SMS_PROVIDER,
    exposeCode: env.EXPOSE_CODE,
    codeSecret,
    storeTimeoutMs: env.STORE_TIMEOUT_MS,
    logLevel: env.LOG_LEVEL,
    aliyun: {
      endpoint: env.ALIYUN_SMS_ENDPOINT,
      accessKeyId: env.ALIBABA_CLOUD_ACCESS_KEY_ID,
      accessKeySecret: env.ALIBABA_CLOUD_ACCESS_KEY_SECRET,
      securityToken: env.ALIBABA_CLOUD_SECURITY_TOKEN,
      signName: env.ALIYUN_SMS_SIGN_NAME,
      templateCode: env.ALIYUN_SMS_TEMPLATE_CODE,
      timeoutMs: env.ALIYUN_SMS_TIMEOUT_MS,
      breaker: { threshold: env.PROVIDER_BREAKER_THRESHOLD, cooldownMs: env.PROVIDER_BREAKER_COOLDOWN_MS },
    },
    channels,
    audit: {
      stream: env.AUDIT_STREAM ?? `${env.REDIS_PREFIX}audit`,
      retentionMs: auditRetentionMs ?? 0,
      maxLen: env.AUDIT_MAXLEN,
    },
    apiKeys,
    protectOpsRoutes: env.PROTECT_OPS_ROUTES ?? apiKeys.length > 0,
    limits: {
      phone: step(() => optionalLimits('PHONE_SEND_LIMITS', env.PHONE_SEND_LIMITS), []),
      ip: step(() => optionalLimits('IP_SEND_LIMITS', env.IP_SEND_LIMITS), []),
      global: step(() => optionalLimits('GLOBAL_SEND_LIMITS', env.GLOBAL_SEND_LIMITS ?? 'off'), []),
      verifyFailures: step(() => optionalLimits('VERIFY_FAILURE_LIMITS', env.VERIFY_FAILURE_LIMITS), []),
      notice: step(() => optionalLimits('NOTICE_LIMITS', env.NOTICE_LIMITS), []),
      ipChecks: step(() => optionalLimits('IP_CHECK_LIMITS', env.IP_CHECK_LIMITS), []),
    },
    noticeTemplates: step(() => noticeTemplates(env.NOTICE_TEMPLATES), undefined),
    phonePolicy: {
      blockedPrefixes: step(() => (env.BLOCKED_PREFIXES === undefined ? [] : orFail('BLOCKED_PREFIXES', parseBlockedPrefixes(env.BLOCKED_PREFIXES), 'a comma list of E.164 prefixes such as +8617,+882')), []),
      allowedCountries: step(() => allowedCountries(env.ALLOWED_COUNTRIES), undefined),
    },
    trustProxy: trustProxy ?? false,
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    workers: env.WORKERS,
    bodyLimitBytes: env.BODY_LIMIT_BYTES,
    requestTimeoutMs: env.REQUEST_TIMEOUT_MS,
    warnings: [
      ...misspelledVariables(source, Object.keys(EnvSchema.properties)),
      ...lifecycleWarnings,
    ],
    idempotencyTtlMs,
    ...lifecycle,
  };
  problems.throwIfAny();
  return config;
}

/** `ALLOWED_COUNTRIES`: unset or `*`, every country; else a comma list of ISO codes. */
function allowedCountries(text: string | undefined): ReadonlySet<string> | undefined {
  if (text === undefined || text.trim() === '*') return undefined;
  return orFail('ALLOWED_COUNTRIES', parseCountries(text), 'a comma list of ISO country codes such as CN,HK, or * for all');
}

/** `off` (or `none`) disables a limit; anything else is windows like SEND_LIMITS. */
function optionalLimits(variable: string, text: string): SendWindow[] {
  if (['off', 'none'].includes(text.trim().toLowerCase())) return [];
  const windows = parseSendLimits(text);
  if (typeof windows === 'string') throw new ConfigError(variable, `is invalid: ${windows}, or off`);
  return windows;
}

function orFail<T>(variable: string, value: T | string | undefined, expected?: string): T {
  // A parser answers the value, or a string saying what is wrong, or undefined (then `expected` says it).
  if (typeof value === 'string') throw new ConfigError(variable, `is invalid: ${value}`);
  if (value === undefined) throw new ConfigError(variable, `is invalid: expected ${expected}`);
  return value;
}

function readApiKeys(env: Env): ApiKey[] {
  if (env.API_KEYS && env.API_KEYS_FILE) throw new ConfigError('API_KEYS, API_KEYS_FILE', 'are mutually exclusive: set only one');
  if (env.API_KEYS) return parseApiKeys(env.API_KEYS);
  if (env.API_KEYS_FILE) return loadApiKeysFile(env.API_KEYS_FILE);
  return [];
}

/** At most one of REDIS_URL, REDIS_CLUSTER_NODES, REDIS_SENTINELS; none means the in-memory store. */
function requireOneRedisTopology(env: Env): void {
  const set = (['REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS'] as const).filter((name) => env[name]);
  if (set.length > 1) throw new ConfigError(set.join(', '), 'are mutually exclusive: set only one');
}

function redisTopology(env: Env): RedisTopology | undefined {
  if (env.REDIS_URL) return { kind: 'single', url: env.REDIS_URL };
  const auth = { ...(env.REDIS_PASSWORD ? { password: env.REDIS_PASSWORD } : {}), tls: env.REDIS_TLS };
  if (env.REDIS_CLUSTER_NODES) {
    return { kind: 'cluster', nodes: parseHostPorts('REDIS_CLUSTER_NODES', env.REDIS_CLUSTER_NODES), ...auth };
  }
  if (env.REDIS_SENTINELS) {
    const sentinels = parseHostPorts('REDIS_SENTINELS', env.REDIS_SENTINELS);
    return { kind: 'sentinel', sentinels, name: env.REDIS_SENTINEL_NAME, ...auth };
  }
  return undefined;
}

function requireAliyunSettings(env: Env): void {
  const missing = (['ALIYUN_SMS_SIGN_NAME', 'ALIYUN_SMS_TEMPLATE_CODE'] as const).filter((name) => !env[name]);
  if (missing.length > 0) throw new ConfigError(missing.join(', '), 'is required when SMS_PROVIDER=aliyun');
}
