import {
  entryMatches,
  timeOfId,
  type AuditEntry,
  type AuditPage,
  type AuditQuery,
  type AuditReader,
  type AuditSettings,
} from '../../domain/audit/audit.js';

/** The in-memory store's audit trail: the same events as the Redis stream, bounded by age and count. */
interface StoredEntry {
  readonly ms: number;
  readonly seq: number;
  readonly fields: Readonly<Record<string, string>>;
}

export class MemoryAuditLog implements AuditReader {
  /** Entries from `start` on are live; the dropped head is compacted away now and then, not per append. */
  private entries: StoredEntry[] = [];
  private start = 0;
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
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
    this.entries.push({ ms: this.lastMs, seq: this.seq, fields });
    this.trim(now);
  }

  async page(query: AuditQuery, options: { limit: number; cursor?: string }): Promise<AuditPage> {
    const after = options.cursor ? idKey(options.cursor) : undefined;
    const events: AuditEntry[] = [];
    for (let i = this.start; i < this.entries.length; i++) {
      const entry = this.entries[i] as StoredEntry;
      if (after && compareIds([entry.ms, entry.seq], after) <= 0) continue;
      if (query.since !== undefined && entry.ms < query.since) continue;
      if (query.until !== undefined && entry.ms > query.until) break;
      if (!entryMatches(entry.fields, query)) continue;
      const id = `${entry.ms}-${entry.seq}`;
      events.push({ id, time: timeOfId(id), fields: entry.fields });
      if (events.length === options.limit) return { events, cursor: id };
    }
    return { events };
  }

  async *scan(query: AuditQuery): AsyncIterable<AuditEntry> {
    yield* (await this.page(query, { limit: Number.MAX_SAFE_INTEGER })).events;
  }

  private trim(now: number): void {
    const oldest = now - this.settings.retentionMs;
    this.start = Math.max(this.start, this.entries.length - this.settings.maxLen);
    while (this.start < this.entries.length && (this.entries[this.start] as StoredEntry).ms < oldest) this.start += 1;
    if (this.start >= 1024 && this.start * 2 >= this.entries.length) {
      this.entries = this.entries.slice(this.start);
      this.start = 0;
    }
  }
}

function idKey(id: string): [number, number] {
  const [ms, seq] = id.split('-');
  return [Number(ms), Number(seq ?? 0)];
}

function compareIds(a: [number, number], b: [number, number]): number {
  return a[0] - b[0] || a[1] - b[1];
}
