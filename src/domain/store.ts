import type { AuditContext, AuditEvent, AuditEventFields, AuditReader } from './audit/audit.js';
import type { SendWindow } from './limits/send-window.js';

/** Whom a code belongs to: one (channel, phone) pair. */
export interface Subject {
  readonly channel: string;
  /** E.164, e.g. `+8613800000000`. */
  readonly phone: string;
}

export type { AuditEventFields } from './audit/audit.js';

/** Who a send limit counts per. `notice`: notices per phone (NOTICE_LIMITS), apart from the code limits. */
export type LimitScope = 'channel' | 'phone' | 'notice' | 'ip' | 'global';

/** What a send carries: a verification code, or a notice (the caller's template; no code). */
export type SendKind = 'code' | 'notice';

/** Every limit a send must fit in, all or nothing. An empty list of windows is no limit. */
export interface SendLimits {
  /** Per (channel, phone): SEND_LIMITS or the channel's own. */
  readonly channel: readonly SendWindow[];
  /** Per phone across channels. */
  readonly phone: readonly SendWindow[];
  /** Notices per phone (NOTICE_LIMITS); a code send leaves it unset or empty. */
  readonly notice?: readonly SendWindow[];
  /** Per client IP; undefined when there is no IP limit (or no IP). */
  readonly ip: { readonly address: string; readonly windows: readonly SendWindow[] } | undefined;
  /** The whole deployment. */
  readonly global: readonly SendWindow[];
}

export interface LimitGroup {
  readonly scope: LimitScope;
  readonly windows: readonly SendWindow[];
}

/**
 * One send, planned once (`planSend` in verification/rules.ts): everything the store needs from its
 * reserve to its commit or release. A `SendReservation` carries it; nobody re-derives its parts.
 */
export interface SendPlan {
  /** A code send keeps a pending code and audits code.*; a notice keeps no code and audits notice.*. */
  readonly kind: SendKind;
  readonly subject: Subject;
  /** Written into every event of this send. */
  readonly context: AuditContext;
  /** Unique per send; the reservation in the send logs (and the provider's outId). */
  readonly sendId: string;
  /** HMAC of the new code (see `hashCode`); empty for a notice. */
  readonly codeHash: string;
  readonly codeTtlMs: number;
  readonly limits: SendLimits;
  /** The limit groups, in refusal order (`limitGroups`). */
  readonly groups: readonly LimitGroup[];
  /** How long the code's record is kept after the send (`recordKeepMs`). */
  readonly keepMs: number;
  /** Wrong guesses the code allows (its verification reads `max_attempts_reached` after them). */
  readonly maxAttempts: number;
}

export type ReserveSendResult =
  | {
      readonly ok: true;
      readonly sentAt: number;
      readonly expiresAt: number;
      /** From when the next send to this (channel, phone) would pass every channel and phone window (`resendAt`). */
      readonly resendAt: number;
    }
  | {
      readonly ok: false;
      /** The first limit that refused (in `limitGroups` order)… */
      readonly scope: LimitScope;
      /** …and the index of its first refusing window. */
      readonly window: number;
      /** Until every refusing window of every limit frees a slot. */
      readonly retryAfterMs: number;
    };

/** How a send whose SMS was handed to the provider ended: accepted, or an unknown outcome (it may have left). */
export type SendOutcome = 'sent' | 'unconfirmed';

/** The first limit a send (now counted) fills, and until when: what an unconfirmed send answers. */
export interface FullLimit {
  readonly scope: LimitScope;
  readonly window: number;
  readonly retryAfterMs: number;
}

/**
 * `promoted`: the code is current (for a notice: it is counted). `superseded`: a newer send's code is. `repeated`: an earlier try
 * of this commit had landed. `lost`: the pending code is gone (a Redis restart without persistence):
 * it will not verify, and code.sent is audited with reason `unconfirmed`.
 */
export type CommitResult = 'promoted' | 'superseded' | 'repeated' | 'lost';

