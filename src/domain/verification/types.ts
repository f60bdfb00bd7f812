import type { ChannelPolicies } from '../channels/channel-policy.js';
import type { Logger } from '../logger.js';
import type { PhonePolicy } from '../phones/phone-policy.js';
import type { Phone } from '../phones/phone.js';
import type { AbuseLimits, SendWindow } from '../limits/send-window.js';
import type { SmsFailure, SmsProvider, TemplateValue } from '../sms-provider.js';
import type { CheckStatus, LimitScope, ReceiptResult, VerificationStatus, VerificationStore, VerificationView } from '../store.js';

/** The requests and results of the verification use cases (no HTTP in them). */

export type InvalidField = 'phone' | 'channel' | 'code' | 'templateCode' | 'templateParam';

export type Invalid = {
  readonly kind: 'invalid';
  readonly field: InvalidField;
  /** For `code`: how many digits the channel's codes have. */
  readonly codeLength?: number;
};

export type SendCodeResult =
  | Invalid
  | {
      readonly kind: 'sent';
      /** The verification's id (also the provider's OutId). */
      readonly id: string;
      readonly phone: Phone;
      readonly channel: string;
      readonly expiresAt: Date;
      /** From when the next send to this channel and phone passes every channel and phone window. */
      readonly resendAvailableAt: Date;
      /** For EXPOSE_CODE only; never logged. */
      readonly code: string;
    }
  | {
      readonly kind: 'rate_limited';
      /** The first limit that refused… */
      readonly scope: LimitScope;
      /** …its windows… */
      readonly windows: readonly SendWindow[];
      /** …and the index of its first refusing window. */
      readonly window: number;
      readonly retryAfterSeconds: number;
    }
  | Blocked
  | { readonly kind: 'send_failed'; readonly failure: SmsFailure }
  | Unconfirmed;

/** The number is refused by policy (BLOCKED_PREFIXES, ALLOWED_COUNTRIES) before any send. */
export type Blocked = { readonly kind: 'blocked' };

export type CheckCodeResult =
  | Invalid
  /** `{verificationId}` names no verification the caller may see. */
  | { readonly kind: 'unknown_verification' }
  | {
      readonly kind: 'checked';
      readonly status: CheckStatus;
      readonly attemptsRemaining: number;
      /** For `verify_limited`: whole seconds until the phone may be checked again. */
      readonly retryAfterSeconds: number;
      /** The decision of an earlier check with the same idempotency key, given again. */
      readonly replayed: boolean;
    };

export type CancelVerificationResult =
  | { readonly kind: 'unknown_verification' }
  | { readonly kind: 'canceled' }
  | { readonly kind: 'not_pending'; readonly status: VerificationStatus };

/** One delivery report as parsed from the provider's push. */
export interface ReceiptReport {
  readonly outId: string;
  readonly delivered: boolean;
  readonly errorCode: string;
  readonly reportedAt: number;
}

export type SendNoticeResult =
  | Invalid
  | Blocked
  | { readonly kind: 'template_not_allowed' }
  | { readonly kind: 'sent'; readonly phone: Phone; readonly channel: string; readonly bizId: string | undefined }
  | RateLimited
  | { readonly kind: 'send_failed'; readonly failure: SmsFailure }
  | Unconfirmed;

/** A send refused by a limit. */
export type RateLimited = Extract<SendCodeResult, { kind: 'rate_limited' }>;

/**
 * The provider's answer never came (it may have sent the SMS): the send is counted (a code becomes
 * current), and the caller waits until the first full limit frees a slot.
 */
export type Unconfirmed = {
  readonly kind: 'send_unconfirmed';
  /** The first limit the counted send fills, if any is full (its scope, windows and window index)… */
  readonly full: { readonly scope: LimitScope; readonly windows: readonly SendWindow[]; readonly window: number } | undefined;
  /** …and whole seconds until every full window frees a slot (at least 1). */
  readonly retryAfterSeconds: number;
  /** A code send's verification id: it reads `unconfirmed`, and its code verifies if the SMS came. */
  readonly verificationId?: string;
};

/** Sees every result (metrics); must not throw. */
export interface VerificationObserver {
  codeSent(result: SendCodeResult): void;
  codeChecked(result: CheckCodeResult): void;
  noticeSent(result: SendNoticeResult): void;
  receiptRecorded?(report: ReceiptReport, result: ReceiptResult): void;
}

/** Who is asking: recorded in every audit event of the request. */
export interface RequestContext {
  readonly ip?: string;
  /** The API key's name, once callers authenticate. */
  readonly caller?: string;
  /** The channels the caller's key may use; undefined: all. */
  readonly channels?: ReadonlySet<string> | undefined;
  /** The request's logger (its lines carry the request id); the service's own otherwise. */
  readonly logger?: Logger;
}

export interface SendCodeRequest {
  readonly phone: unknown;
  readonly channel: unknown;
  readonly context?: RequestContext;
}

export interface CheckCodeRequest {
  readonly phone?: unknown;
  readonly channel?: unknown;
  /** Instead of phone and channel. */
  readonly verificationId?: string | undefined;
  readonly code: unknown;
  readonly context?: RequestContext;
  /** The request's scoped idempotency key (`idempotencyId`), if it has one. */
  readonly idempotencyKey?: string | undefined;
}

/** A verification by id, as the caller (limited to `context.channels`, if at all) may see it. */
export interface VerificationLookup {
  readonly id: string;
  readonly context?: RequestContext;
}

export type { VerificationView };

export interface SendNoticeRequest extends SendCodeRequest {
  readonly templateCode: unknown;
  readonly templateParam: Readonly<Record<string, TemplateValue>>;
}

/** Which templates a notice may use. */
export interface NoticeTemplatePolicy {
  /** The verification templates (every channel's): never sent as notices, so no notice looks like a code. */
  readonly verificationTemplates: ReadonlySet<string>;
  /** NOTICE_TEMPLATES: when set, the only templates a notice may use. */
  readonly allowed: ReadonlySet<string> | undefined;
}

export interface VerificationServiceDeps {
  readonly store: VerificationStore;
  readonly sms: SmsProvider;
  readonly policies: ChannelPolicies;
  readonly logger: Logger;
  /** The HMAC key for codes, shared by every instance on the same store. */
  readonly secret: string;
  /** Limits beyond the channel's own, which numbers may receive SMS at all, and which templates may be notices. */
  readonly guards: { readonly limits: AbuseLimits; readonly phonePolicy: PhonePolicy; readonly notices: NoticeTemplatePolicy };
  /** `TEST_PHONES`: E.164 → the fixed code. Sends to them never reach the provider. */
  readonly testPhones?: ReadonlyMap<string, string>;
  readonly observer?: VerificationObserver;
}
