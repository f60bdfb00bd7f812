import type { AuditContext, AuditPage, AuditQuery } from '../audit/audit.js';
import type { ChannelPolicies } from '../channels/channel-policy.js';
import { isValidChannel } from '../channels/channel.js';
import { generateCode, generateSendId, hashCode, isWellFormedCode } from '../codes/code.js';
import type { Logger } from '../logger.js';
import { isPhoneAllowed, type PhonePolicy } from '../phones/phone-policy.js';
import { maskPhone, parsePhone, type Phone } from '../phones/phone.js';
import type { AbuseLimits, SendWindow } from '../limits/send-window.js';
import type { SmsFailure, SmsMessage, SmsOutcome, SmsProvider, TemplateValue } from '../sms-provider.js';
import type {
  AuditEventFields,
  CheckStatus,
  CommitResult,
  FinishSendInput,
  LimitScope,
  SendLimits,
  Subject,
  VerificationStore,
} from '../store.js';
import { StoreUnavailableError, orUnavailable } from '../store-unavailable.js';

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
      readonly phone: Phone;
      readonly channel: string;
      readonly expiresAt: Date;
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
  | { readonly kind: 'send_failed'; readonly failure: SmsFailure };

/** The number is refused by policy (BLOCKED_PREFIXES, ALLOWED_COUNTRIES) before any send. */
export type Blocked = { readonly kind: 'blocked' };

export type CheckCodeResult =
  | Invalid
  | {
      readonly kind: 'checked';
      readonly status: CheckStatus;
      readonly attemptsRemaining: number;
      /** For `verify_limited`: whole seconds until the phone may be checked again. */
      readonly retryAfterSeconds: number;
    };

export type SendNoticeResult =
  | Invalid
  | Blocked
  | { readonly kind: 'sent'; readonly phone: Phone; readonly channel: string; readonly bizId: string | undefined }
  | { readonly kind: 'send_failed'; readonly failure: SmsFailure };

/** Sees every result (metrics); must not throw. */
export interface VerificationObserver {
  codeSent(result: SendCodeResult): void;
  codeChecked(result: CheckCodeResult): void;
  noticeSent(result: SendNoticeResult): void;
}

/** Who is asking: recorded in every audit event of the request. */
export interface RequestContext {
  readonly ip?: string;
  /** The API key's name, once callers authenticate. */
  readonly caller?: string;
  /** The request's logger (its lines carry the request id); the service's own otherwise. */
  readonly logger?: Logger;
}

export interface SendCodeRequest {
  readonly phone: unknown;
  readonly channel: unknown;
  readonly context?: RequestContext;
}

export interface CheckCodeRequest extends SendCodeRequest {
  readonly code: unknown;
}

export interface SendNoticeRequest extends SendCodeRequest {
  readonly templateCode: unknown;
  readonly templateParam: Readonly<Record<string, TemplateValue>>;
}

export interface VerificationServiceDeps {
  readonly store: VerificationStore;
  readonly sms: SmsProvider;
  readonly policies: ChannelPolicies;
  readonly logger: Logger;
  /** The HMAC key for codes, shared by every instance on the same store. */
  readonly secret: string;
  /** Limits beyond the channel's own, and which numbers may receive SMS at all. */
  readonly guards: { readonly limits: AbuseLimits; readonly phonePolicy: PhonePolicy };
  readonly observer?: VerificationObserver;
}

const TEMPLATE_CODE = /^[A-Za-z0-9_.-]{1,64}$/;

/** Sends, checks and notices: the whole domain, with no knowledge of HTTP. */
const COMMIT_RETRY_MS = 500;

export class VerificationService {
  private closed = false;
  private secret: string;
  /** Send ids whose commit is being retried. */
  private readonly retrying = new Set<string>();

  constructor(private readonly deps: VerificationServiceDeps) {
    this.secret = deps.secret;
  }

  /**
   * After the store comes back (a restart without persistence forgets the shared secret),
   * publish ours again or adopt the one another instance published first, so that every
   * instance keeps checking every other's codes. Codes stored under a secret that was lost
   * were lost with it.
   */
  async resyncSecret(): Promise<void> {
    const shared = await this.deps.store.sharedSecret(this.secret);
    if (shared !== this.secret) {
      this.deps.logger.warn({}, 'the shared code secret changed in the store; adopting it');
      this.secret = shared;
    }
  }

  async sendCode(request: SendCodeRequest): Promise<SendCodeResult> {
    const result = await this.decideSendCode(request);
    this.deps.observer?.codeSent(result);
    return result;
  }

  async checkCode(request: CheckCodeRequest): Promise<CheckCodeResult> {
    const result = await this.decideCheckCode(request);
    this.deps.observer?.codeChecked(result);
    return result;
  }

  /** A notification SMS: the caller's template and parameters, unchanged; no codes, no send limits. */
  async sendNotice(request: SendNoticeRequest): Promise<SendNoticeResult> {
    const result = await this.decideSendNotice(request);
    this.deps.observer?.noticeSent(result);
    return result;
  }

