import type { ReceiptResult } from '../store.js';
import { orUnavailable } from '../store-unavailable.js';
import type { VerificationKit } from './kit.js';
import type { ReceiptReport } from './types.js';

/** What the service sends as OutId: a verification id (hex) or a notice's send id (hex and base36). */
const OUT_ID = /^[0-9a-z]{1,64}$/;

/**
 * Delivery reports (Aliyun SmsReport): each is matched by its OutId and recorded by the store in one
 * step (rules.ts receiptOutcome). All of a batch are recorded, or the store is unavailable and the
 * provider pushes the batch again (a repeat changes nothing already recorded).
 */
export async function recordReceipts(kit: VerificationKit, reports: readonly ReceiptReport[]): Promise<ReceiptResult[]> {
  const results: ReceiptResult[] = [];
  for (const report of reports) {
    // An OutId the service never makes is nobody's: no store key is built from it.
    const result: ReceiptResult = OUT_ID.test(report.outId) ? await orUnavailable(kit.deps.store.recordReceipt(report)) : { outcome: 'unknown' };
    kit.deps.observer?.receiptRecorded?.(report, result);
    results.push(result);
  }
  return results;
}

/** The report a `TEST_PHONES` SMS gets at once: delivered (it never left, and never will fail to). */
export async function deliverTestSms(kit: VerificationKit, outId: string): Promise<void> {
  try {
    await kit.deps.store.recordReceipt({ outId, delivered: true, errorCode: 'DELIVERED', reportedAt: Date.now() });
  } catch (error) {
    kit.deps.logger.warn({ audit: { outId }, error: (error as Error).name }, 'test phone: delivery not recorded');
  }
}
