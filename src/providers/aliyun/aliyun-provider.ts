import Credentials from '@alicloud/credentials';
import Dysms, { SendSmsRequest, type SendSmsResponse } from '@alicloud/dysmsapi20170525';
import { $OpenApiUtil } from '@alicloud/openapi-core';
import { RuntimeOptions } from '@darabonba/typescript';
import type { Logger } from '../../domain/logger.js';
import { maskPhone } from '../../domain/phones/phone.js';
import type { SmsMessage, SmsOutcome, SmsProvider } from '../../domain/sms-provider.js';
import { failure, fromError, fromResponse, withoutUndefined } from './outcomes.js';
// Also subscribes the SDK's HTTP hooks (request tracking, the read-timer workaround).
import { awaitingRequest } from './transport-hooks.js';

/**
 * The SDK packages are CommonJS with `exports.default = Class`. Node's ESM loader (tsx, production) hands a
 * default import `module.exports`, so the class is at `.default`; vitest unwraps `__esModule` and hands over
 * the class itself. Accept both.
 */
function cjsDefaultExport<T>(imported: { default: T }): T {
  return typeof imported === 'function' ? (imported as unknown as T) : imported.default;
}

const DysmsClient = cjsDefaultExport(Dysms);
type DysmsClient = InstanceType<typeof DysmsClient>;
const Credential = cjsDefaultExport(Credentials);

export interface AliyunProviderOptions {
  /** `https://dysmsapi.aliyuncs.com`, or `http://127.0.0.1:9000` for a local double. Only scheme, host and port. */
  endpoint: string;
  /** Static AccessKey (with `securityToken`: STS). Unset id and secret: the default credential chain. */
  accessKeyId?: string;
  accessKeySecret?: string;
  securityToken?: string;
  /** Connect timeout, read timeout, and the deadline for the whole send (credentials included). */
  timeoutMs: number;
  logger: Logger;
}


/** What the race in send() settles with: the SDK's answer, its error, or the deadline. */
type Settled = { kind: 'response'; response: SendSmsResponse } | { kind: 'error'; error: unknown } | { kind: 'deadline' };

/**
 * Sends through Alibaba Cloud Dysmsapi `SendSms`: one request per send, never retried (a send is not
 * idempotent), bounded by `timeoutMs` as a whole. Every result, including transport failures, becomes an
 * SmsOutcome; nothing is thrown.
 *
 * The SDK client (which holds the AccessKey secret) lives in an ES private field, so neither logging nor
 * serialising the provider can reveal it.
 */
export class AliyunSmsProvider implements SmsProvider {
  readonly name = 'aliyun';

  readonly #client: DysmsClient;
  readonly #timeoutMs: number;
  readonly #logger: Logger;
  /** Strings that must never leave the provider (the secret and the STS token). */
  readonly #secrets: readonly string[];
  readonly #inFlight = new Set<Promise<SmsOutcome>>();
  #closed = false;

