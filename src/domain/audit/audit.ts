/** What happened, one event per outcome. */
export type AuditEventName =
  | 'code.sent'
  | 'code.send_failed'
  | 'code.send_unconfirmed'
  | 'code.rate_limited'
  | 'code.approved'
  | 'code.rejected'
  | 'code.canceled'
  | 'code.delivered'
  | 'code.undelivered'
  | 'notice.sent'
  | 'notice.send_failed'
  | 'notice.send_unconfirmed'
  | 'notice.rate_limited'
  | 'notice.delivered'
  | 'notice.undelivered';

/** An event's own flat fields (undefined ones are left out). */
export type AuditEventFields = Readonly<Record<string, string | number | undefined>>;

/** One audit event: its name, typed, and its own fields. */
export type AuditEvent = { readonly event: AuditEventName } & AuditEventFields;

/** The event `name` with `fields` after it (the order the stores write them in); `name` wins. */
export function namedEvent(name: AuditEventName, fields: AuditEventFields): AuditEvent {
  const { event: _replaced, ...rest } = fields;
  return { event: name, ...rest } as AuditEvent;
}

/** Flat string fields, as stored in a Redis Stream entry. Never a code, its HMAC or a secret. */
export type AuditFields = Readonly<Record<string, string>>;

/** Who asked, about what: written into every event of one request. */
export interface AuditContext {
  /** E.164. */
  readonly phone: string;
  readonly channel: string;
  /** The client IP as Fastify resolved it (proxy headers only when trusted). */
  readonly ip?: string;
  /** The API key's name, once callers authenticate. */
  readonly caller?: string;
}

export interface AuditEntry {
  /** Stream id (`<ms>-<seq>`): also the Redis server time the event was written. */
  readonly id: string;
  /** ISO 8601 of the id's time. */
  readonly time: string;
  readonly fields: AuditFields;
}

export interface AuditSettings {
  readonly retentionMs: number;
  /** Optional cap on the number of entries. */
  readonly maxLen: number | undefined;
}

export interface AuditQuery {
  /** Inclusive, ms. */
  readonly since?: number;
  /** Inclusive, ms. */
  readonly until?: number;
  readonly phone?: string;
  readonly channel?: string;
}

export interface AuditPage {
  readonly events: AuditEntry[];
  /** Pass back to continue after the last entry examined; absent when the range is exhausted. */
  readonly cursor?: string;
}

/** Reads the audit trail of a store. */
export interface AuditReader {
  /** Up to `limit` matching events, examining at most `scanBudget` entries, from `cursor` on. */
  page(query: AuditQuery, options: { limit: number; cursor?: string; scanBudget?: number }): Promise<AuditPage>;
  /** Every matching event in the range, oldest first. */
  scan(query: AuditQuery): AsyncIterable<AuditEntry>;
}

/** The flat pairs a context contributes to every entry (empty values left out). */
export function contextFields(context: AuditContext): string[] {
  return flatten({ phone: context.phone, channel: context.channel, ip: context.ip, caller: context.caller });
}

export function flatten(fields: Readonly<Record<string, string | number | undefined>>): string[] {
  return Object.entries(fields).flatMap(([name, value]) =>
    value === undefined || value === '' ? [] : [name, String(value)],
  );
}

export function entryMatches(fields: AuditFields, query: AuditQuery): boolean {
  return (query.phone === undefined || fields.phone === query.phone) && (query.channel === undefined || fields.channel === query.channel);
}

export function timeOfId(id: string): string {
  return new Date(Number(id.split('-')[0])).toISOString();
}

/** One NDJSON line: `{id, time, ...fields}`. */
export function toJsonLine(entry: AuditEntry): string {
  return JSON.stringify({ id: entry.id, time: entry.time, ...entry.fields });
}

const STREAM_ID = /^\d{1,16}-\d{1,16}$/;

export function isStreamId(value: string): boolean {
  return STREAM_ID.test(value);
}
