import type { RedisClient } from '../../src/stores/redis/redis-client.js';

export interface ResumeOptions {
  readonly group: string;
  readonly consumer: string;
  readonly newOnly: boolean;
}

/** `XINFO GROUPS` / `XINFO CONSUMERS` rows: flat [name, value, …] arrays. */
function rows(reply: unknown): Array<Record<string, unknown>> {
  if (!Array.isArray(reply)) return [];
  return reply.map((flat: unknown[]) => {
    const row: Record<string, unknown> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) row[String(flat[i])] = flat[i + 1];
    return row;
  });
}

function timeOf(id: string): string {
  const ms = Number(id.split('-')[0]);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : '?';
}

/**
 * One line for stderr saying where `follow` starts: a new group (from the oldest retained event, or
 * from now on with --new-only), or an existing one (after which event, how many events this consumer
 * read before without acknowledging them and will print again first, how many the group has not seen).
 */
export async function describeResume(redis: RedisClient, key: string, options: ResumeOptions): Promise<string> {
  const quoted = `consumer group "${options.group}" on ${key}`;
  let group: Record<string, unknown> | undefined;
  try {
    group = rows(await redis.call('XINFO', 'GROUPS', key)).find((row) => row.name === options.group);
  } catch (error) {
    // No stream yet: the group is created with it.
    if (!/no such key/i.test(String((error as Error).message))) throw error;
  }
  if (!group) {
    return options.newOnly
      ? `follow: new ${quoted}, starting with events arriving from now on (--new-only), as consumer "${options.consumer}"`
      : `follow: new ${quoted}, starting with the oldest retained event, as consumer "${options.consumer}"`;
  }
  const lastId = String(group['last-delivered-id'] ?? '0-0');
  const consumer = rows(await redis.call('XINFO', 'CONSUMERS', key, options.group)).find((row) => row.name === options.consumer);
  const pending = Number(consumer?.pending ?? 0);
  const lag = typeof group.lag === 'number' ? `; ${group.lag} newer ${group.lag === 1 ? 'event' : 'events'} not yet delivered to the group` : '';
  const position = lastId === '0-0' ? 'from the start of the stream (nothing delivered yet)' : `after event ${lastId} (${timeOf(lastId)})`;
  const again = pending > 0 ? `; first the ${pending} ${pending === 1 ? 'event' : 'events'} consumer "${options.consumer}" read before without acknowledging` : '';
  const ignored = options.newOnly ? ' (--new-only ignored: the group exists)' : '';
  return `follow: resuming ${quoted} as consumer "${options.consumer}" ${position}${again}${lag}${ignored}`;
}
