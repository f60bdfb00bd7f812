import type { Cluster, Redis } from 'ioredis';
import { entryMatches, timeOfId, type AuditEntry, type AuditPage, type AuditQuery, type AuditReader } from '../../domain/audit/audit.js';

const BATCH = 500;
const DEFAULT_SCAN_BUDGET = 10_000;

/** Reads the audit stream with XRANGE, oldest first, filtering by phone and channel as it goes. */
export class RedisAuditReader implements AuditReader {
  constructor(
    private readonly client: Redis | Cluster,
    private readonly key: string,
  ) {}

  async page(query: AuditQuery, options: { limit: number; cursor?: string; scanBudget?: number }): Promise<AuditPage> {
    const budget = options.scanBudget ?? DEFAULT_SCAN_BUDGET;
    const events: AuditEntry[] = [];
    let start = options.cursor ? `(${options.cursor}` : query.since !== undefined ? String(query.since) : '-';
    const end = query.until !== undefined ? String(query.until) : '+';
    let examined = 0;
    let last: string | undefined;
    while (examined < budget) {
      const count = Math.min(BATCH, budget - examined);
      const batch = await this.client.xrange(this.key, start, end, 'COUNT', count);
      for (const [id, flat] of batch) {
        examined += 1;
        last = id;
        const entry = toEntry(id, flat);
        if (!entryMatches(entry.fields, query)) continue;
        events.push(entry);
        if (events.length === options.limit) return { events, cursor: id };
      }
      if (batch.length < count) return { events };
      start = `(${last}`;
    }
    return last ? { events, cursor: last } : { events };
  }

  async *scan(query: AuditQuery): AsyncIterable<AuditEntry> {
    let cursor: string | undefined;
    do {
      const page = await this.page(query, { limit: BATCH, cursor, scanBudget: BATCH * 20 });
      yield* page.events;
      cursor = page.cursor;
    } while (cursor);
  }
}

export function toEntry(id: string, flat: string[]): AuditEntry {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
  return { id, time: timeOfId(id), fields };
}
