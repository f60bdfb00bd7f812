/** A channel names the caller's use of a code (login, reset, …) and becomes part of Redis keys. */
export const CHANNEL_PATTERN = '^[A-Za-z0-9_.-]{1,64}$';
const CHANNEL = new RegExp(CHANNEL_PATTERN);

export function isValidChannel(value: unknown): value is string {
  return typeof value === 'string' && CHANNEL.test(value);
}
