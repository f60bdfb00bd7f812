import type { Logger } from '../logger.js';
import type { CommitResult, SendOutcome } from '../store.js';
import type { SendReservation } from './reservation.js';
import type { AuditEventFields } from '../audit/audit.js';

const COMMIT_RETRY_MS = 500;

/**
 * Commits sent codes. The SMS is out, so the request succeeds whatever happens next (failing it would
 * invite a second SMS). If the store cannot take the commit this instant, keep trying until the code
 * would have expired, so the code the person received verifies once the store is back.
 */
export class CommitRetry {
  private closed = false;
  /** Send ids whose commit is being retried. */
  private readonly retrying = new Set<string>();

  constructor(private readonly logger: Logger) {}

  /** Each try is a new store call, so each gets a fresh request deadline. */
  async commit(reservation: SendReservation, event: AuditEventFields, expiresAt: number, outcome: SendOutcome = 'sent'): Promise<void> {
    try {
      this.report(await reservation.commit(event, outcome), reservation);
    } catch (error) {
      logStoreError(this.logger, 'code sent but not yet committed; retrying', reservation, error);
      this.retry(reservation, event, expiresAt, outcome);
    }
  }

  /** Stops retrying, naming the sends whose codes will now not verify. */
  close(): void {
    this.closed = true;
    if (this.retrying.size > 0) {
      this.logger.error({ audit: { outIds: [...this.retrying] } }, 'shutting down with sent codes not yet committed');
    }
  }

  private retry(reservation: SendReservation, event: AuditEventFields, expiresAt: number, outcome: SendOutcome): void {
    this.retrying.add(reservation.sendId);
    const timer = setTimeout(() => {
      if (this.closed || Date.now() >= expiresAt) {
        this.retrying.delete(reservation.sendId);
        logStoreError(this.logger, 'code sent but never committed: it will not verify', reservation, undefined);
        return;
      }
      reservation.commit(event, outcome).then(
        (result) => {
          this.retrying.delete(reservation.sendId);
          this.report(result, reservation);
        },
        () => this.retry(reservation, event, expiresAt, outcome),
      );
    }, COMMIT_RETRY_MS);
    timer.unref();
  }

  private report(result: CommitResult, reservation: SendReservation): void {
    if (result === 'lost') {
      logStoreError(this.logger, 'code sent but its pending record was lost: it will not verify', reservation, undefined);
    }
  }
}

export function logStoreError(logger: Logger, message: string, reservation: SendReservation, error: unknown): void {
  logger.error(
    {
      audit: { outId: reservation.sendId, channel: reservation.plan.subject.channel },
      ...(error ? { error: (error as Error).name } : {}),
    },
    message,
  );
}
