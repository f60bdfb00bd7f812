import { maskPhone, parsePhone } from '../domain/phones/phone.js';
import { ConfigError } from './config-error.js';
import type { ChannelOverride } from './channels-file.js';

export interface TestPhones {
  /** E.164 → the fixed code. */
  readonly codes: ReadonlyMap<string, string>;
  /** The numbers masked, for the start-up warning. */
  readonly masked: readonly string[];
}

/**
 * `TEST_PHONES=+8613800138000:1234,+85291234567:5678`: numbers whose SMS never reach the provider and
 * whose code is fixed. Each code must be ASCII digits of the length every channel's codes have
 * (`CODE_LENGTH`, and each `CHANNELS_FILE` channel's `codeLength`), so it can verify on any channel.
 */
export function parseTestPhones(
  text: string,
  codeLength: number,
  channels: Readonly<Record<string, ChannelOverride>>,
): TestPhones {
  const codes = new Map<string, string>();
  const masked: string[] = [];
  for (const entry of text.split(',').map((part) => part.trim()).filter(Boolean)) {
    const colon = entry.lastIndexOf(':');
    const number = colon < 0 ? entry : entry.slice(0, colon);
    const code = colon < 0 ? '' : entry.slice(colon + 1);
    const parsed = parsePhone(number);
    if (!parsed.ok || number !== parsed.phone.e164) {
      throw new ConfigError('TEST_PHONES', `is invalid: expected E.164 numbers with their fixed code, such as +8613800138000:1234 (got a number that is not E.164 in entry ${codes.size + 1})`);
    }
    if (!/^[0-9]+$/.test(code)) {
      throw new ConfigError('TEST_PHONES', `is invalid: the code of ${maskPhone(parsed.phone.e164, parsed.phone.countryCallingCode)} must be ASCII digits (number:code)`);
    }
    const misfit = misfitChannel(code.length, codeLength, channels);
    if (misfit) {
      throw new ConfigError(
        'TEST_PHONES',
        `is invalid: the code of ${maskPhone(parsed.phone.e164, parsed.phone.countryCallingCode)} has ${code.length} digits but ${misfit} (every channel's code length must fit)`,
      );
    }
    codes.set(parsed.phone.e164, code);
    masked.push(maskPhone(parsed.phone.e164, parsed.phone.countryCallingCode));
  }
  if (codes.size === 0) throw new ConfigError('TEST_PHONES', 'is invalid: expected number:code pairs such as +8613800138000:1234');
  return { codes, masked };
}

function misfitChannel(length: number, codeLength: number, channels: Readonly<Record<string, ChannelOverride>>): string | undefined {
  if (length !== codeLength) return `CODE_LENGTH is ${codeLength}`;
  for (const [channel, override] of Object.entries(channels)) {
    if (override.codeLength !== undefined && override.codeLength !== length) return `channel ${channel} (CHANNELS_FILE) has codeLength ${override.codeLength}`;
  }
  return undefined;
}

/** The start-up warning: sends to these numbers are not real, whatever NODE_ENV says. */
export function testPhonesWarning(phones: TestPhones): string {
  return `TEST_PHONES is set: SMS to ${phones.masked.join(', ')} never reach the provider and their code is fixed (for app store reviews and end-to-end tests); every limit still applies`;
}
