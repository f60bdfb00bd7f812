import { orUnavailable } from '../store-unavailable.js';
import type { OutIdTarget } from '../store.js';
import type { VerificationKit } from './kit.js';
import type { CancelVerificationResult, RequestContext, VerificationLookup, VerificationView } from './types.js';

/**
 * Verifications as resources: fetch one by id, cancel one. A caller whose key is limited to some
 * channels sees only their verifications: any other id is unknown to it, exactly like one that never was.
 */

/** The verification `id` leads to, if the caller may see it. */
export async function findVerification(kit: VerificationKit, id: string, context: RequestContext | undefined): Promise<OutIdTarget | undefined> {
  if (!isVerificationId(id)) return undefined;
  const target = await orUnavailable(kit.deps.store.findOutId(id));
  if (target?.kind !== 'code') return undefined;
  const allowed = context?.channels;
  return allowed && !allowed.has(target.subject.channel) ? undefined : target;
}

export async function getVerification(kit: VerificationKit, lookup: VerificationLookup): Promise<VerificationView | undefined> {
  if (!(await findVerification(kit, lookup.id, lookup.context))) return undefined;
  return orUnavailable(kit.deps.store.getVerification(lookup.id));
}

export async function cancelVerification(kit: VerificationKit, lookup: VerificationLookup): Promise<CancelVerificationResult> {
  if (!(await findVerification(kit, lookup.id, lookup.context))) return { kind: 'unknown_verification' };
  const result = await orUnavailable(
    kit.deps.store.cancelVerification(lookup.id, { ip: lookup.context?.ip, caller: lookup.context?.caller }),
  );
  if (!result.found) return { kind: 'unknown_verification' };
  return result.canceled ? { kind: 'canceled' } : { kind: 'not_pending', status: result.status };
}

/** Ids are what `generateVerificationId` makes: anything else names nothing (and never shapes a store key). */
const VERIFICATION_ID = /^[0-9a-f]{32}$/;

export function isVerificationId(id: unknown): id is string {
  return typeof id === 'string' && VERIFICATION_ID.test(id);
}
