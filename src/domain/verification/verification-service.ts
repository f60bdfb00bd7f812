import type { AuditPage, AuditQuery } from '../audit/audit.js';
import { orUnavailable } from '../store-unavailable.js';
import { checkCode } from './check-code.js';
import { cancelVerification, getVerification } from './lifecycle.js';
import { recordReceipts } from './receipts.js';
import { CommitRetry } from './commit-retry.js';
import { VerificationKit } from './kit.js';
import { sendCode } from './send-code.js';
import { sendNotice } from './send-notice.js';
import type { ReceiptResult } from '../store.js';
import type {
  CancelVerificationResult,
  CheckCodeRequest,
  CheckCodeResult,
  SendCodeRequest,
  SendCodeResult,
  SendNoticeRequest,
  SendNoticeResult,
  ReceiptReport,
  VerificationLookup,
  VerificationServiceDeps,
  VerificationView,
} from './types.js';

export type * from './types.js';

/**
 * Sends, checks and notices: the facade the HTTP layer calls, with no knowledge of HTTP. Each use
 * case lives in its own module (send-code, check-code, send-notice; commit-retry for sent codes the
 * store could not take at once); this class reports their results to the observer (metrics).
 */
export class VerificationService {
  private readonly kit: VerificationKit;
  private readonly commits: CommitRetry;

  constructor(private readonly deps: VerificationServiceDeps) {
    this.kit = new VerificationKit(deps, deps.secret);
    this.commits = new CommitRetry(deps.logger);
  }

  /**
   * After the store comes back (a restart without persistence forgets the shared secret),
   * publish ours again or adopt the one another instance published first, so that every
   * instance keeps checking every other's codes. Codes stored under a secret that was lost
   * were lost with it.
   */
  async resyncSecret(): Promise<void> {
    const shared = await this.deps.store.sharedSecret(this.kit.secret);
    if (shared !== this.kit.secret) {
      this.deps.logger.warn({}, 'the shared code secret changed in the store; adopting it');
      this.kit.secret = shared;
    }
  }

  async sendCode(request: SendCodeRequest): Promise<SendCodeResult> {
    const result = await sendCode(this.kit, this.commits, request);
    this.deps.observer?.codeSent(result);
    return result;
  }

  async checkCode(request: CheckCodeRequest): Promise<CheckCodeResult> {
    const result = await checkCode(this.kit, request);
    this.deps.observer?.codeChecked(result);
    return result;
  }

  /** A notification SMS: the caller's template and parameters, unchanged; no code, inside the send budget. */
  async sendNotice(request: SendNoticeRequest): Promise<SendNoticeResult> {
    const result = await sendNotice(this.kit, this.commits, request);
    this.deps.observer?.noticeSent(result);
    return result;
  }

  /** A verification by id, if the caller may see it (undefined: unknown to it). */
  getVerification(lookup: VerificationLookup): Promise<VerificationView | undefined> {
    return getVerification(this.kit, lookup);
  }

  /** A pending verification becomes canceled: its code never verifies again. */
  cancelVerification(lookup: VerificationLookup): Promise<CancelVerificationResult> {
    return cancelVerification(this.kit, lookup);
  }

  /** Delivery reports pushed by the provider, each recorded once per send. */
  recordReceipts(reports: readonly ReceiptReport[]): Promise<ReceiptResult[]> {
    return recordReceipts(this.kit, reports);
  }

  /** A page of the audit trail. */
  async readAudit(query: AuditQuery, options: { limit: number; cursor?: string }): Promise<AuditPage> {
    return orUnavailable(this.deps.store.audit.page(query, options));
  }

  /** Stops background work (commit retries), naming the sends whose codes will now not verify. */
  close(): void {
    this.commits.close();
  }
}
