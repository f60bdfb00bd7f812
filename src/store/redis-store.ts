import { Redis, type Cluster, type RedisOptions } from 'ioredis';
import { contextFields, flatten, type AuditContext, type AuditSettings } from '../audit/audit.js';
import { RedisAuditReader } from '../audit/redis-audit-reader.js';
import type { SendWindow } from '../send-limits.js';
import { failuresKey, limitKey, secretKey, subjectKeys } from './keys.js';
import { LUA } from './lua-scripts.js';
import {
  codeRecordKeepMs,
  limitGroups,
  type AuditEventFields,
  type LimitGroup,
  type SendLimits,
  type Subject,
  type CheckCodeInput,
  type CheckResult,
  type CheckStatus,
  type FinishSendInput,
  type ReserveSendInput,
  type ReserveSendResult,
  type VerificationStore,
} from './store.js';

type ScriptArg = string | number;

/** The scripts as ioredis commands: EVALSHA, falling back to EVAL on NOSCRIPT. */
interface ScriptCommands {
  smsReserveSend(numberOfKeys: number, ...keysAndArgs: ScriptArg[]): Promise<[number, number, number, number?]>;
  smsCommitSend(numberOfKeys: number, ...keysAndArgs: ScriptArg[]): Promise<number>;
  smsReleaseSend(numberOfKeys: number, ...keysAndArgs: ScriptArg[]): Promise<number>;
  smsCheckCode(numberOfKeys: number, ...keysAndArgs: ScriptArg[]): Promise<[CheckStatus, number, number]>;
  smsAppendAudit(numberOfKeys: number, ...keysAndArgs: ScriptArg[]): Promise<number>;
}

type ScriptedClient = (Redis | Cluster) & ScriptCommands;

export interface RedisStoreOptions {
  readonly prefix: string;
  /** Upper bound on one command: a request never waits longer for Redis. */
  readonly commandTimeoutMs: number;
  /** The audit stream's key; undefined: no audit events are written. */
  readonly auditKey: string | undefined;
  readonly audit: AuditSettings;
}

/** Fail fast while Redis is away: no offline queue, one try per command. */
export function redisClientOptions(options: Pick<RedisStoreOptions, 'commandTimeoutMs'>): RedisOptions {
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
  return new RedisStore(client, options);
}

export class RedisStore implements VerificationStore {
  readonly kind = 'redis' as const;
  readonly audit: RedisAuditReader;
  private readonly client: ScriptedClient;
  private readonly prefix: string;
  private readonly auditKey: string | undefined;
  private readonly auditHeader: ScriptArg[];

  constructor(client: Redis | Cluster, options: RedisStoreOptions) {
    // numberOfKeys is passed per call: the audit stream is an optional last key.
    client.defineCommand('smsReserveSend', { lua: LUA.reserveSend });
    client.defineCommand('smsCommitSend', { lua: LUA.commitSend });
    client.defineCommand('smsReleaseSend', { lua: LUA.releaseSend });
    client.defineCommand('smsCheckCode', { lua: LUA.checkCode });
    client.defineCommand('smsAppendAudit', { lua: LUA.appendAudit });
    this.client = client as ScriptedClient;
    this.prefix = options.prefix;
    this.auditKey = options.auditKey;
    this.auditHeader = [options.auditKey ? '1' : '0', options.audit.retentionMs, options.audit.maxLen ?? 0];
    this.audit = new RedisAuditReader(client, options.auditKey ?? `${options.prefix}audit`);
  }

  async reserveSend(input: ReserveSendInput): Promise<ReserveSendResult> {
    const keys = subjectKeys(this.prefix, input.subject);
    const groups = limitGroups(input.limits);
    const [ok, a, b, c] = await this.client.smsReserveSend(
      ...this.keysAndHeader([keys.code, ...this.groupKeys(input, groups)], input.context),
      input.sendId,
      input.codeHash,
      input.codeTtlMs,
      codeRecordKeepMs(input.codeTtlMs, input.limits.channel),
      groups.length,
      ...groups.flatMap((group) => [group.scope, group.windows.length, ...windowArgs(group.windows)]),
    );
    if (ok === 1) return { ok: true, sentAt: a, expiresAt: b };
    return { ok: false, scope: (groups[a] as LimitGroup).scope, window: b, retryAfterMs: c ?? 0 };
  }

  async commitSend(input: FinishSendInput): Promise<boolean> {
    const keys = subjectKeys(this.prefix, input.subject);
    const promoted = await this.client.smsCommitSend(
      ...this.keysAndHeader([keys.code], input.context),
      input.sendId,
      codeRecordKeepMs(input.codeTtlMs, input.limits.channel),
      ...flatten(input.event),
    );
    return promoted === 1;
  }

  async releaseSend(input: FinishSendInput): Promise<void> {
    const keys = subjectKeys(this.prefix, input.subject);
    const groups = limitGroups(input.limits);
    await this.client.smsReleaseSend(
      ...this.keysAndHeader([keys.code, ...this.groupKeys(input, groups)], input.context),
      input.sendId,
      groups.length,
      ...flatten(input.event),
    );
  }

  async checkCode(input: CheckCodeInput): Promise<CheckResult> {
    const keys = subjectKeys(this.prefix, input.subject);
    const [status, attemptsRemaining, retryAfterMs] = await this.client.smsCheckCode(
      ...this.keysAndHeader([keys.code, failuresKey(this.prefix, input.subject.phone)], input.context),
      input.codeHash,
      input.maxAttempts,
      input.checkId,
      input.failureLimits.length,
      ...windowArgs(input.failureLimits),
    );
    return { status, attemptsRemaining, retryAfterMs };
  }

  async appendAudit(context: AuditContext, event: AuditEventFields): Promise<void> {
    if (!this.auditKey) return;
    await this.client.smsAppendAudit(...this.keysAndHeader([], context), ...flatten(event));
  }

  async sharedSecret(candidate: string): Promise<string> {
    // SET NX, then GET: whoever came first, everyone reads the same value (once, at start-up).
    const key = secretKey(this.prefix);
    await this.client.set(key, candidate, 'NX');
    return (await this.client.get(key)) ?? candidate;
  }

  async ping(): Promise<void> {
    await this.client.ping();
  }

  async close(): Promise<void> {
    await this.client.quit().catch(() => this.client.disconnect());
  }

  private groupKeys(input: { subject: Subject; limits: SendLimits }, groups: LimitGroup[]): string[] {
    return groups.map((group) => limitKey(this.prefix, group.scope, input.subject, input.limits));
  }

  /** `numberOfKeys, ...keys, [auditKey], ...prelude arguments` (see prelude.lua). */
  private keysAndHeader(keys: string[], context: AuditContext): [number, ...ScriptArg[]] {
    const all = this.auditKey ? [...keys, this.auditKey] : keys;
    const fields = contextFields(context);
    return [all.length, ...all, ...this.auditHeader, fields.length / 2, ...fields];
  }
}

function windowArgs(windows: readonly SendWindow[]): ScriptArg[] {
  return windows.flatMap((w) => [w.count, w.windowMs, w.label]);
}
