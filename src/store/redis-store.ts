import { Redis, type Cluster, type RedisOptions } from 'ioredis';
import { longestWindowMs, type SendWindow } from '../send-limits.js';
import { secretKey, subjectKeys } from './keys.js';
import { LUA } from './lua-scripts.js';
import {
  codeRecordKeepMs,
  type CheckCodeInput,
  type CheckResult,
  type CheckStatus,
  type ReleaseSendInput,
  type ReserveSendInput,
  type ReserveSendResult,
  type VerificationStore,
} from './store.js';

type ScriptArg = string | number;

/** The scripts as ioredis commands: EVALSHA, falling back to EVAL on NOSCRIPT. */
interface ScriptCommands {
  smsReserveSend(codeKey: string, sendsKey: string, ...args: ScriptArg[]): Promise<[number, number, number]>;
  smsReleaseSend(codeKey: string, sendsKey: string, ...args: ScriptArg[]): Promise<number>;
  smsCheckCode(codeKey: string, ...args: ScriptArg[]): Promise<[CheckStatus, number]>;
}

type ScriptedClient = (Redis | Cluster) & ScriptCommands;

export interface RedisStoreOptions {
  readonly prefix: string;
  /** Upper bound on one command: a request never waits longer for Redis. */
  readonly commandTimeoutMs: number;
}

/** Fail fast while Redis is away: no offline queue, one try per command. */
export function redisClientOptions(options: RedisStoreOptions): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: Math.max(options.commandTimeoutMs, 1000),
    retryStrategy: (attempt: number) => Math.min(attempt * 100, 2000),
  };
}

export async function connectRedisStore(url: string, options: RedisStoreOptions): Promise<RedisStore> {
  const client = new Redis(url, redisClientOptions(options));
  client.on('error', () => {
    // Connection errors surface as failed commands (→ 503); ioredis reconnects by itself.
  });
  await client.connect();
  return new RedisStore(client, options.prefix);
}

export class RedisStore implements VerificationStore {
  readonly kind = 'redis' as const;
  private readonly client: ScriptedClient;

  constructor(
    client: Redis | Cluster,
    private readonly prefix: string,
  ) {
    client.defineCommand('smsReserveSend', { numberOfKeys: 2, lua: LUA.reserveSend });
    client.defineCommand('smsReleaseSend', { numberOfKeys: 2, lua: LUA.releaseSend });
    client.defineCommand('smsCheckCode', { numberOfKeys: 1, lua: LUA.checkCode });
    this.client = client as ScriptedClient;
  }

  async reserveSend(input: ReserveSendInput): Promise<ReserveSendResult> {
    const keys = subjectKeys(this.prefix, input.subject);
    const [ok, a, b] = await this.client.smsReserveSend(
      keys.code,
      keys.sends,
      input.sendId,
      input.codeHash,
      input.codeTtlMs,
      codeRecordKeepMs(input.codeTtlMs, input.windows),
      longestWindowMs(input.windows),
      input.windows.length,
      ...windowArgs(input.windows),
    );
    return ok === 1 ? { ok: true, sentAt: a, expiresAt: b } : { ok: false, window: a, retryAfterMs: b };
  }

  async releaseSend(input: ReleaseSendInput): Promise<void> {
    const keys = subjectKeys(this.prefix, input.subject);
    await this.client.smsReleaseSend(keys.code, keys.sends, input.sendId, codeRecordKeepMs(input.codeTtlMs, input.windows));
  }

  async checkCode(input: CheckCodeInput): Promise<CheckResult> {
    const keys = subjectKeys(this.prefix, input.subject);
    const [status, attemptsRemaining] = await this.client.smsCheckCode(keys.code, input.codeHash, input.maxAttempts);
    return { status, attemptsRemaining };
  }

  async sharedSecret(candidate: string): Promise<string> {
    const key = secretKey(this.prefix);
    const stored = await this.client.set(key, candidate, 'NX', 'GET');
    return stored ?? candidate;
  }

  async ping(): Promise<void> {
    await this.client.ping();
  }

  async close(): Promise<void> {
    await this.client.quit().catch(() => this.client.disconnect());
  }
}

function windowArgs(windows: readonly SendWindow[]): number[] {
  return windows.flatMap((w) => [w.count, w.windowMs]);
}
