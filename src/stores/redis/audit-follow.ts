import type { RedisClient } from './redis-client.js';
import { toEntry } from './redis-audit-reader.js';
import type { AuditEntry } from '../../domain/audit/audit.js';

export interface FollowOptions {
  readonly key: string;
  readonly group: string;
  readonly consumer: string;
  /** Where a new group starts: `0` every retained event, `$` only new ones. */
  readonly startAt: '0' | '$';
  /** Entries per read. */
  readonly batch: number;
  /** How long one blocking read waits before checking `stopped`. */
  readonly blockMs: number;
  /** Hands a batch on (e.g. writes it to stdout) and resolves once it is safely written. */
  readonly write: (entries: AuditEntry[]) => Promise<void>;
  readonly stopped: () => boolean;
}

/**
 * Reads the audit stream through a consumer group and acknowledges a batch only
 * after `write` has resolved. After a crash, the entries this consumer had read
 * but not acknowledged are read again first: at least once, nothing dropped.
 */
export async function followAuditStream(redis: RedisClient, options: FollowOptions): Promise<void> {
  await ensureGroup(redis, options);
  // First what this consumer read before a crash and never acknowledged, then new entries.
  let backlog = true;
  while (!options.stopped()) {
    const id = backlog ? '0' : '>';
    const reply = (await redis.call(
      'XREADGROUP',
      'GROUP',
      options.group,
      options.consumer,
      'COUNT',
      options.batch,
      ...(backlog ? [] : ['BLOCK', options.blockMs]),
      'STREAMS',
      options.key,
      id,
    )) as Array<[string, Array<[string, string[] | null]>]> | null;
    const messages = reply?.[0]?.[1] ?? [];
    // Pending entries trimmed away meanwhile come back with no fields: acknowledge and skip them.
    const entries = messages.filter(([, fields]) => fields !== null).map(([entryId, fields]) => toEntry(entryId, fields as string[]));
    if (entries.length > 0) await options.write(entries);
    if (messages.length > 0) await redis.xack(options.key, options.group, ...messages.map(([entryId]) => entryId));
    if (backlog && messages.length === 0) backlog = false;
  }
}

async function ensureGroup(redis: RedisClient, options: FollowOptions): Promise<void> {
  try {
    await redis.xgroup('CREATE', options.key, options.group, options.startAt, 'MKSTREAM');
  } catch (error) {
    if (!String((error as Error).message).startsWith('BUSYGROUP')) throw error;
  }
}
