import type { Cluster, Redis } from 'ioredis';
import type { AuditContext, AuditEvent, AuditEventFields, AuditSettings } from '../../domain/audit/audit.js';
import { silentLogger, type Logger } from '../../domain/logger.js';
import type { WindowsVerdict } from '../../domain/limits/windows.js';
import type {
  CancelResult,
  CheckCodeInput,
  CheckResult,
  CommitResult,
  DeliveryReceipt,
  FullLimit,
  LimitGroup,
  OutIdTarget,
  ReceiptResult,
  ReserveSendResult,
  SendOutcome,
  SendPlan,
  VerificationStore,
  VerificationView,
} from '../../domain/store.js';
import { fullLimit, sendEventName } from '../../domain/verification/rules.js';
import { DEFAULT_VERIFICATION_RETENTION_MS } from '../memory/memory-store.js';
import { failuresKey, ipChecksKey, limitKey, outIdKey, phoneSendsKey, secretKey, subjectKeys } from '../keys.js';
import { RedisDeadlines } from './deadlines.js';
import { RedisVerifications } from './redis-verifications.js';
import { RedisAuditReader } from './redis-audit-reader.js';
import { connectRedis, type RedisClient } from './redis-client.js';
import { appendAudit } from './scripts/append-audit.js';
import { checkCode, type IpCheckLimit } from './scripts/check-code.js';
import { CommitSends } from './scripts/commit-send.js';
import { releaseSend } from './scripts/release-send.js';
import { reserveLimit } from './scripts/reserve-limit.js';
import { reserveSend } from './scripts/reserve-send.js';
import { ScriptRunner } from './scripts/runner.js';
import type { RedisTopology } from './topology.js';

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
  /** `VERIFICATION_RETENTION` (default 24h): how long verifications and OutIds are kept. */
  readonly verificationRetentionMs?: number;
  /** Bench only: `false` sends each commit as its own call (bench/store-cost.ts compares). Default true. */
  readonly batchCommits?: boolean;
}

/** Scopes whose send logs live in the phone's hash slot; the others (ip, global) do not. */
const PHONE_SLOT_SCOPES = new Set(['channel', 'phone', 'notice']);

/** Connects, and measures the Redis clock the request deadlines are expressed in before any decision. */
export async function connectRedisStore(topology: RedisTopology | string, options: RedisStoreOptions): Promise<RedisStore> {
  const client = await connectRedis(topology, options.commandTimeoutMs, options.logger);
  const deadlines = new RedisDeadlines(client, options.commandTimeoutMs);
  await deadlines.sync();
  deadlines.watch();
  return new RedisStore(client, options, deadlines);
}

/**
 * The store on Redis: each decision is one Lua script on the phone's hash slot, on Redis server
 * time, following src/domain/verification/rules.ts. On a single node or a Sentinel-managed primary
 * the script also appends its audit event and checks every limit at once. On Redis Cluster the audit
 * stream and the per-IP and global send logs live in other slots: events are appended right after
 * each script (see ScriptRunner), and those limits are reserved in their own slots first, their
 * verdicts handed to the phone's script, which decides the send exactly as on one node. A client IP's
 * check log (IP_CHECK_LIMITS) is handled the same way for checks.
 *
 * Every decision script gets its request's deadline on Redis's clock (RedisDeadlines) and refuses to
 * act past it, so a decision whose caller was answered 503 never takes effect later.
 */
export class RedisStore implements VerificationStore {
  readonly kind = 'redis' as const;
  readonly audit: RedisAuditReader;
  private readonly client: RedisClient;
  private readonly scripts: ScriptRunner;
  private readonly prefix: string;
  private readonly cluster: boolean;
  private readonly retentionMs: number;
  private readonly verifications: RedisVerifications;
  private readonly commits: CommitSends;