export interface CheckCodeInput {
  readonly subject: Subject;
  /** Check against this verification only: any other current code (or none) answers `not_found`. */
  readonly verificationId?: string | undefined;
  /**
   * The request's `Idempotency-Key` (scoped, see `idempotencyId`): recorded with the decision, so a
   * repeat with the same key and code gets the same decision again (`replayed`) without a second
   * effect; the same key with another code is decided as a new check (its decision replaces the key's).
   */
  readonly idempotencyKey?: string | undefined;
  readonly context: AuditContext;
  readonly codeHash: string;
  readonly maxAttempts: number;
  /** Unique per check: its entry in the phone's wrong-guess log. */
  readonly checkId: string;
  /** Wrong guesses allowed per phone across all its codes; empty: no such limit. */
  readonly failureLimits: readonly SendWindow[];
  /** Checks per client IP (IP_CHECK_LIMITS); undefined when off or there is no IP. */
  readonly ipChecks?: { readonly address: string; readonly windows: readonly SendWindow[] } | undefined;
}

export type CheckStatus =
  | 'approved'
  | 'mismatch'
  | 'expired'
  | 'used'
  | 'too_many_attempts'
  | 'verify_limited'
  | 'check_limited'
  | 'not_found';

export interface CheckResult {
  readonly status: CheckStatus;
  /** Wrong guesses left on this code after this check. */
  readonly attemptsRemaining: number;
  /** For `verify_limited` / `check_limited`: until the phone's wrong-guess (or the IP's check) windows free a slot. */
  readonly retryAfterMs: number;
  /** The decision an earlier check with the same idempotency key took, given again (nothing written). */
  readonly replayed?: boolean;
}

/** What the API says a verification is (rules.ts `verificationStatus`). */
export type VerificationStatus =
  | 'pending'
  | 'approved'
  | 'canceled'
  | 'expired'
  | 'max_attempts_reached'
  | 'superseded'
  | 'failed'
  | 'unconfirmed';

export type DeliveryStatus = 'unknown' | 'delivered' | 'undelivered';

export interface Delivery {
  readonly status: DeliveryStatus;
  readonly errorCode?: string | undefined;
  /** ms */
  readonly reportedAt?: number | undefined;
}

/**
 * What happened to a send, as kept: `reserved` (the SMS is in flight), `sent` (committed), `unconfirmed`
 * (the provider's answer never came, its code counts all the same), `failed` (released: the provider
 * refused it), and the ends a decision writes: `approved`, `canceled`, `superseded`.
 */
export type SendState = 'reserved' | 'sent' | 'unconfirmed' | 'failed' | 'approved' | 'canceled' | 'superseded';

/** One verification (a code send) as the store keeps it, for `VERIFICATION_RETENTION` after its send. */
export interface VerificationRecord {
  readonly id: string;
  readonly subject: Subject;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly maxAttempts: number;
  readonly attempts: number;
  readonly state: SendState;
  readonly delivery: Delivery;
  /** A receipt that came while the send was `reserved`: audited (and applied) when the send is committed. */
  readonly receiptPending: boolean;
}

/** A verification as `GET /v1/verifications/{id}` shows it. */
export interface VerificationView {
  readonly id: string;
  readonly phone: string;
  readonly channel: string;
  readonly status: VerificationStatus;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly attempts: number;
  readonly delivery: Delivery;
}

export type CancelResult =
  | { readonly found: false }
  /** `canceled`: this call canceled it; otherwise `status` is why not. */
  | { readonly found: true; readonly canceled: boolean; readonly status: VerificationStatus };

/** One delivery report (Aliyun SmsReport), matched by the OutId the service sent. */
export interface DeliveryReceipt {
  readonly outId: string;
  readonly delivered: boolean;
  /** The carrier's code: `DELIVERED`, or why not (e.g. `MK:0001`). */
  readonly errorCode: string;
  readonly reportedAt: number;
}