  constructor(opts: AliyunProviderOptions) {
    const { protocol, endpoint } = parseEndpoint(opts.endpoint);
    if (!Number.isInteger(opts.timeoutMs) || opts.timeoutMs < 1 || opts.timeoutMs > 2_147_483_647) {
      throw new RangeError('AliyunSmsProvider: timeoutMs must be a positive integer number of milliseconds');
    }
    const hasId = Boolean(opts.accessKeyId);
    const hasSecret = Boolean(opts.accessKeySecret);
    if (hasId !== hasSecret) {
      throw new Error('AliyunSmsProvider: accessKeyId and accessKeySecret must be set together (or both left unset for the default credential chain)');
    }
    if (opts.securityToken && !hasId) {
      throw new Error('AliyunSmsProvider: securityToken needs accessKeyId and accessKeySecret');
    }

    this.#timeoutMs = opts.timeoutMs;
    this.#logger = opts.logger;
    this.#secrets = [opts.accessKeySecret, opts.securityToken].filter((s): s is string => typeof s === 'string' && s.length > 0);

    const auth = hasId
      ? { accessKeyId: opts.accessKeyId, accessKeySecret: opts.accessKeySecret, securityToken: opts.securityToken || undefined }
      : { credential: new Credential() };
    this.#client = new DysmsClient(
      new $OpenApiUtil.Config({
        ...auth,
        endpoint,
        protocol,
        readTimeout: opts.timeoutMs,
        connectTimeout: opts.timeoutMs,
        // No retryOptions: the SDK's only retry switch stays off.
      }),
    );
  }

  send(message: SmsMessage): Promise<SmsOutcome> {
    if (this.#closed) return Promise.resolve(failure('ProviderClosed'));
    const pending = this.#send(message);
    this.#inFlight.add(pending);
    void pending.finally(() => this.#inFlight.delete(pending));
    return pending;
  }

  /** Idempotent. Refuses new sends and waits for those in flight (each is bounded by timeoutMs). */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#inFlight]);
  }

  async #send(message: SmsMessage): Promise<SmsOutcome> {
    const tracker = { issued: false };
    awaitingRequest.set(message.outId, tracker);
    try {
      const call = this.#client.sendSmsWithOptions(
        new SendSmsRequest({
          phoneNumbers: message.phone.aliyun,
          signName: message.signName,
          templateCode: message.templateCode,
          templateParam: JSON.stringify(message.templateParam),
          outId: message.outId,
        }),
        new RuntimeOptions({ readTimeout: this.#timeoutMs, connectTimeout: this.#timeoutMs }),
      );
      // Both branches handled here, so a rejection after the deadline is never unhandled.
      const settledCall: Promise<Settled> = call.then(
        (response) => ({ kind: 'response', response }),
        (error: unknown) => ({ kind: 'error', error }),
      );
      const settled = await withDeadline(settledCall, this.#timeoutMs);
      if (settled.kind === 'deadline') {
        this.#reportLateSettlement(message, settledCall);
        // Still resolving credentials: SendSms was never issued. Otherwise Aliyun may have it.
        return failure('Timeout', { failure: tracker.issued ? 'unconfirmed' : 'failed' });
      }
      const outcome = settled.kind === 'response' ? fromResponse(settled.response) : fromError(settled.error);
      if (!outcome.ok && outcome.providerCode === 'UnexpectedError') this.#logUnexpected(message, settled);
      return this.#scrub(outcome, message);
    } catch (error) {
      // Only a bug in building the request gets here; the SDK call itself is handled above.
      this.#logUnexpected(message, { kind: 'error', error });
      return failure('UnexpectedError');
    } finally {
      awaitingRequest.delete(message.outId);
    }
  }

  /**
   * After the deadline the SDK call keeps running until its own timers end it (the HTTP request within about
   * timeoutMs of connecting; credential look-ups have their own, longer timeouts). An OK that arrives late
   * means the SMS went out although the caller was told it failed, so say so.
   */
  #reportLateSettlement(message: SmsMessage, settledCall: Promise<Settled>): void {
    void settledCall.then((late) => {
      if (late.kind !== 'response') return;
      const outcome = fromResponse(late.response);
      if (!outcome.ok) return;
      this.#logger.warn(
        {
          sms: { phone: maskPhone(message.phone.e164, message.phone.countryCallingCode), outId: message.outId },
          bizId: outcome.bizId,
          requestId: outcome.requestId,
        },
        'Aliyun SendSms accepted the message after the send had been reported as timed out',
      );
    });
  }

  #logUnexpected(message: SmsMessage, settled: Settled): void {
    const error = settled.kind === 'error' ? settled.error : undefined;
    this.#logger.error(
      {
        sms: { phone: maskPhone(message.phone.e164, message.phone.countryCallingCode), outId: message.outId },
        // The name only: SDK messages can hold the request URL (phone number included).
        errorName: error instanceof Error ? error.name : typeof error,
      },
      'Aliyun SendSms failed in an unexpected way',
    );
  }

  /** Belt and braces: no secret, token or full phone number in anything the provider hands back. */
  #scrub(outcome: SmsOutcome, message: SmsMessage): SmsOutcome {
    if (outcome.ok) return outcome;
    const clean = (text: string | undefined): string | undefined => {
      if (text === undefined) return undefined;
      let out = text;
      for (const secret of this.#secrets) out = out.split(secret).join('***');
      for (const phone of [message.phone.e164, message.phone.aliyun]) {
        if (phone.length >= 5) out = out.split(phone).join(maskPhone(message.phone.e164, message.phone.countryCallingCode));
      }
      return out;
    };
    return withoutUndefined({
      ok: false,
      failure: outcome.failure,
      providerCode: clean(outcome.providerCode) ?? 'UnexpectedError',
      providerMessage: clean(outcome.providerMessage),
      requestId: clean(outcome.requestId),
    });
  }
}

function parseEndpoint(raw: string): { protocol: 'http' | 'https'; endpoint: string } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TypeError('AliyunSmsProvider: endpoint must be an absolute URL such as https://dysmsapi.aliyuncs.com');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError('AliyunSmsProvider: endpoint must use http or https');
  }
  if (url.username || url.password || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    throw new TypeError('AliyunSmsProvider: endpoint must be scheme://host[:port] only (no credentials, path, query or fragment)');
  }
  // The SDK wants host[:port] without a scheme (a scheme there yields http://http//…), and the scheme separately.
  return { protocol: url.protocol === 'https:' ? 'https' : 'http', endpoint: url.host };
}

async function withDeadline(settledCall: Promise<Settled>, timeoutMs: number): Promise<Settled> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<Settled>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'deadline' }), timeoutMs);
  });
  try {
    return await Promise.race([settledCall, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
