import type { SmsMessage, SmsOutcome, SmsProvider } from '../../src/domain/sms-provider.js';

/**
 * A provider for HTTP tests of the domain rules: it records what would be sent
 * (so a test can read the code a person received) and fails on demand. The real
 * Aliyun path is proven against the Dysmsapi double elsewhere.
 */
export class RecordingSmsProvider implements SmsProvider {
  readonly name = 'recording';
  readonly messages: SmsMessage[] = [];
  private failures: Array<Extract<SmsOutcome, { ok: false }> | 'throw'> = [];

  async send(message: SmsMessage): Promise<SmsOutcome> {
    this.messages.push(message);
    const failure = this.failures.shift();
    if (failure === 'throw') throw new Error('provider exploded: secret-internal-detail');
    if (failure) return failure;
    return { ok: true, bizId: `biz-${this.messages.length}`, requestId: 'req' };
  }

  failNext(failure: Extract<SmsOutcome, { ok: false }>['failure'] = 'failed', providerCode = 'isp.SYSTEM_ERROR'): void {
    this.failures.push({ ok: false, failure, providerCode, providerMessage: 'provider said no', requestId: 'R1' });
  }

  throwNext(): void {
    this.failures.push('throw');
  }

  /** The code in the last verification SMS to `e164`. */
  lastCode(e164: string): string {
    const message = [...this.messages].reverse().find((m) => m.phone.e164 === e164 && 'code' in m.templateParam);
    if (!message) throw new Error(`no code was sent to ${e164}`);
    return message.templateParam.code as string;
  }
}
