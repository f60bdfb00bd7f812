import type { Cluster, Redis } from 'ioredis';
import { contextFields, flatten, type AuditContext, type AuditSettings } from '../../domain/audit/audit.js';
import { RedisAuditReader } from './redis-audit-reader.js';
import { silentLogger, type Logger } from '../../domain/logger.js';
import type { SendWindow } from '../../domain/limits/send-window.js';
import { failuresKey, limitKey, secretKey, subjectKeys } from '../keys.js';
import { LUA } from './scripts.js';
import { connectRedis, type RedisClient } from './redis-client.js';
import type { RedisTopology } from './topology.js';
import { limitGroups, recordKeepMs } from '../../domain/verification/rules.js';
import {
  type AuditEventFields,
  type CheckCodeInput,
  type CheckResult,
  type CheckStatus,
  type CommitResult,
  type FinishSendInput,
  type LimitGroup,
  type ReserveSendInput,
  type ReserveSendResult,
  type SendLimits,
  type Subject,
  type VerificationStore,
} from '../../domain/store.js';

type ScriptArg = string | number;
type Reply = Array<string | number>;

/** The scripts as ioredis commands: EVALSHA, falling back to EVAL on NOSCRIPT. */
interface ScriptCommands {
  smsReserveSend(numberOfKeys: number, ...keysAndArgs: ScriptArg[]): Promise<Reply>;
  smsReserveLimit(numberOfKeys: number, ...keysAndArgs: ScriptArg[]): Promise<Reply>;
  smsCommitSend(numberOfKeys: number, ...keysAndArgs: ScriptArg[]): Promise<Reply>;
  smsReleaseSend(numberOfKeys: number, ...keysAndArgs: ScriptArg[]): Promise<Reply>;
  smsCheckCode(numberOfKeys: number, ...keysAndArgs: ScriptArg[]): Promise<Reply>;
  smsAppendAudit(numberOfKeys: number, ...keysAndArgs: ScriptArg[]): Promise<Reply>;
}

type ScriptedClient = RedisClient & ScriptCommands;

export interface RedisStoreOptions {
  readonly prefix: string;
  /** Upper bound on one command: a request never waits longer for Redis. */
  readonly commandTimeoutMs: number;
  /** The audit stream's key; undefined: no audit events are written. */
  readonly auditKey: string | undefined;
  readonly audit: AuditSettings;
  /** Where the store reports what it cannot report to a caller (a lost audit append on Cluster). */
  readonly logger?: Logger;
  /**
   * Tests only: the clock (ms) every decision is taken at, passed to the scripts instead of Redis
   * server time, so a test can move time. Production leaves it unset: the scripts read Redis TIME.
   */
  readonly clock?: () => number;
}

/** Audit mode of one script call (see prelude.lua). */
const AUDIT_OFF = '0';
const AUDIT_INLINE = '1';
const AUDIT_DEFERRED = '2';

const COMMIT_RESULTS: Readonly<Record<string, CommitResult>> = {
  '1': 'promoted',
  '0': 'superseded',
  '2': 'repeated',
  '-1': 'lost',
};

/** Scopes whose send logs live in the phone's hash slot; the others (ip, global) do not. */
const PHONE_SLOT_SCOPES = new Set(['channel', 'phone']);

export async function connectRedisStore(topology: RedisTopology | string, options: RedisStoreOptions): Promise<RedisStore> {
  return new RedisStore(await connectRedis(topology, options.commandTimeoutMs), options);
}

/**
 * The store on Redis: each decision is one Lua script on the phone's hash slot, on
 * Redis server time. On a single node or a Sentinel-managed primary the script also
 * appends its audit event and checks every limit at once. On Redis Cluster the audit
 * stream and the per-IP and global send logs live in other slots: the script returns
 * its event for the store to append right after, and those limits are reserved in
 * their own slots after the phone's (and undone if they refuse).
 */
export class RedisStore implements VerificationStore {
  readonly kind = 'redis' as const;
  readonly audit: RedisAuditReader;
  private readonly client: ScriptedClient;
  private readonly prefix: string;
  private readonly auditKey: string | undefined;
  private readonly settings: AuditSettings;
  private readonly cluster: boolean;
  private readonly logger: Logger;
  private readonly clock: (() => number) | undefined;

