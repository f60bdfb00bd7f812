import { createHmac, randomBytes, randomInt } from 'node:crypto';

/** A uniformly random code of `length` ASCII digits, leading zeros kept. */
export function generateCode(length: number): string {
  let code = '';
  for (let i = 0; i < length; i++) code += String(randomInt(10));
  return code;
}

const ASCII_DIGITS = /^[0-9]+$/;

/** Only `length` ASCII digits are a code; Unicode digits are not. */
export function isWellFormedCode(code: unknown, length: number): code is string {
  return typeof code === 'string' && code.length === length && ASCII_DIGITS.test(code);
}

/**
 * What the store keeps instead of the code: an HMAC bound to the (channel, phone)
 * it was sent to, so a leaked store reveals nothing and a hash cannot be replayed
 * against another phone.
 */
export function hashCode(secret: string, channel: string, e164: string, code: string): string {
  return createHmac('sha256', secret).update(`${channel}\n${e164}\n${code}`).digest('base64url');
}

export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** An id for one send: the reservation in the send log and the OutId given to the provider. */
export function generateSendId(): string {
  return randomBytes(12).toString('hex');
}