  constructor(client: Redis | Cluster, options: RedisStoreOptions, deadlines?: RedisDeadlines) {
    this.client = client;
    this.prefix = options.prefix;
    this.cluster = client.isCluster;
    this.retentionMs = options.verificationRetentionMs ?? DEFAULT_VERIFICATION_RETENTION_MS;
    this.scripts = new ScriptRunner(client, {
      auditKey: options.auditKey,
      audit: options.audit,
      logger: options.logger ?? silentLogger,
      clock: options.clock,
      deadlines,
    });
    this.audit = new RedisAuditReader(client, options.auditKey ?? `${options.prefix}audit`);
    this.verifications = new RedisVerifications(client, this.scripts, this.prefix, this.retentionMs);
    // One node or Sentinel: the commits of one event-loop turn share one call (see CommitSends).
    this.commits = new CommitSends(this.scripts, !this.cluster && options.batchCommits !== false);
  }

  async reserveSend(plan: SendPlan): Promise<ReserveSendResult> {
    const { local, remote } = this.split(plan);
    // Where the verification id (a notice's OutId) leads: written by the reserve script on one node; on
    // Cluster (its own slot) written first and dropped if the send is refused.
    if (this.cluster) await this.verifications.index(plan.sendId, { kind: plan.kind, subject: plan.subject });
    const outside = await this.reserveRemote(plan, remote);
    const keys = subjectKeys(this.prefix, plan.subject);
    let reply;
    try {
      reply = await reserveSend(this.scripts, plan.context, {
        kind: plan.kind,
        codeKey: keys.code,
        verificationsKey: keys.verifications,
        maxAttempts: plan.maxAttempts,
        retentionMs: this.retentionMs,
        index: this.cluster ? undefined : { key: outIdKey(this.prefix, plan.sendId), phone: plan.subject.phone, channel: plan.subject.channel },
        groups: local.map((group) => ({ group, key: this.logKey(plan, group) })),
        outside: remote.map((group, i) => ({ group, verdict: outside[i] as WindowsVerdict })),
        sendId: plan.sendId,
        codeHash: plan.codeHash,
        codeTtlMs: plan.codeTtlMs,
        keepMs: plan.keepMs,
      });
    } catch (error) {
      await this.undoRemote(plan, remote);
      throw error;
    }
    if (reply.ok) return reply;
    await Promise.all([
      this.undoRemote(plan, remote.filter((_, i) => outside[i]?.refused === undefined)),
      ...(this.cluster ? [this.client.del(outIdKey(this.prefix, plan.sendId))] : []),
    ]);
    const group = [...local, ...remote][reply.group] as LimitGroup;
    return { ok: false, scope: group.scope, window: reply.window, retryAfterMs: reply.retryAfterMs };
  }

  /**
   * Cluster only: the per-IP and global limits, each reserved in its own slot (if its own windows
   * allow) before the phone's script decides the send with their verdicts; if that script refuses,
   * these reservations are undone, so a refused send counts nowhere. (A concurrent send may briefly
   * see one of them and be refused too: across slots the limits err on the side of refusing.)
   */
  private async reserveRemote(plan: SendPlan, remote: readonly LimitGroup[]): Promise<WindowsVerdict[]> {
    try {
      return await Promise.all(
        remote.map((group) =>
          reserveLimit(this.scripts, plan.context, { key: this.logKey(plan, group), sendId: plan.sendId, windows: group.windows }),
        ),
      );
    } catch (error) {
      // A slot did not answer: undo what may have been reserved (ZREM of a send id never added is harmless).
      await this.undoRemote(plan, remote);
      throw error;
    }
  }

  private async undoRemote(plan: SendPlan, groups: readonly LimitGroup[]): Promise<void> {
    await Promise.allSettled(groups.map((group) => this.client.zrem(this.logKey(plan, group), plan.sendId)));
  }

  async commitSend(plan: SendPlan, event: AuditEventFields, outcome: SendOutcome = 'sent'): Promise<CommitResult> {
    const keys = subjectKeys(this.prefix, plan.subject);
    return this.commits.commit(plan.context, {
      kind: plan.kind,
      name: sendEventName(plan.kind, outcome),
      outcome,
      codeKey: keys.code,
      verificationsKey: keys.verifications,
      checksKey: keys.checks,
      channelLogKey: keys.sends,
      phoneLogKey: phoneSendsKey(this.prefix, plan.subject.phone),
      sendId: plan.sendId,
      keepMs: plan.keepMs,
      retentionMs: this.retentionMs,
      event,
    });
  }

