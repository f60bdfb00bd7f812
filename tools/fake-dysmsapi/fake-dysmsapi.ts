/**
 * Local test double for Alibaba Cloud Dysmsapi (2017-05-25).
 *
 * Verifies ACS3-HMAC-SHA256 (and legacy RPC HMAC-SHA1) signatures the way the
 * real POP gateway does, records every request, and answers SendSms like the
 * real endpoint unless a failure behaviour has been scripted with respondWith().
 */
import { createHash, createHmac, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chinaTimestamp, ReceiptPusher, type ReceiptOptions } from './receipts.js';

export interface FakeDysmsapiOptions {
  /** AccessKeyId -> AccessKeySecret. Default `{ testAkId: 'testAkSecret' }`. */
  accessKeys?: Record<string, string>;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /** Called synchronously for every request, right after it is recorded (before it is answered). */
  onRequest?: (request: RecordedRequest) => void;
  /** Push delivery receipts (Aliyun SmsReport, HTTP batch push) for every accepted SendSms. */
  receipts?: ReceiptOptions;
}

export interface RecordedReply {
  status: number;
  /** `Code` of the JSON body, when there was one. */
  code?: string;
  bizId?: string;
}

export interface RecordedRequest {
  method: string;
  /** Raw request target as received, e.g. `/?PhoneNumbers=…` (useful for replaying). */
  url: string;
  action: string;
  signatureVersion: 'v3' | 'v2' | 'none';
  /** Decoded query parameters (last value wins for repeated keys). */
  query: Record<string, string>;
  /** Lower-case header names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  body: string;
  signatureValid: boolean;
  accessKeyId?: string;
  /** Gateway error code when the request was refused before reaching the API (unknown key, bad signature, replayed nonce…). */
  rejectedWith?: string;
  /** What the double answered; stays undefined for `hang` and `reset`. */
  reply?: RecordedReply;
  receivedAt: number;
}

export type FakeBehaviour =
  | { kind: 'ok' }
  | { kind: 'business'; code: string; message?: string }
  | { kind: 'http'; status: number; code?: string; message?: string }
  | { kind: 'garbage'; status?: number }
  | { kind: 'hang' }
  /** Answers as `ok` does, but only after `ms` (the request is recorded at once). */
  | { kind: 'delay'; ms: number }
  | { kind: 'reset' };

export const DEFAULT_ACCESS_KEYS: Readonly<Record<string, string>> = { testAkId: 'testAkSecret' };

const API_VERSION = '2017-05-25';
const HOST_ID = 'dysmsapi.aliyuncs.com';
const V3_ALGORITHM = 'ACS3-HMAC-SHA256';
const CLOCK_SKEW_MS = 15 * 60 * 1000;
const JSON_CONTENT_TYPE = 'application/json;charset=utf-8';

const BUSINESS_MESSAGES: Record<string, string> = {
  OK: 'OK',
  'isv.BUSINESS_LIMIT_CONTROL': '触发分钟级流控Permits:1',
  'isv.DAY_LIMIT_CONTROL': '触发日发送限额',
  'isv.MOBILE_NUMBER_ILLEGAL': '非法手机号',
  'isv.MOBILE_COUNT_OVER_LIMIT': '手机号码数量超过限制',
  'isv.TEMPLATE_MISSING_PARAMETERS': '模板变量缺少对应参数值',
  'isv.INVALID_JSON_PARAM': 'JSON参数不合法，只接受字符串值',
  'isv.SMS_SIGNATURE_ILLEGAL': '签名不合法',
  'isv.SMS_TEMPLATE_ILLEGAL': '模板不合法',
  'isv.AMOUNT_NOT_ENOUGH': '账户余额不足',
  'isp.SYSTEM_ERROR': 'isp.SYSTEM_ERROR',
};

const HTTP_DEFAULTS: Record<number, { code: string; message: string }> = {
  400: { code: 'Throttling.User', message: 'Request was denied due to user flow control.' },
  429: { code: 'Throttling.User', message: 'Request was denied due to user flow control.' },
  500: { code: 'InternalError', message: 'The request processing has failed due to some unknown error, exception or failure.' },
  503: { code: 'ServiceUnavailable', message: 'The request has failed due to a temporary failure of the server.' },
};