  private async decideSendCode(request: SendCodeRequest): Promise<SendCodeResult> {
    const subject = this.subject(request);
    if ('kind' in subject) return subject;
    const { phone, channel } = subject;
    const key: Subject = { channel, phone: phone.e164 };
    const context = auditContext(key, request.context);
    if (!isPhoneAllowed(this.deps.guards.phonePolicy, phone)) {
      await this.appendEvent(this.log(request), context, { event: 'code.send_failed', reason: 'phone_blocked' });
      return { kind: 'blocked' };
    }
    const policy = this.deps.policies.forChannel(channel);
    const limits = this.sendLimits(policy.sendLimits, request.context);
    const code = generateCode(policy.codeLength);
    const sendId = generateSendId();
    const finish = { subject: key, context, sendId, codeTtlMs: policy.codeTtlMs, limits };

    let reservation;
    try {
      reservation = await this.deps.store.reserveSend({ ...finish, codeHash: this.hash(key, code) });
    } catch (error) {
      this.logStoreError('send not reserved: the store did not answer (answered store unavailable; no SMS sent)', finish, error);
      // The script may have run with its answer lost (a timeout): undo, in case it did.
      await this.releaseAfterFailure(
        { ...finish, event: { reason: 'store_unavailable' } },
        'undo of the unanswered reserve failed too: if the reserve did run, it counts until its window passes',
      );
      throw new StoreUnavailableError({ cause: error });
    }
    if (!reservation.ok) {
      return {
        kind: 'rate_limited',
        scope: reservation.scope,
        windows: windowsOf(limits, reservation.scope),
        window: reservation.window,
        retryAfterSeconds: retryAfterSeconds(reservation.retryAfterMs),
      };
    }

    const outcome = await this.sendSms({
      phone,
      signName: policy.signName,
      templateCode: policy.templateCode,
      templateParam: { [policy.templateVariable]: code },
      outId: sendId,
    });
    const event = this.providerFields(policy.templateCode, sendId, outcome);
    if (!outcome.ok) {
      this.logFailure(this.log(request), 'verification code', phone, channel, outcome);
      await this.releaseAfterFailure({ ...finish, event });
      return { kind: 'send_failed', failure: outcome.failure };
    }
    await this.commitAfterSend({ ...finish, event }, reservation.expiresAt);
    return { kind: 'sent', phone, channel, expiresAt: new Date(reservation.expiresAt), code };
  }

  /**
   * The SMS is out, so the request succeeds whatever happens next (failing it would invite a second
   * SMS). If the store cannot take the commit this instant, keep trying until the code would have
   * expired, so the code the person received verifies once the store is back.
   */
  private async commitAfterSend(finish: FinishSendInput, expiresAt: number): Promise<void> {
    try {
      this.reportCommit(await this.deps.store.commitSend(finish), finish);
    } catch (error) {
      this.logStoreError('code sent but not yet committed; retrying', finish, error);
      this.retryCommit(finish, expiresAt);
    }
  }

  private retryCommit(finish: FinishSendInput, expiresAt: number): void {
    this.retrying.add(finish.sendId);
    const timer = setTimeout(() => {
      if (this.closed || Date.now() >= expiresAt) {
        this.retrying.delete(finish.sendId);
        this.logStoreError('code sent but never committed: it will not verify', finish, undefined);
        return;
      }
      this.deps.store.commitSend(finish).then(
        (result) => {
          this.retrying.delete(finish.sendId);
          this.reportCommit(result, finish);
        },
        () => this.retryCommit(finish, expiresAt),
      );
    }, COMMIT_RETRY_MS);
    timer.unref();
  }

  private reportCommit(result: CommitResult, finish: FinishSendInput): void {
    if (result === 'lost') this.logStoreError('code sent but its pending record was lost: it will not verify', finish, undefined);
  }

  /** The send failed; if the store cannot take the release, the failure is still the answer. */
  private async releaseAfterFailure(
    finish: FinishSendInput,
    unreleased = 'failed send not released: it counts until its window passes',
  ): Promise<void> {
    try {
      await this.deps.store.releaseSend(finish);
    } catch (error) {
      this.logStoreError(unreleased, finish, error);
    }
  }

  /** Stops background work (commit retries), naming the sends whose codes will now not verify. */
  close(): void {
    this.closed = true;
    if (this.retrying.size > 0) {
      this.deps.logger.error({ audit: { outIds: [...this.retrying] } }, 'shutting down with sent codes not yet committed');
    }
  }

  private logStoreError(message: string, finish: Pick<FinishSendInput, 'sendId' | 'subject'>, error: unknown): void {
    this.deps.logger.error(
      {
        audit: { outId: finish.sendId, channel: finish.subject.channel },
        ...(error ? { error: (error as Error).name } : {}),
      },
      message,
    );
  }

