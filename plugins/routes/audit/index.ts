import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { isStreamId, type AuditEntry } from '../../../src/domain/audit/audit.js';
import { CHANNEL_PATTERN } from '../../../src/domain/channels/channel.js';
import { parsePhone } from '../../../src/domain/phones/phone.js';
import { Errors } from '../../hooks/errors.js';

const AuditQuerystring = Type.Object(
  {
    phone: Type.Optional(
      Type.String({ minLength: 1, maxLength: 32, description: 'Any accepted form of the number', examples: ['+8613800138000'] }),
    ),
    channel: Type.Optional(Type.String({ pattern: CHANNEL_PATTERN, examples: ['login'] })),
    since: Type.Optional(Type.String({ format: 'date-time', description: 'ISO 8601, inclusive' })),
    until: Type.Optional(Type.String({ format: 'date-time', description: 'ISO 8601, inclusive' })),
    // A string: bodies are validated without type coercion, so query numbers are parsed here.
    limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,3}$', description: '1 to 200, default 50' })),
    cursor: Type.Optional(Type.String({ maxLength: 64, description: 'nextCursor of the previous page' })),
  },
  { additionalProperties: false },
);

const AuditEvent = Type.Object(
  { id: Type.String(), time: Type.String({ format: 'date-time' }), event: Type.String() },
  { additionalProperties: Type.String() },
);

/**
 * `GET /v1/audit`: the audit trail as JSON pages, oldest first, for support staff
 * looking at one phone. Each page examines a bounded slice of the stream; a page
 * may hold fewer than `limit` events and still have a `nextCursor`.
 */
const auditRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get(
    '/v1/audit',
    {
      config: { auth: { scope: 'audit' } },
      schema: {
        summary: 'Read audit events (filter by phone, channel, time)',
        operationId: 'readAudit',
        querystring: AuditQuerystring,
        response: {
          200: Type.Object(
            {
              events: Type.Array(AuditEvent),
              nextCursor: Type.Optional(Type.String({ description: 'Pass as `cursor` for the next page; absent on the last' })),
            },
            { description: 'A page of events, oldest first (it may hold fewer than `limit` and still have a next page)' },
          ),
        },
      },
    },
    async (request) => {
      const q = request.query;
      let phone: string | undefined;
      if (q.phone !== undefined) {
        const parsed = parsePhone(q.phone);
        if (!parsed.ok) throw new Errors.INVALID_PHONE();
        phone = parsed.phone.e164;
      }
      const limit = q.limit === undefined ? 50 : Number(q.limit);
      if (limit < 1 || limit > 200) throw new Errors.INVALID_INPUT('limit');
      const cursor = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
      if (cursor === null) throw new Errors.INVALID_INPUT('cursor');
      const since = q.since === undefined ? undefined : instant(q.since);
      if (since === null) throw new Errors.INVALID_INPUT('since');
      const until = q.until === undefined ? undefined : instant(q.until);
      if (until === null) throw new Errors.INVALID_INPUT('until');
      const page = await fastify.verification.readAudit(
        { phone, channel: q.channel, since, until },
        { limit, cursor },
      );
      // The auth hook lets a channel-limited key name only its channels; this keeps any page (whatever
      // its cursor or filter) to those channels, should a request ever reach here without naming one.
      const allowed = request.callerChannels;
      const visible = allowed ? page.events.filter((event) => allowed.has(event.fields.channel ?? '')) : page.events;
      return {
        events: visible.map(toJson),
        ...(page.cursor ? { nextCursor: encodeCursor(page.cursor) } : {}),
      };
    },
  );
};

export default auditRoutes;

function toJson(entry: AuditEntry): { id: string; time: string; event: string } {
  return { event: '', ...entry.fields, id: entry.id, time: entry.time };
}

/**
 * Milliseconds since the epoch, at least 0 (a stream id cannot be negative: Redis would refuse the
 * range). Null for a time the format allows but `Date` cannot place, such as a leap second (`23:59:60`).
 */
function instant(text: string): number | null {
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? Math.max(0, ms) : null;
}

function encodeCursor(id: string): string {
  return Buffer.from(id).toString('base64url');
}

/** The cursor is opaque to callers; inside it is a stream id. Null when it is not one of ours. */
function decodeCursor(cursor: string): string | null {
  const id = Buffer.from(cursor, 'base64url').toString();
  return isStreamId(id) ? id : null;
}
