import type { Phone } from './phones/phone.js';

/** A provider template code (`SMS_154950909`): what callers may name and `NOTICE_TEMPLATES` may list. */
export const TEMPLATE_CODE = /^[A-Za-z0-9_.-]{1,64}$/;

/** Aliyun wants strings; the seed's callers sometimes sent numbers, which are passed on as they came. */
export type TemplateValue = string | number | boolean;

export interface SmsMessage {
  readonly phone: Phone;
  readonly signName: string | undefined;
  readonly templateCode: string;
  /** Sent as the template's JSON parameters, values unchanged. */
  readonly templateParam: Readonly<Record<string, TemplateValue>>;
  /** Our id for this send, echoed by the provider in receipts: ties it to the audit trail. */
  readonly outId: string;
}

/**
 * How a failed send is reported to callers; everything the provider said stays in logs and audit.
 * `unconfirmed`: the provider's answer never came (a read timeout, a reset once the request was issued):
 * it may have sent the SMS. Every other failure means the SMS provably did not leave.
 */
export type SmsFailure = 'invalid_phone' | 'rate_limited' | 'failed' | 'unavailable' | 'unconfirmed';

export type SmsOutcome =
  | { readonly ok: true; readonly bizId?: string; readonly requestId?: string }
  | {
      readonly ok: false;
      readonly failure: SmsFailure;
      readonly providerCode: string;
      readonly providerMessage?: string;
      readonly requestId?: string;
    };

export interface SmsProvider {
  readonly name: string;
  /** Sends one SMS, once: never retried, and never throws (failures are outcomes). */
  send(message: SmsMessage): Promise<SmsOutcome>;
  close?(): Promise<void>;
}