  async releaseSend(plan: SendPlan, event: AuditEventFields): Promise<void> {
    const { local, remote } = this.split(plan);
    await Promise.all([
      releaseSend(this.scripts, plan.context, {
        kind: plan.kind,
        codeKey: subjectKeys(this.prefix, plan.subject).code,
        verificationsKey: subjectKeys(this.prefix, plan.subject).verifications,
        retentionMs: this.retentionMs,
        logKeys: local.map((group) => this.logKey(plan, group)),
        sendId: plan.sendId,
        event,
      }),
      ...remote.map((group) => this.client.zrem(this.logKey(plan, group), plan.sendId)),
    ]);
  }

  /** Each group's verdict, read in its own log (one small script per group: advisory, not atomic). */
  async peekSend(plan: SendPlan): Promise<FullLimit | undefined> {
    const verdicts = await Promise.all(
      plan.groups.map((group) =>
        reserveLimit(this.scripts, plan.context, { key: this.logKey(plan, group), sendId: plan.sendId, windows: group.windows, peek: true }),
      ),
    );
    return fullLimit(plan.groups, verdicts);
  }

  /**
   * On Cluster the client IP's check log lives in another slot than the phone: the check is reserved
   * there first (if its windows allow; reserve-limit), and the verdict handed to the phone's script,
   * as for the per-IP send limits. A check is counted whatever its outcome, so it is undone only if
   * the phone's script did not answer (a 503 leaves no trace).
   */
  async checkCode(input: CheckCodeInput): Promise<CheckResult> {
    const keys = subjectKeys(this.prefix, input.subject);
    const args = {
      codeKey: keys.code,
      failuresKey: failuresKey(this.prefix, input.subject.phone),
      verificationsKey: keys.verifications,
      checksKey: keys.checks,
      verificationId: input.verificationId,
      idempotencyKey: input.idempotencyKey,
      retentionMs: this.retentionMs,
      codeHash: input.codeHash,
      maxAttempts: input.maxAttempts,
      checkId: input.checkId,
      failureLimits: input.failureLimits,
    };
    const ip = input.ipChecks;
    if (!ip) return checkCode(this.scripts, input.context, { ...args, ipChecks: undefined });
    const key = ipChecksKey(this.prefix, ip.address);
    if (!this.cluster) return checkCode(this.scripts, input.context, { ...args, ipChecks: { key, windows: ip.windows } });
    const undo = () => this.client.zrem(key, input.checkId).then(() => undefined, () => undefined);
    let ipChecks: IpCheckLimit;
    try {
      ipChecks = { verdict: await reserveLimit(this.scripts, input.context, { key, sendId: input.checkId, windows: ip.windows }) };
    } catch (error) {
      await undo();
      throw error;
    }
    try {
      return await checkCode(this.scripts, input.context, { ...args, ipChecks });
    } catch (error) {
      await undo();
      throw error;
    }
  }

  findOutId(outId: string): Promise<OutIdTarget | undefined> {
    return this.verifications.findOutId(outId);
  }

  getVerification(id: string): Promise<VerificationView | undefined> {
    return this.verifications.getVerification(id);
  }

  cancelVerification(id: string, context: Omit<AuditContext, 'phone' | 'channel'>): Promise<CancelResult> {
    return this.verifications.cancelVerification(id, context);
  }

  recordReceipt(receipt: DeliveryReceipt): Promise<ReceiptResult> {
    return this.verifications.recordReceipt(receipt);
  }

  async appendAudit(context: AuditContext, event: AuditEvent): Promise<void> {
    await appendAudit(this.scripts, context, event);
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
    this.commits.flush();
    await this.client.quit().catch(() => this.client.disconnect());
  }

  /** The plan's groups: those decided in the phone's script (all of them off Cluster), and the others. */
  private split(plan: SendPlan): { local: LimitGroup[]; remote: LimitGroup[] } {
    const local = this.cluster ? plan.groups.filter((group) => PHONE_SLOT_SCOPES.has(group.scope)) : [...plan.groups];
    return { local, remote: plan.groups.filter((group) => !local.includes(group)) };
  }

  private logKey(plan: SendPlan, group: LimitGroup): string {
    return limitKey(this.prefix, group.scope, plan.subject, plan.limits);
  }
}
