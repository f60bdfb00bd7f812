/** Dysmsapi double: request authentication (V3 and V2 signatures, timestamps, nonces). */
import { CLOCK_SKEW_MS, V3_ALGORITHM } from './protocol.js';
import { type Reply, gatewayError, missingParameter } from './replies.js';
import { canonicalRequestV3, parseAuthorization, safeEqual, sha256Hex, signV2, signV3, stringToSignV2, stringToSignV3 } from './signature.js';

export type AuthOutcome =
  | { ok: true; accessKeyId: string }
  | { ok: false; accessKeyId?: string; signatureValid: boolean; reply: Reply };

export interface IncomingParts {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string[] | undefined>;
  body: Buffer;
}

export class NonceRegistry {
  private readonly seen = new Map<string, number>();

  /** Returns false when the nonce was already used inside the accepted clock window. */
  claim(accessKeyId: string, nonce: string, now: number): boolean {
    this.prune(now);
    const key = `${accessKeyId}\n${nonce}`;
    if (this.seen.has(key)) return false;
    this.seen.set(key, now);
    return true;
  }

  clear(): void {
    this.seen.clear();
  }

  private prune(now: number): void {
    for (const [key, at] of this.seen) {
      if (now - at <= CLOCK_SKEW_MS) break; // insertion order == time order
      this.seen.delete(key);
    }
  }
}

export const ISO_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

export function timestampProblem(value: string | undefined, now: number): Reply | undefined {
  if (!value || !ISO_SECONDS.test(value)) {
    return gatewayError(400, 'InvalidTimeStamp.Format', 'Specified time stamp or date value is not well formatted.');
  }
  if (Math.abs(Date.parse(value) - now) > CLOCK_SKEW_MS) {
    return gatewayError(400, 'InvalidTimeStamp.Expired', 'Specified time stamp or date value is expired.');
  }
  return undefined;
}

export function firstHeader(parts: IncomingParts, name: string): string | undefined {
  return parts.headers[name]?.[0];
}

export function signatureMismatch(stringToSign: string): Reply {
  return gatewayError(400, 'SignatureDoesNotMatch', `Specified signature does not match our calculation. server string to sign is:${stringToSign}`);
}

export function unknownAccessKey(): Reply {
  return gatewayError(404, 'InvalidAccessKeyId.NotFound', 'Specified access key is not found.');
}

export function unsignedRequiredHeader(parts: IncomingParts, signed: string[]): string | undefined {
  const required = Object.keys(parts.headers).filter((name) => name === 'host' || name.startsWith('x-acs-'));
  return required.find((name) => !signed.includes(name));
}

export function authenticateV3(parts: IncomingParts, keys: Record<string, string>, nonces: NonceRegistry, now: number): AuthOutcome {
  const auth = parseAuthorization(firstHeader(parts, 'authorization') ?? '');
  if (!auth || auth.algorithm !== V3_ALGORITHM) {
    return { ok: false, signatureValid: false, reply: gatewayError(400, 'IncompleteSignature', 'The request signature does not conform to Aliyun standards.') };
  }
  const secret = Object.hasOwn(keys, auth.accessKeyId) ? keys[auth.accessKeyId] : undefined;
  if (secret === undefined) return { ok: false, accessKeyId: auth.accessKeyId, signatureValid: false, reply: unknownAccessKey() };

  const reject = (reply: Reply, signatureValid = false): AuthOutcome => ({ ok: false, accessKeyId: auth.accessKeyId, signatureValid, reply });
  const unsigned = unsignedRequiredHeader(parts, auth.signedHeaders);
  if (unsigned) {
    return reject(gatewayError(400, 'IncompleteSignature', `The request signature does not conform to Aliyun standards. Header ${unsigned} must be signed.`));
  }
  if (firstHeader(parts, 'x-acs-content-sha256') !== sha256Hex(parts.body)) {
    return reject(gatewayError(400, 'SignatureDoesNotMatch', 'x-acs-content-sha256 does not match the SHA-256 of the request body.'));
  }
  const stringToSign = stringToSignV3(canonicalRequestV3({ ...parts, signedHeaders: auth.signedHeaders }));
  if (!safeEqual(signV3(secret, stringToSign), auth.signature.toLowerCase())) return reject(signatureMismatch(stringToSign));

  // Signature is good from here on; the remaining checks are replay protection.
  const stale = timestampProblem(firstHeader(parts, 'x-acs-date'), now);
  if (stale) return reject(stale, true);
  const nonce = firstHeader(parts, 'x-acs-signature-nonce');
  if (!nonce) return reject(missingParameter('SignatureNonce'), true);
  if (!nonces.claim(auth.accessKeyId, nonce, now)) {
    return reject(gatewayError(400, 'SignatureNonceUsed', 'Specified signature nonce was used already.'), true);
  }
  return { ok: true, accessKeyId: auth.accessKeyId };
}

export function authenticateV2(params: Record<string, string>, method: string, keys: Record<string, string>, nonces: NonceRegistry, now: number): AuthOutcome {
  const accessKeyId = params.AccessKeyId;
  if (!accessKeyId) return { ok: false, signatureValid: false, reply: missingParameter('AccessKeyId') };
  const secret = Object.hasOwn(keys, accessKeyId) ? keys[accessKeyId] : undefined;
  if (secret === undefined) return { ok: false, accessKeyId, signatureValid: false, reply: unknownAccessKey() };

  const reject = (reply: Reply, signatureValid = false): AuthOutcome => ({ ok: false, accessKeyId, signatureValid, reply });
  if (!params.Signature) return reject(missingParameter('Signature'));
  const stringToSign = stringToSignV2(method, params);
  if (!safeEqual(signV2(secret, stringToSign), params.Signature)) {
    return reject(gatewayError(400, 'SignatureDoesNotMatch', `Specified signature is not matched with our calculation. server string to sign is:${stringToSign}`));
  }
  const stale = timestampProblem(params.Timestamp, now);
  if (stale) return reject(stale, true);
  if (!params.SignatureNonce) return reject(missingParameter('SignatureNonce'), true);
  if (!nonces.claim(accessKeyId, params.SignatureNonce, now)) {
    return reject(gatewayError(400, 'SignatureNonceUsed', 'Specified signature nonce was used already.'), true);
  }
  return { ok: true, accessKeyId };
}