  private async decideCheckCode(request: CheckCodeRequest): Promise<CheckCodeResult> {
    const subject = this.subject(request);
    if ('kind' in subject) return subject;
    const { phone, channel } = subject;
    const policy = this.deps.policies.forChannel(channel);
    if (!isWellFormedCode(request.code, policy.codeLength)) {
      return { kind: 'invalid', field: 'code', codeLength: policy.codeLength };
    }
    const key: Subject = { channel, phone: phone.e164 };
    const result = await orUnavailable(
      this.deps.store.checkCode({
        subject: key,
        context: auditContext(key, request.context),
        codeHash: this.hash(key, request.code),
        maxAttempts: policy.maxVerifyAttempts,
        checkId: generateSendId(),
        failureLimits: this.deps.guards.limits.verifyFailures,
      }),
    );
    return {
      kind: 'checked',
      status: result.status,
      attemptsRemaining: result.attemptsRemaining,
      retryAfterSeconds: result.status === 'verify_limited' ? retryAfterSeconds(result.retryAfterMs) : 0,
    };
  }

  private async decideSendNotice(request: SendNoticeRequest): Promise<SendNoticeResult> {
    const subject = this.subject(request);
    if ('kind' in subject) return subject;
    const { phone, channel } = subject;
    if (!isPhoneAllowed(this.deps.guards.phonePolicy, phone)) {
      const context = auditContext({ channel, phone: phone.e164 }, request.context);
      await this.appendEvent(this.log(request), context, { event: 'notice.send_failed', reason: 'phone_blocked' });
      return { kind: 'blocked' };
    }
    if (typeof request.templateCode !== 'string' || !TEMPLATE_CODE.test(request.templateCode)) {
      return { kind: 'invalid', field: 'templateCode' };
    }
    const policy = this.deps.policies.forChannel(channel);
    const outId = generateSendId();
    const outcome = await this.sendSms({
      phone,
      signName: policy.signName,
      templateCode: request.templateCode,
      templateParam: request.templateParam,
      outId,
    });
    const context = auditContext({ channel, phone: phone.e164 }, request.context);
    const event = this.providerFields(request.templateCode, outId, outcome);
    if (!outcome.ok) {
      this.logFailure(this.log(request), 'notice', phone, channel, outcome);
      await this.appendEvent(this.log(request), context, { event: 'notice.send_failed', ...event });
      return { kind: 'send_failed', failure: outcome.failure };
    }
    await this.appendEvent(this.log(request), context, { event: 'notice.sent', ...event });
    return { kind: 'sent', phone, channel, bizId: outcome.bizId };
  }

  /** A page of the audit trail. */
  async readAudit(query: AuditQuery, options: { limit: number; cursor?: string }): Promise<AuditPage> {
    return orUnavailable(this.deps.store.audit.page(query, options));
  }

  /** The audit fields a provider call contributes: never the message text or its parameters. */
  private providerFields(template: string, outId: string, outcome: SmsOutcome): AuditEventFields {
    return {
      reason: outcome.ok ? undefined : outcome.providerCode,
      template,
      provider: this.deps.sms.name,
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
  private async appendEvent(log: Logger, context: AuditContext, event: AuditEventFields): Promise<void> {
    try {
      await this.deps.store.appendAudit(context, event);
    } catch (error) {
      log.error(
        { audit: { event: event.event, outId: event.outId, channel: context.channel }, error: (error as Error).name },
        'audit event not written: store unavailable',
      );
    }
  }

  private log(request: { readonly context?: RequestContext }): Logger {
    return request.context?.logger ?? this.deps.logger;
  }

  /** Providers report failures as outcomes; a provider that throws anyway must not strand a reservation. */
  private async sendSms(message: SmsMessage): Promise<SmsOutcome> {
    try {
      return await this.deps.sms.send(message);
    } catch (error) {
      const providerCode = error instanceof Error ? error.name : 'UnknownError';
      return { ok: false, failure: 'failed', providerCode };
    }
  }

  private sendLimits(channelWindows: readonly SendWindow[], context: RequestContext | undefined): SendLimits {
    const { phone, ip, global } = this.deps.guards.limits;
    return {
      channel: channelWindows,
      phone,
      ip: ip.length > 0 && context?.ip ? { address: context.ip, windows: ip } : undefined,
      global,
    };
  }

  private subject(request: SendCodeRequest): { phone: Phone; channel: string } | Invalid {
    if (!isValidChannel(request.channel)) return { kind: 'invalid', field: 'channel' };
    const parsed = parsePhone(request.phone);
    if (!parsed.ok) return { kind: 'invalid', field: 'phone' };
    return { phone: parsed.phone, channel: request.channel };
  }

  private hash(subject: Subject, code: string): string {
    return hashCode(this.secret, subject.channel, subject.phone, code);
  }

  private logFailure(
    log: Logger,
    what: string,
    phone: Phone,
    channel: string,
    outcome: Extract<SmsOutcome, { ok: false }>,
  ): void {
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

function windowsOf(limits: SendLimits, scope: LimitScope): readonly SendWindow[] {
  return scope === 'ip' ? (limits.ip?.windows ?? []) : limits[scope];
}

/** Whole seconds, rounded up, at least 1. */
function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

function auditContext(subject: Subject, context: RequestContext | undefined): AuditContext {
  return { phone: subject.phone, channel: subject.channel, ip: context?.ip, caller: context?.caller };
}
