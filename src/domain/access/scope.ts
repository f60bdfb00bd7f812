/**
 * What an API key may do. `verify`: send and check codes (v1 and legacy); `notify`: send notices
 * (v1 and legacy); `audit`: read the audit trail. The ops routes (`/metrics`, `/docs`) need no scope.
 */
export const SCOPES = ['verify', 'notify', 'audit'] as const;

export type Scope = (typeof SCOPES)[number];

/** What a key has when its definition names no scopes (every `API_KEYS` entry). */
export const DEFAULT_SCOPES: readonly Scope[] = ['verify', 'notify'];

export function isScope(value: unknown): value is Scope {
  return typeof value === 'string' && (SCOPES as readonly string[]).includes(value);
}
