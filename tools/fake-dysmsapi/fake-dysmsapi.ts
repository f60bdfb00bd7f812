/**
 * Local test double for Alibaba Cloud Dysmsapi (2017-05-25).
 *
 * Verifies ACS3-HMAC-SHA256 (and legacy RPC HMAC-SHA1) signatures the way the
 * real POP gateway does, records every request, and answers SendSms like the
 * real endpoint unless a failure behaviour has been scripted with respondWith().
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ReceiptPusher, type ReceiptOptions } from './receipts.js';
import { NonceRegistry, authenticateV2, authenticateV3, firstHeader } from './authenticate.js';
import { flattenHeaders, parseIncoming, readBody, rpcParams } from './incoming.js';
import { API_VERSION } from './protocol.js';
import { type Reply, businessReply, garbageReply, gatewayError, httpErrorReply, okReply } from './replies.js';
import { querySendDetails, validateSendSms } from './sms-api.js';

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
