import type { AuditContext } from '../../../domain/audit/audit.js';
import type { DeliveryReceipt, ReceiptOutcome, SendState, VerificationRecord, VerificationStatus } from '../../../domain/store.js';
import type { Subject } from '../../../domain/store.js';
import type { ScriptRunner } from './runner.js';

/** cancel-verification.lua (rules.ts canCancel). */
export async function cancelVerification(
  runner: ScriptRunner,
  context: AuditContext,
  args: { readonly codeKey: string; readonly verificationsKey: string; readonly id: string; readonly retentionMs: number },
): Promise<{ found: false } | { found: true; canceled: boolean; status: VerificationStatus }> {
  const reply = await runner.run('cancel-verification', [args.codeKey, args.verificationsKey], context, [args.id, args.retentionMs], (r) =>
    r[0] === 0 ? 1 : 3,
  );
  if (reply[0] === 0) return { found: false };
  return { found: true, canceled: reply[1] === 1, status: String(reply[2]) as VerificationStatus };
}

/** The record as kept, with the store's time (get-verification.lua). */
export async function getVerification(
  runner: ScriptRunner,
  subject: Subject,
  args: { readonly verificationsKey: string; readonly id: string; readonly retentionMs: number },
): Promise<{ now: number; record: VerificationRecord | undefined }> {
  const reply = await runner.run('get-verification', [args.verificationsKey], subject, [args.id, args.retentionMs], (r) =>
    Math.min(r.length, 2),
  );
  const now = Number(reply[0]);
  if (reply.length < 2) return { now, record: undefined };
  return { now, record: decodeRecord(args.id, subject, String(reply[1])) };
}

/** A record as get-verification.lua answers it: JSON of ver_get's table, however the record is stored (prelude.lua). */
interface StoredRecord {
  c: number;
  e: number;
  m: number;
  a: number;
  s: SendState;
  d: 'unknown' | 'delivered' | 'undelivered';
  ec?: string;
  rt?: number;
  rp?: number;
}

function decodeRecord(id: string, subject: Subject, json: string): VerificationRecord {
  const stored = JSON.parse(json) as StoredRecord;
  return {
    id,
    subject,
    createdAt: stored.c,
    expiresAt: stored.e,
    maxAttempts: stored.m,
    attempts: stored.a,
    state: stored.s,
    delivery: {
      status: stored.d,
      ...(stored.ec === undefined ? {} : { errorCode: stored.ec }),
      ...(stored.rt === undefined ? {} : { reportedAt: stored.rt }),
    },
    receiptPending: stored.rp === 1,
  };
}

/** record-receipt.lua (rules.ts receiptOutcome, freesSlot). */
export async function recordReceipt(
  runner: ScriptRunner,
  subject: Subject,
  args: {
    readonly verificationsKey: string;
    readonly codeKey: string;
    readonly channelLogKey: string;
    readonly phoneLogKey: string;
    readonly receipt: DeliveryReceipt;
    readonly retentionMs: number;
  },
): Promise<ReceiptOutcome> {
  const { receipt } = args;
  const reply = await runner.run(
    'record-receipt',
    [args.verificationsKey, args.codeKey, args.channelLogKey, args.phoneLogKey],
    subject,
    [receipt.outId, receipt.delivered ? 1 : 0, receipt.errorCode, receipt.reportedAt, args.retentionMs],
    () => 1,
  );
  return String(reply[0]) as ReceiptOutcome;
}

/** notice-receipt.lua: one report per notice. */
export async function noticeReceipt(
  runner: ScriptRunner,
  subject: Subject,
  args: { readonly indexKey: string; readonly receipt: DeliveryReceipt },
): Promise<ReceiptOutcome> {
  const { receipt } = args;
  const reply = await runner.run('notice-receipt', [args.indexKey], subject, [receipt.outId, receipt.delivered ? 1 : 0, receipt.errorCode], () => 1);
  return String(reply[0]) as ReceiptOutcome;
}