// ---------------------------------------------------------------------------
// Signature helpers (pure)
// ---------------------------------------------------------------------------

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

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

// ---------------------------------------------------------------------------
// Response bodies
// ---------------------------------------------------------------------------

export function newRequestId(): string {
  return randomUUID().toUpperCase();
}

function newBizId(): string {
  const digits = Array.from({ length: 18 }, (_, i) => randomInt(i === 0 ? 1 : 0, 10)).join('');
  return `${digits}^0`;
}

interface Reply {
  status: number;
  body: string;
  contentType: string;
  requestId: string;
  code?: string;
  bizId?: string;
}

function jsonReply(status: number, payload: Record<string, unknown>, requestId: string): Reply {
  const code = typeof payload.Code === 'string' ? payload.Code : undefined;
  const bizId = typeof payload.BizId === 'string' ? payload.BizId : undefined;
  return { status, body: JSON.stringify(payload), contentType: JSON_CONTENT_TYPE, requestId, code, bizId };
}

/** POP gateway error shape: `{RequestId, HostId, Code, Message, Recommend}`. */
function gatewayError(status: number, code: string, message: string): Reply {
  const requestId = newRequestId();
  return jsonReply(
    status,
    {
      RequestId: requestId,
      HostId: HOST_ID,
      Code: code,
      Message: message,
      Recommend: `https://api.aliyun.com/troubleshoot?q=${encodeURIComponent(code)}&product=Dysmsapi&requestId=${requestId}`,
    },
    requestId,
  );
}

function missingParameter(name: string): Reply {
  return gatewayError(400, `Missing${name}`, `${name} is mandatory for this action.`);
}

function businessReply(code: string, message?: string): Reply {
  const requestId = newRequestId();
  return jsonReply(200, { Code: code, Message: message ?? BUSINESS_MESSAGES[code] ?? code, RequestId: requestId }, requestId);
}

function okReply(): Reply {
  const requestId = newRequestId();
  return jsonReply(200, { Code: 'OK', Message: 'OK', BizId: newBizId(), RequestId: requestId }, requestId);
}

function httpErrorReply(status: number, code?: string, message?: string): Reply {
  const fallback = HTTP_DEFAULTS[status] ?? { code: status >= 500 ? 'InternalError' : 'InvalidParameter', message: `HTTP ${status}` };
  return gatewayError(status, code ?? fallback.code, message ?? fallback.message);
}

function garbageReply(status = 502): Reply {
  const body = `<html><head><title>${status}</title></head><body><center><h1>${status} Bad Gateway</h1></center><hr><center>Tengine</center></body></html>`;
  return { status, body, contentType: 'text/html', requestId: newRequestId() };
}

// ---------------------------------------------------------------------------
// Request authentication
// ---------------------------------------------------------------------------

type AuthOutcome =
  | { ok: true; accessKeyId: string }
  | { ok: false; accessKeyId?: string; signatureValid: boolean; reply: Reply };

interface IncomingParts {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string[] | undefined>;
  body: Buffer;
}

