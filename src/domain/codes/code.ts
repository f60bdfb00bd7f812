import { createHmac, createSecretKey, randomBytes, randomInt, randomUUID, type KeyObject } from 'node:crypto';

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
 * Characters of a code's digest: the HMAC's first 22 base64url characters (132 bits, plenty against
 * a handful of guesses), short enough that every field of a phone's code record stays under Redis's
 * 64-byte listpack limit (hash-max-listpack-value), so the record stays compact.
 */
export const CODE_DIGEST_LENGTH = 22;

/** A digest stored whole, before digests were shortened: the HMAC's 43 base64url characters. */
const LEGACY_DIGEST_LENGTH = 43;

/**
 * What the store keeps instead of the code: an HMAC bound to the (channel, phone)
 * it was sent to, so a leaked store reveals nothing and a hash cannot be replayed
 * against another phone; shortened to CODE_DIGEST_LENGTH.
 */
export function hashCode(secret: string, channel: string, e164: string, code: string): string {
  return createHmac('sha256', keyFor(secret)).update(`${channel}\n${e164}\n${code}`).digest('base64url').slice(0, CODE_DIGEST_LENGTH);
}

/**
 * Whether a stored digest is the one given (hashCode of the code being checked). A digest stored
 * whole by an earlier version (LEGACY_DIGEST_LENGTH) matches the short digest it starts with, so the
 * codes sent before an upgrade still verify. `same_digest` in src/stores/redis/lua/prelude.lua is
 * this rule on Redis.
 */
export function digestMatches(stored: string, given: string): boolean {
  if (stored === given) return true;
  return given.length === CODE_DIGEST_LENGTH && stored.length === LEGACY_DIGEST_LENGTH && stored.startsWith(given);
}

/** The secret as a key object, made once: importing a string key on every HMAC costs measurably. */
let cachedKey: { readonly secret: string; readonly key: KeyObject } | undefined;
function keyFor(secret: string): KeyObject {
  if (cachedKey?.secret !== secret) cachedKey = { secret, key: createSecretKey(Buffer.from(secret)) };
  return cachedKey.key;
}

export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** Random per process, so ids never collide across instances; a counter within it. */
const PROCESS_TAG = randomBytes(8).toString('hex');
let counter = 0;

/**
 * An id for one send or check: a member of the send and wrong-guess logs, and the OutId given to
 * the provider. Unique across instances and cheap (no random bytes per request).
 */
export function generateSendId(): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return `${PROCESS_TAG}${counter.toString(36)}`;
}

/**
 * A verification's id, also the OutId of its SMS (so the delivery report finds it): 122 random bits
 * (a v4 UUID, from Node's pooled entropy) as 32 hex digits, unguessable and URL-safe.
 */
export function generateVerificationId(): string {
  return randomUUID().replaceAll('-', '');
}
