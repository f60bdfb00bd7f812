import type { AuditContext } from '../../domain/audit/audit.js';
import type {
  CancelResult,
  DeliveryReceipt,
  OutIdTarget,
  ReceiptResult,
  VerificationView,
} from '../../domain/store.js';
import { verificationStatus } from '../../domain/verification/rules.js';
import { outIdKey, phoneSendsKey, subjectKeys } from '../keys.js';
import type { RedisClient } from './redis-client.js';
import type { ScriptRunner } from './scripts/runner.js';
import { cancelVerification, getVerification, noticeReceipt, recordReceipt } from './scripts/verifications.js';

/**
 * Verifications by id on Redis: the OutId's index (`out:<id>`, its own slot on Cluster) is read
 * first, then one script decides on the phone's slot (get, cancel, a delivery report). The records
 * themselves are written by the send and check scripts (see redis-store.ts).
 */
export class RedisVerifications {
  constructor(
    private readonly client: RedisClient,
    private readonly scripts: ScriptRunner,
    private readonly prefix: string,
    readonly retentionMs: number,
  ) {}

  /** The OutId's index (its own slot on Cluster): read first, then the phone's script runs. */
  async findOutId(outId: string): Promise<OutIdTarget | undefined> {
    const [kind, phone, channel] = await this.client.hmget(outIdKey(this.prefix, outId), 't', 'p', 'c');
    if ((kind !== 'code' && kind !== 'notice') || !phone || !channel) return undefined;
    return { kind, subject: { phone, channel } };
  }

  async getVerification(id: string): Promise<VerificationView | undefined> {
    const target = await this.findOutId(id);
    if (target?.kind !== 'code') return undefined;
    const { subject } = target;
    const { now, record } = await getVerification(this.scripts, subject, {
      verificationsKey: subjectKeys(this.prefix, subject).verifications,
      id,
      retentionMs: this.retentionMs,
    });
    if (!record) return undefined;
    return {
      id,
      phone: subject.phone,
      channel: subject.channel,
      status: verificationStatus(record, now),
      createdAt: record.createdAt,
      expiresAt: record.expiresAt,
      attempts: record.attempts,
      delivery: record.delivery,
    };
  }

  async cancelVerification(id: string, context: Omit<AuditContext, 'phone' | 'channel'>): Promise<CancelResult> {
    const target = await this.findOutId(id);
    if (target?.kind !== 'code') return { found: false };
    const keys = subjectKeys(this.prefix, target.subject);
    return cancelVerification(this.scripts, { ...context, ...target.subject }, {
      codeKey: keys.code,
      verificationsKey: keys.verifications,
      id,
      retentionMs: this.retentionMs,
    });
  }

  async recordReceipt(receipt: DeliveryReceipt): Promise<ReceiptResult> {
    const target = await this.findOutId(receipt.outId);
    if (!target) return { outcome: 'unknown' };
    const { kind, subject } = target;
    if (kind === 'notice') {
      const outcome = await noticeReceipt(this.scripts, subject, { indexKey: outIdKey(this.prefix, receipt.outId), receipt });
      return { outcome, kind, subject };
    }
    const keys = subjectKeys(this.prefix, subject);
    const outcome = await recordReceipt(this.scripts, subject, {
      verificationsKey: keys.verifications,
      codeKey: keys.code,
      channelLogKey: keys.sends,
      phoneLogKey: phoneSendsKey(this.prefix, subject.phone),
      receipt,
      retentionMs: this.retentionMs,
    });
    return { outcome, kind, subject };
  }

  /** Where `outId` leads, kept `VERIFICATION_RETENTION` (written before the reserve). */
  async index(outId: string, target: OutIdTarget): Promise<void> {
    const key = outIdKey(this.prefix, outId);
    await this.client
      .multi()
      .hset(key, 't', target.kind, 'p', target.subject.phone, 'c', target.subject.channel)
      .pexpire(key, this.retentionMs)
      .exec();
  }
}