  constructor(client: Redis | Cluster, options: RedisStoreOptions) {
    // numberOfKeys is passed per call: the audit stream is an optional last key.
    client.defineCommand('smsReserveSend', { lua: LUA.reserveSend });
    client.defineCommand('smsReserveLimit', { lua: LUA.reserveLimit });
    client.defineCommand('smsCommitSend', { lua: LUA.commitSend });
    client.defineCommand('smsReleaseSend', { lua: LUA.releaseSend });
    client.defineCommand('smsCheckCode', { lua: LUA.checkCode });
    client.defineCommand('smsAppendAudit', { lua: LUA.appendAudit });
    this.client = client as ScriptedClient;
    this.prefix = options.prefix;
    this.auditKey = options.auditKey;
    this.settings = options.audit;
    this.cluster = client.isCluster;
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock;
    this.audit = new RedisAuditReader(client, options.auditKey ?? `${options.prefix}audit`);
  }

  async reserveSend(input: ReserveSendInput): Promise<ReserveSendResult> {
    const keys = subjectKeys(this.prefix, input.subject);
    const all = limitGroups(input.limits);
    const local = this.cluster ? all.filter((group) => PHONE_SLOT_SCOPES.has(group.scope)) : all;
    const remote = all.filter((group) => !local.includes(group));
    const outside = await this.reserveRemote(input, remote);
    let reply: Reply;
    try {
      reply = await this.client.smsReserveSend(
        ...this.header([keys.code, ...this.groupKeys(input, local)], input.context),
        input.sendId,
        input.codeHash,
        input.codeTtlMs,
        recordKeepMs(input.codeTtlMs, input.limits.channel),
        local.length,
        ...local.flatMap((group) => [group.scope, group.windows.length, ...windowArgs(group.windows)]),
        outside.length,
        ...outside.flatMap((verdict, i) => {
          const group = remote[i] as LimitGroup;
          const label = verdict.refused < 0 ? '' : (group.windows[verdict.refused]?.label ?? '');
          return [group.scope, verdict.refused, label, verdict.retryAfterMs];
        }),
      );
    } catch (error) {
      await this.undoRemote(input, remote);
      throw error;
    }
    const own = reply[0] === 1 ? 3 : 4;
    await this.appendDeferred(input.context, reply.slice(own));
    if (reply[0] !== 1) {
      await this.undoRemote(input, remote.filter((_, i) => outside[i]?.refused === -1));
      const group = all[Number(reply[1])] as LimitGroup;
      return { ok: false, scope: group.scope, window: Number(reply[2]), retryAfterMs: Number(reply[3]) };
    }
    return { ok: true as const, sentAt: Number(reply[1]), expiresAt: Number(reply[2]) };
  }

  /**
   * Cluster only: the per-IP and global limits live in their own slots. Each is reserved there
   * (if its own windows allow) before the phone's script runs; that script decides the send with
   * their verdicts, exactly as if every group were its own, and if it refuses, these reservations
   * are undone, so a refused send counts nowhere. (A concurrent send may briefly see one of them
   * and be refused too: across slots the limits err on the side of refusing.)
   */
  private async reserveRemote(input: ReserveSendInput, remote: LimitGroup[]): Promise<Array<{ refused: number; retryAfterMs: number }>> {
    if (remote.length === 0) return [];
    const keys = this.groupKeys(input, remote);
    try {
      const replies = await Promise.all(
        remote.map((group, i) =>
          this.client.smsReserveLimit(
            ...this.header([keys[i] as string], input.context, AUDIT_OFF),
            input.sendId,
            group.windows.length,
            ...windowArgs(group.windows),
          ),
        ),
      );
      return replies.map((reply) =>
        reply[0] === 1 ? { refused: -1, retryAfterMs: 0 } : { refused: Number(reply[1]), retryAfterMs: Number(reply[2]) },
      );
    } catch (error) {
      // A slot did not answer: undo what may have been reserved (ZREM of a send id never added is harmless).
      await this.undoRemote(input, remote);
      throw error;
    }
  }

  private async undoRemote(input: ReserveSendInput, groups: LimitGroup[]): Promise<void> {
    await Promise.allSettled(this.groupKeys(input, groups).map((key) => this.client.zrem(key, input.sendId)));
  }

