import type { Logger } from '../domain/logger.js';
import { maskPhone } from '../domain/phones/phone.js';
import type { SmsMessage, SmsOutcome, SmsProvider } from '../domain/sms-provider.js';

/**
 * Development provider: logs that a message would be sent instead of sending it.
 * Parameter values are not logged (they hold codes); use EXPOSE_CODE=true to see
 * codes during development.
 */
export class LogSmsProvider implements SmsProvider {
  readonly name = 'log';

  constructor(private readonly logger: Logger) {}

  async send(message: SmsMessage): Promise<SmsOutcome> {
    this.logger.info(
      {
        sms: {
          phone: maskPhone(message.phone.e164, message.phone.countryCallingCode),
          signName: message.signName,
          templateCode: message.templateCode,
          templateParams: Object.keys(message.templateParam),
          outId: message.outId,
        },
      },
      'SMS_PROVIDER=log: message not sent',
    );
    return { ok: true, bizId: `log-${message.outId}` };
  }
}
