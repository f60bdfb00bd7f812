import type { AuditContext, AuditEvent, AuditEventFields } from '../audit/audit.js';
import { isValidChannel } from '../channels/channel.js';
import { hashCode } from '../codes/code.js';
import type { Logger } from '../logger.js';
import { maskPhone, parsePhone, type Phone } from '../phones/phone.js';
import type { SmsMessage, SmsOutcome } from '../sms-provider.js';
import type { Subject } from '../store.js';
import type { Invalid, RequestContext, VerificationServiceDeps } from './types.js';

/**
 * What the use cases share: the dependencies, the current code secret (which `resyncSecret` may
 * replace), and the small steps every use case takes (parse the subject, call the provider, audit).
 */
export class VerificationKit {
  constructor(
    readonly deps: VerificationServiceDeps,
    public secret: string,
  ) {}

  subject(request: { readonly phone?: unknown; readonly channel?: unknown }): { phone: Phone; channel: string } | Invalid {
    if (!isValidChannel(request.channel)) return { kind: 'invalid', field: 'channel' };
    const parsed = parsePhone(request.phone);
    if (!parsed.ok) return { kind: 'invalid', field: 'phone' };
    return { phone: parsed.phone, channel: request.channel };
  }

  hash(subject: Subject, code: string): string {
    return hashCode(this.secret, subject.channel, subject.phone, code);
  }

  log(request: { readonly context?: RequestContext }): Logger {
    return request.context?.logger ?? this.deps.logger;
  }

  /** `TEST_PHONES`' fixed code for this number, if it is one of them. */
  testCode(phone: Phone): string | undefined {
    return this.deps.testPhones?.get(phone.e164);
  }

  /** Who sends to this number: `test` for `TEST_PHONES`, else the provider. */
  providerName(phone: Phone): string {
    return this.testCode(phone) === undefined ? this.deps.sms.name : TEST_PROVIDER;
  }

  /**
   * Providers report failures as outcomes; a provider that throws anyway must not strand a reservation.
   * A test phone's SMS never reaches the provider: it is accepted at once.
   */
  async sendSms(message: SmsMessage): Promise<SmsOutcome> {
    if (this.testCode(message.phone) !== undefined) return { ok: true };
    try {
      return await this.deps.sms.send(message);
    } catch (error) {
      const providerCode = error instanceof Error ? error.name : 'UnknownError';
      return { ok: false, failure: 'failed', providerCode };
    }
  }

  /** The audit fields a provider call contributes: never the message text or its parameters. */
  providerFields(template: string, outId: string, outcome: SmsOutcome, phone: Phone): AuditEventFields {
    return {
      reason: outcome.ok ? undefined : outcome.providerCode,
      template,
      provider: this.providerName(phone),
      bizId: outcome.ok ? outcome.bizId : undefined,
      requestId: outcome.requestId,
      outId,
    };
  }

  /**
   * An event no store decision carries (notices, blocked numbers). The answer does not depend on it:
   * for a notice the SMS has gone out, and failing the request would invite a second one. If the
   * event cannot be written (the store went away this instant), say so in the log, with the outId.
   */
  async appendEvent(log: Logger, context: AuditContext, event: AuditEvent): Promise<void> {
    try {
      await this.deps.store.appendAudit(context, event);
    } catch (error) {
      log.error(
        { audit: { event: event.event, outId: event.outId, channel: context.channel }, error: (error as Error).name },
        'audit event not written: store unavailable',
      );
    }
  }

  logFailure(log: Logger, what: string, phone: Phone, channel: string, outcome: Extract<SmsOutcome, { ok: false }>): void {
    log.warn(
      {
        sms: {
          provider: this.deps.sms.name,
          phone: maskPhone(phone.e164, phone.countryCallingCode),
          channel,
          providerCode: outcome.providerCode,
          providerMessage: outcome.providerMessage,
          requestId: outcome.requestId,
        },
      },
      `${what} SMS not sent`,
    );
  }
}

/** The provider name audited for `TEST_PHONES` sends. */
export const TEST_PROVIDER = 'test';

/** Whole seconds, rounded up, at least 1. */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

export function auditContext(subject: Subject, context: RequestContext | undefined): AuditContext {
  return { phone: subject.phone, channel: subject.channel, ip: context?.ip, caller: context?.caller };
}
