import type { AuditEventFields } from '../audit/audit.js';
import type { CommitResult, FullLimit, ReserveSendResult, SendOutcome, SendPlan, VerificationStore } from '../store.js';

/**
 * One send as a value: reserve it, then commit it (the provider accepted the SMS) or release it (it
 * did not, or the reserve's answer was lost: a release of a send never reserved changes nothing but
 * the audit). It carries its plan, so the caller carries nothing from reserve to commit.
 */
export class SendReservation {
  constructor(
    private readonly store: VerificationStore,
    readonly plan: SendPlan,
  ) {}

  get sendId(): string {
    return this.plan.sendId;
  }

  reserve(): Promise<ReserveSendResult> {
    return this.store.reserveSend(this.plan);
  }

  /** `unconfirmed`: the provider's answer never came; the send counts all the same and its code becomes current. */
  commit(event: AuditEventFields, outcome: SendOutcome = 'sent'): Promise<CommitResult> {
    return this.store.commitSend(this.plan, event, outcome);
  }

  /** The first of this send's limits that is full now (read only). */
  fullLimit(): Promise<FullLimit | undefined> {
    return this.store.peekSend(this.plan);
  }

  release(event: AuditEventFields): Promise<void> {
    return this.store.releaseSend(this.plan, event);
  }
}