  async commitSend(input: FinishSendInput): Promise<CommitResult> {
    const keys = subjectKeys(this.prefix, input.subject);
    const reply = await this.client.smsCommitSend(
      ...this.header([keys.code], input.context),
      input.sendId,
      recordKeepMs(input.codeTtlMs, input.limits.channel),
      ...flatten(input.event),
    );
    await this.appendDeferred(input.context, reply.slice(1));
    return COMMIT_RESULTS[String(reply[0])] ?? 'lost';
  }

  async releaseSend(input: FinishSendInput): Promise<void> {
    const all = limitGroups(input.limits);
    const remote = this.cluster ? all.filter((group) => !PHONE_SLOT_SCOPES.has(group.scope)) : [];
    await Promise.all([
      this.release(input, flatten(input.event)),
      ...this.groupKeys(input, remote).map((key) => this.client.zrem(key, input.sendId)),
    ]);
  }

  private async release(input: FinishSendInput, event: string[]): Promise<void> {
    const keys = subjectKeys(this.prefix, input.subject);
    const all = limitGroups(input.limits);
    const local = this.cluster ? all.filter((group) => PHONE_SLOT_SCOPES.has(group.scope)) : all;
    const reply = await this.client.smsReleaseSend(
      ...this.header([keys.code, ...this.groupKeys(input, local)], input.context),
      input.sendId,
      local.length,
      ...event,
    );
    await this.appendDeferred(input.context, reply.slice(1));
  }

  async checkCode(input: CheckCodeInput): Promise<CheckResult> {
    const keys = subjectKeys(this.prefix, input.subject);
    const reply = await this.client.smsCheckCode(
      ...this.header([keys.code, failuresKey(this.prefix, input.subject.phone)], input.context),
      input.codeHash,
      input.maxAttempts,
      input.checkId,
      input.failureLimits.length,
      ...windowArgs(input.failureLimits),
    );
    await this.appendDeferred(input.context, reply.slice(3));
    return { status: reply[0] as CheckStatus, attemptsRemaining: Number(reply[1]), retryAfterMs: Number(reply[2]) };
  }

  async appendAudit(context: AuditContext, event: AuditEventFields): Promise<void> {
    await this.appendFields(context, flatten(event));
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

  onReconnect(listener: () => void): void {
    let connectedBefore = this.client.status === 'ready';
    this.client.on('ready', () => {
      if (connectedBefore) listener();
      connectedBefore = true;
    });
  }

  async close(): Promise<void> {
    await this.client.quit().catch(() => this.client.disconnect());
  }

  /**
   * Cluster: the event a script decided, appended to the stream (in its own slot) right after. The
   * decision has been made and stands: if the append fails, it is logged, never turned into an error.
   */
  private async appendDeferred(context: AuditContext, fields: Reply): Promise<void> {
    if (fields.length === 0) return;
    try {
      await this.appendFields(context, fields.map(String));
    } catch (error) {
      this.logger.error(
        { audit: { event: String(fields[1]), channel: context.channel }, error: (error as Error).name },
        'audit event not written: the stream did not answer',
      );
    }
  }

  private async appendFields(context: AuditContext, fields: string[]): Promise<void> {
    if (!this.auditKey) return;
    await this.client.smsAppendAudit(...this.header([], context, AUDIT_INLINE), ...fields);
  }

  private groupKeys(input: { subject: Subject; limits: SendLimits }, groups: LimitGroup[]): string[] {
    return groups.map((group) => limitKey(this.prefix, group.scope, input.subject, input.limits));
  }

  /**
   * `numberOfKeys, ...keys, [auditKey], ...prelude arguments` (see prelude.lua). Inline audit
   * needs the stream among the keys, which Redis Cluster allows only for append-audit itself.
   */
  private header(keys: string[], context: AuditContext, mode?: string): [number, ...ScriptArg[]] {
    const chosen = !this.auditKey ? AUDIT_OFF : (mode ?? (this.cluster ? AUDIT_DEFERRED : AUDIT_INLINE));
    const all = chosen === AUDIT_INLINE ? [...keys, this.auditKey as string] : keys;
    const fields = contextFields(context);
    return [
      all.length,
      ...all,
      chosen,
      this.settings.retentionMs,
      this.settings.maxLen ?? 0,
      this.clock ? this.clock() : '',
      fields.length / 2,
      ...fields,
    ];
  }
}

function windowArgs(windows: readonly SendWindow[]): ScriptArg[] {
  return windows.flatMap((w) => [w.count, w.windowMs, w.label]);
}