class NonceRegistry {
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

const ISO_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

function timestampProblem(value: string | undefined, now: number): Reply | undefined {
  if (!value || !ISO_SECONDS.test(value)) {
    return gatewayError(400, 'InvalidTimeStamp.Format', 'Specified time stamp or date value is not well formatted.');
  }
  if (Math.abs(Date.parse(value) - now) > CLOCK_SKEW_MS) {
    return gatewayError(400, 'InvalidTimeStamp.Expired', 'Specified time stamp or date value is expired.');
  }
  return undefined;
}

function firstHeader(parts: IncomingParts, name: string): string | undefined {
  return parts.headers[name]?.[0];
}

function signatureMismatch(stringToSign: string): Reply {
  return gatewayError(400, 'SignatureDoesNotMatch', `Specified signature does not match our calculation. server string to sign is:${stringToSign}`);
}

function unknownAccessKey(): Reply {
  return gatewayError(404, 'InvalidAccessKeyId.NotFound', 'Specified access key is not found.');
}

function unsignedRequiredHeader(parts: IncomingParts, signed: string[]): string | undefined {
  const required = Object.keys(parts.headers).filter((name) => name === 'host' || name.startsWith('x-acs-'));
  return required.find((name) => !signed.includes(name));
}

function authenticateV3(parts: IncomingParts, keys: Record<string, string>, nonces: NonceRegistry, now: number): AuthOutcome {
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

function authenticateV2(params: Record<string, string>, method: string, keys: Record<string, string>, nonces: NonceRegistry, now: number): AuthOutcome {
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

// ---------------------------------------------------------------------------
// API handlers (only reached by authenticated requests)
// ---------------------------------------------------------------------------

const PHONE_NUMBER = /^(\+|00)?\d{5,20}$/;

function validateSendSms(params: Record<string, string>): Reply | undefined {
  for (const name of ['PhoneNumbers', 'SignName', 'TemplateCode']) {
    if (!params[name]) return missingParameter(name);
  }
  const phones = params.PhoneNumbers!.split(',');
  if (phones.length > 1000) return businessReply('isv.MOBILE_COUNT_OVER_LIMIT');
  if (!phones.every((p) => PHONE_NUMBER.test(p.trim()))) return businessReply('isv.MOBILE_NUMBER_ILLEGAL');
  if (params.TemplateParam !== undefined && !isStringMap(params.TemplateParam)) return businessReply('isv.INVALID_JSON_PARAM');
  return undefined;
}

function isStringMap(json: string): boolean {
  try {
    const value: unknown = JSON.parse(json);
    return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');
  } catch {
    return false;
  }
}

/** yyyyMMdd / yyyy-MM-dd HH:mm:ss in China Standard Time, as QuerySendDetails reports them. */
function chinaTime(epochMs: number): { day: string; stamp: string } {
  const stamp = chinaTimestamp(epochMs);
  return { day: stamp.slice(0, 10).replaceAll('-', ''), stamp };
}

function querySendDetails(params: Record<string, string>, history: RecordedRequest[]): Reply {
  for (const name of ['PhoneNumber', 'SendDate', 'PageSize', 'CurrentPage']) {
    if (!params[name]) return missingParameter(name);
  }
  const pageSize = Math.min(Math.max(Number(params.PageSize) || 10, 1), 50);
  const page = Math.max(Number(params.CurrentPage) || 1, 1);
  const matches = history.filter(
    (r) =>
      r.reply?.code === 'OK' &&
      r.query.PhoneNumbers?.split(',').includes(params.PhoneNumber!) &&
      chinaTime(r.receivedAt).day === params.SendDate &&
      (!params.BizId || r.reply.bizId === params.BizId),
  );
  const details = matches.slice((page - 1) * pageSize, page * pageSize).map((r) => ({
    PhoneNum: params.PhoneNumber,
    SendStatus: 3,
    ErrCode: 'DELIVERED',
    TemplateCode: r.query.TemplateCode,
    Content: `【${r.query.SignName}】${r.query.TemplateParam ?? ''}`,
    SendDate: chinaTime(r.receivedAt).stamp,
    ReceiveDate: chinaTime(r.receivedAt).stamp,
    OutId: r.query.OutId,
  }));
  const requestId = newRequestId();
  // The SDK model types TotalCount as a string, mirroring the real payload.
  return jsonReply(
    200,
    { Code: 'OK', Message: 'OK', RequestId: requestId, TotalCount: String(matches.length), SmsSendDetailDTOs: { SmsSendDetailDTO: details } },
    requestId,
  );
}

// ---------------------------------------------------------------------------
// Request parsing
// ---------------------------------------------------------------------------

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function searchParamsToRecord(params: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of params) out[key] = value;
  return out;
}

function isForm(headers: IncomingMessage['headers']): boolean {
  return (headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded');
}

function flattenHeaders(headers: IncomingMessage['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function parseIncoming(req: IncomingMessage, body: Buffer): IncomingParts {
  const url = new URL(req.url ?? '/', 'http://fake-dysmsapi.invalid');
  return {
    method: req.method ?? 'GET',
    path: url.pathname,
    query: searchParamsToRecord(url.searchParams),
    headers: req.headersDistinct,
    body,
  };
}

/** V2 signs query + form fields together, V3 signs only the query (the form body is covered by its hash). */
function rpcParams(req: IncomingMessage, parts: IncomingParts): Record<string, string> {
  if (!isForm(req.headers)) return parts.query;
  return { ...parts.query, ...searchParamsToRecord(new URLSearchParams(parts.body.toString('utf8'))) };
}

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

interface Waiter {
  predicate: () => boolean;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

interface ScriptedBehaviour {
  behaviour: FakeBehaviour;
  /** Remaining SendSms calls; undefined = until changed. */
  remaining?: number;
}

export class FakeDysmsapi {
  readonly url: string;
  readonly port: number;
  /** `host:port` without scheme, the form the SDK's `Config.endpoint` expects (together with `protocol: 'http'`). */
  readonly endpoint: string;
  requests: RecordedRequest[] = [];
  /** TCP connections accepted since start: how many the client opened (keep-alive reuses one for many requests). */
  connectionsAccepted = 0;
  /** The receipt pusher, when `receipts` was given. */
  readonly receipts: ReceiptPusher | undefined;

  private readonly nonces = new NonceRegistry();
  private readonly waiters = new Set<Waiter>();
  private readonly delayed = new Set<NodeJS.Timeout>();
  private scripted: ScriptedBehaviour | undefined;

  private constructor(
    private readonly server: Server,
    private readonly accessKeys: Record<string, string>,
    private readonly onRequest: ((request: RecordedRequest) => void) | undefined,
    host: string,
    receipts: ReceiptOptions | undefined,
  ) {
    this.receipts = receipts ? new ReceiptPusher(receipts) : undefined;
    this.port = (server.address() as AddressInfo).port;
    this.endpoint = `${host.includes(':') ? `[${host}]` : host}:${this.port}`;
    this.url = `http://${this.endpoint}`;
  }

  static async start(opts: FakeDysmsapiOptions = {}): Promise<FakeDysmsapi> {
    const host = opts.host ?? '127.0.0.1';
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const fake = new FakeDysmsapi(server, { ...(opts.accessKeys ?? DEFAULT_ACCESS_KEYS) }, opts.onRequest, host, opts.receipts);
    server.on('connection', () => {
      fake.connectionsAccepted++;
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      fake.handle(req, res).catch((error: unknown) => fake.failSafe(res, error));
    });
    return fake;
  }

  /** SendSms requests that passed authentication (whatever behaviour they were then given). */
  sends(): RecordedRequest[] {
    return this.requests.filter((r) => r.action === 'SendSms' && r.signatureValid && r.rejectedWith === undefined);
  }

  /**
   * The next `times` authenticated SendSms calls get `behaviour` (default: every call until changed);
   * afterwards the double answers normally again. A new call replaces the previous script.
   */
  respondWith(behaviour: FakeBehaviour, times?: number): void {
    if (times !== undefined && (!Number.isInteger(times) || times < 1)) throw new RangeError(`times must be a positive integer, got ${times}`);
    this.scripted = { behaviour, remaining: times };
  }

  /** Clears recorded requests, scripted behaviour and used nonces. */
  reset(): void {
    this.requests = [];
    this.scripted = undefined;
    this.nonces.clear();
  }

  /** Resolves once `predicate` holds (checked on every request and every reply); rejects after `timeoutMs`. */
  waitFor(predicate: (fake: FakeDysmsapi) => boolean, timeoutMs = 2000): Promise<void> {
    if (predicate(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate: () => predicate(this),
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new Error(`FakeDysmsapi.waitFor timed out after ${timeoutMs} ms (${this.requests.length} requests recorded)`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  /** Resolves with sends() once at least `count` authenticated SendSms requests have arrived. */
  async waitForSends(count: number, timeoutMs = 2000): Promise<RecordedRequest[]> {
    await this.waitFor(() => this.sends().length >= count, timeoutMs);
    return this.sends();
  }

  /** Stops listening and destroys every open socket, including hanging requests and idle keep-alives. */
  close(): Promise<void> {
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error('FakeDysmsapi closed'));
    }
    this.waiters.clear();
    for (const timer of this.delayed) clearTimeout(timer);
    this.delayed.clear();
    this.receipts?.close();
    return new Promise((resolve, reject) => {
      this.server.close((error) => (error ? reject(error) : resolve()));
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const now = Date.now();
    const parts = parseIncoming(req, body);
    const params = rpcParams(req, parts);
    const isV3 = parts.headers.authorization !== undefined;
    const auth = isV3 ? authenticateV3(parts, this.accessKeys, this.nonces, now) : authenticateV2(params, parts.method, this.accessKeys, this.nonces, now);

    const record: RecordedRequest = {
      method: parts.method,
      url: req.url ?? '/',
      action: (isV3 ? firstHeader(parts, 'x-acs-action') : params.Action) ?? '',
      signatureVersion: isV3 ? 'v3' : params.Signature ? 'v2' : 'none',
      query: parts.query,
      headers: flattenHeaders(req.headers),
      body: body.toString('utf8'),
      signatureValid: auth.ok || auth.signatureValid,
      accessKeyId: auth.accessKeyId,
      rejectedWith: auth.ok ? undefined : auth.reply.code,
      receivedAt: now,
    };
    this.record(record);

    if (!auth.ok) return this.send(res, record, auth.reply);
    const version = isV3 ? firstHeader(parts, 'x-acs-version') : params.Version;
    if (version !== API_VERSION) {
      return this.send(res, record, gatewayError(400, 'InvalidVersion', 'Specified parameter Version is not valid.'));
    }
    switch (record.action) {
      case 'SendSms':
        return this.answerSendSms(req, res, record, params);
      case 'QuerySendDetails':
        return this.send(res, record, querySendDetails(params, this.requests));
      default:
        return this.send(res, record, gatewayError(404, 'InvalidAction.NotFound', 'Specified api is not found, please check your url and method.'));
    }
  }

  private answerSendSms(req: IncomingMessage, res: ServerResponse, record: RecordedRequest, params: Record<string, string>): void {
    const behaviour = this.takeBehaviour();
    switch (behaviour.kind) {
      case 'ok':
        return this.answerOk(res, record, params);
      case 'business':
        return this.send(res, record, businessReply(behaviour.code, behaviour.message));
      case 'http':
        return this.send(res, record, httpErrorReply(behaviour.status, behaviour.code, behaviour.message));
      case 'garbage':
        return this.send(res, record, garbageReply(behaviour.status));
      case 'hang':
        return; // the socket is destroyed by close() or by the client giving up
      case 'delay': {
        const timer = setTimeout(() => {
          this.delayed.delete(timer);
          if (!res.destroyed) this.answerOk(res, record, params);
        }, behaviour.ms);
        this.delayed.add(timer);
        return;
      }
      case 'reset':
        req.socket.resetAndDestroy();
        return;
    }
  }

  /** A SendSms the double accepts (unless its parameters are wrong), with its receipt to come. */
  private answerOk(res: ServerResponse, record: RecordedRequest, params: Record<string, string>): void {
    const reply = validateSendSms(params) ?? okReply();
    this.send(res, record, reply);
    if (reply.code === 'OK' && reply.bizId) {
      this.receipts?.accepted({ phoneNumbers: params.PhoneNumbers ?? '', bizId: reply.bizId, outId: params.OutId, sentAt: record.receivedAt });
    }
  }

  private takeBehaviour(): FakeBehaviour {
    const scripted = this.scripted;
    if (!scripted) return { kind: 'ok' };
    if (scripted.remaining !== undefined && --scripted.remaining <= 0) this.scripted = undefined;
    return scripted.behaviour;
  }

  private send(res: ServerResponse, record: RecordedRequest, reply: Reply): void {
    record.reply = { status: reply.status, code: reply.code, bizId: reply.bizId };
    res.writeHead(reply.status, {
      'content-type': reply.contentType,
      'content-length': Buffer.byteLength(reply.body),
      'x-acs-request-id': reply.requestId,
    });
    res.end(reply.body);
    this.notify();
  }

  private record(request: RecordedRequest): void {
    this.requests.push(request);
    this.onRequest?.(request);
    this.notify();
  }

  private notify(): void {
    for (const waiter of this.waiters) {
      if (!waiter.predicate()) continue;
      clearTimeout(waiter.timer);
      this.waiters.delete(waiter);
      waiter.resolve();
    }
  }

  /** A bug in the double must not look like an SDK problem: answer 500 with the stack in the message. */
  private failSafe(res: ServerResponse, error: unknown): void {
    if (res.headersSent || res.destroyed) return;
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    const reply = gatewayError(500, 'FakeDysmsapi.InternalError', message);
    res.writeHead(500, { 'content-type': reply.contentType }).end(reply.body);
  }
}
