/** Dysmsapi double: the pure signature helpers (ACS3-HMAC-SHA256 and legacy RPC HMAC-SHA1). */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { V3_ALGORITHM } from './protocol.js';

/** RFC 3986 encoding as Aliyun uses it: encodeURIComponent plus `!'()*`; `~` stays, space is %20. */
export function percentEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/** Sorted `k=v&…` with both sides re-encoded; the wire form cannot be reused because the SDK leaves `'()*!` raw. */
export function canonicalQueryString(params: Record<string, string>): string {
  return Object.keys(params)
    .sort()
    .map((key) => `${percentEncode(key)}=${percentEncode(params[key] ?? '')}`)
    .join('&');
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface ParsedAuthorization {
  algorithm: string;
  accessKeyId: string;
  signedHeaders: string[];
  signature: string;
}

export function parseAuthorization(header: string): ParsedAuthorization | undefined {
  const space = header.indexOf(' ');
  if (space < 0) return undefined;
  const fields = new Map<string, string>();
  for (const part of header.slice(space + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const accessKeyId = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (!accessKeyId || signedHeaders === undefined || !signature) return undefined;
  return {
    algorithm: header.slice(0, space),
    accessKeyId,
    signedHeaders: signedHeaders.split(';').filter(Boolean),
    signature,
  };
}

export interface CanonicalRequestInput {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Header name (lower case) -> every value received for it. */
  headers: Record<string, string[] | undefined>;
  signedHeaders: string[];
  body: Buffer;
}

export function canonicalRequestV3(input: CanonicalRequestInput): string {
  const canonicalHeaders = input.signedHeaders
    .map((name) => {
      const values = (input.headers[name] ?? ['']).map((v) => v.trim()).sort();
      return `${name}:${values.join(',')}\n`;
    })
    .join('');
  return [
    input.method,
    input.path,
    canonicalQueryString(input.query),
    canonicalHeaders,
    input.signedHeaders.join(';'),
    sha256Hex(input.body),
  ].join('\n');
}

export function stringToSignV3(canonicalRequest: string): string {
  return `${V3_ALGORITHM}\n${sha256Hex(canonicalRequest)}`;
}

export function signV3(secret: string, stringToSign: string): string {
  return createHmac('sha256', secret).update(stringToSign).digest('hex');
}

export function stringToSignV2(method: string, params: Record<string, string>): string {
  const withoutSignature = { ...params };
  delete withoutSignature.Signature;
  return `${method}&${percentEncode('/')}&${percentEncode(canonicalQueryString(withoutSignature))}`;
}

export function signV2(secret: string, stringToSign: string): string {
  return createHmac('sha1', `${secret}&`).update(stringToSign).digest('base64');
}

export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
