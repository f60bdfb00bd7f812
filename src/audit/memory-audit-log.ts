import {
  entryMatches,
  timeOfId,
  type AuditEntry,
  type AuditPage,
  type AuditQuery,
  type AuditReader,
  type AuditSettings,
} from './audit.js';

/** The in-memory store's audit trail: the same events as the Redis stream, bounded by age and count. */
export class MemoryAuditLog implements AuditReader {
  private readonly entries: AuditEntry[] = [];
  private lastMs = 0;
  private seq = 0;

  constructor(private readonly settings: AuditSettings & { readonly maxLen: number }) {}

  append(now: number, flat: readonly string[]): void {
    // Like Redis: ids only grow, even if the clock steps back.
    if (now > this.lastMs) {
      this.lastMs = now;
      this.seq = 0;
    } else {
      this.seq += 1;
    }
    const id = `${this.lastMs}-${this.seq}`;
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
    this.entries.push({ id, time: timeOfId(id), fields });
    this.trim(now);
  }

  async page(query: AuditQuery, options: { limit: number; cursor?: string }): Promise<AuditPage> {
    const after = options.cursor ? idKey(options.cursor) : undefined;
    const events: AuditEntry[] = [];
    for (const entry of this.entries) {
      const [ms] = idKey(entry.id);
      if (after && compareIds(idKey(entry.id), after) <= 0) continue;
      if (query.since !== undefined && ms < query.since) continue;
      if (query.until !== undefined && ms > query.until) break;
      if (!entryMatches(entry.fields, query)) continue;
      events.push(entry);
      if (events.length === options.limit) return { events, cursor: entry.id };
    }
    return { events };
  }

  async *scan(query: AuditQuery): AsyncIterable<AuditEntry> {
    yield* (await this.page(query, { limit: Number.MAX_SAFE_INTEGER })).events;
  }

  private trim(now: number): void {
    const oldest = now - this.settings.retentionMs;
    let drop = Math.max(0, this.entries.length - this.settings.maxLen);
    while (drop < this.entries.length && idKey((this.entries[drop] as AuditEntry).id)[0] < oldest) drop += 1;
    if (drop > 0) this.entries.splice(0, drop);
  }
}

function idKey(id: string): [number, number] {
  const [ms, seq] = id.split('-');
  return [Number(ms), Number(seq ?? 0)];
}

function compareIds(a: [number, number], b: [number, number]): number {
  return a[0] - b[0] || a[1] - b[1];
}