/**
 * `recorded`: the send's delivery is now known (audited once); `early`: its send is not committed yet,
 * the report is kept and applied when it is; `duplicate`: a report for this send was already recorded;
 * `unknown`: no send (still kept) has this OutId.
 */
export type ReceiptOutcome = 'recorded' | 'early' | 'duplicate' | 'unknown';

export interface ReceiptResult {
  readonly outcome: ReceiptOutcome;
  /** What the OutId named, when known. */
  readonly kind?: 'code' | 'notice';
  readonly subject?: Subject;
}

/** Where an OutId leads: the send of a code (a verification) or of a notice, to whom. */
export interface OutIdTarget {
  readonly kind: 'code' | 'notice';
  readonly subject: Subject;
}

/**
 * Every decision is one atomic step of the store: Redis runs it as one Lua
 * script on server time; the memory store runs it synchronously.
 */
export interface VerificationStore {
  readonly kind: 'memory' | 'redis';
  readonly audit: AuditReader;
  /**
   * Checks every send window and, only if all allow it, records the send and (a code send)
   * keeps `codeHash` as pending: the current code stays valid while the SMS is
   * in flight. A refusal is audited as code.rate_limited (notice.rate_limited for a notice).
   */
  reserveSend(plan: SendPlan): Promise<ReserveSendResult>;
  /**
   * The provider accepted the SMS (`sent`) or its outcome is unknown (`unconfirmed`: it may have
   * left): the send stays counted and its code becomes current (unless a newer send's code already
   * is). Audits code.sent or code.send_unconfirmed (notice.* for a notice) with `event`'s fields
   * (provider, outId, requestId, …) once, however often it is retried.
   */
  commitSend(plan: SendPlan, event: AuditEventFields, outcome?: SendOutcome): Promise<CommitResult>;
  /**
   * The SMS was not sent, or the reserve's answer was lost: the send stops counting and its code is
   * dropped (nothing happens to a send never reserved). Audits code.send_failed (notice.send_failed)
   * with `event`'s fields.
   */
  releaseSend(plan: SendPlan, event: AuditEventFields): Promise<void>;
  /**
   * Reads (writes nothing, audits nothing) the first of the plan's limits that is full now, in
   * refusal order, with the wait until every full window frees a slot; undefined if none is full.
   * What a send whose outcome is unknown answers, once it is counted.
   */
  peekSend(plan: SendPlan): Promise<FullLimit | undefined>;
  /**
   * The client IP's check limit → not found → expired → used → too many attempts → the phone's wrong-guess limit → compare
   * (counting a wrong guess on the code and the phone). Audits the outcome.
   */
  checkCode(input: CheckCodeInput): Promise<CheckResult>;
  /** Where an OutId (a verification id, or a notice's send id) leads, while it is kept. */
  findOutId(outId: string): Promise<OutIdTarget | undefined>;
  /** A verification as it stands now; undefined once it aged out (or never was). */
  getVerification(id: string): Promise<VerificationView | undefined>;
  /** A pending verification becomes `canceled` and its code never verifies again; audits code.canceled. */
  cancelVerification(id: string, context: Omit<AuditContext, 'phone' | 'channel'>): Promise<CancelResult>;
  /**
   * A delivery report: updates the send's delivery and audits code.delivered / code.undelivered (or
   * notice.*) once per send; an undelivered report for a verification's current code frees its slot
   * in the channel's and the phone's send logs.
   */
  recordReceipt(receipt: DeliveryReceipt): Promise<ReceiptResult>;
  /** Appends an event no decision carries (notice.*). */
  appendAudit(context: AuditContext, event: AuditEvent): Promise<void>;
  /** The secret every instance sharing this store uses: the stored one, or `candidate` if none is stored yet. */
  sharedSecret(candidate: string): Promise<string>;
  ping(): Promise<void>;
  /** Calls `listener` each time the store (re)connects after an outage; the memory store never does. */
  onReconnect(listener: () => void): void;
  close(): Promise<void>;
}
