/**
 * `npm run audit -- export [--since ISO] [--until ISO] [--phone N] [--channel C]`
 *   prints the matching audit events as NDJSON and exits.
 * `npm run audit -- follow --group NAME [--consumer NAME] [--from-start|--new-only] [--batch N]`
 *   prints events as they arrive through a consumer group, acknowledging only what it wrote.
 * Reads REDIS_URL, REDIS_PREFIX and AUDIT_STREAM like the service.
 */
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { toJsonLine, type AuditEntry, type AuditQuery } from '../src/domain/audit/audit.js';
import { followAuditStream } from '../src/stores/redis/audit-follow.js';
import { RedisAuditReader } from '../src/stores/redis/redis-audit-reader.js';
import { isValidChannel } from '../src/domain/channels/channel.js';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { connectRedis, type RedisClient } from '../src/stores/redis/redis-client.js';
import { parsePhone } from '../src/domain/phones/phone.js';

class UsageError extends Error {}

const USAGE = `usage:
  npm run audit -- export [--since <ISO time>] [--until <ISO time>] [--phone <number>] [--channel <name>]
  npm run audit -- follow --group <name> [--consumer <name>] [--new-only] [--batch <n>]`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const config = loadConfig(process.env);
  if (!config.redis) throw new UsageError('REDIS_URL (or REDIS_CLUSTER_NODES / REDIS_SENTINELS) is not set: the audit stream lives in Redis');
  const redis = await connectRedis(config.redis, 5_000);
  try {
    if (command === 'export') await runExport(redis, config.audit.stream, rest);
    else if (command === 'follow') await runFollow(redis, config.audit.stream, rest);
    else throw new UsageError(USAGE);
  } finally {
    redis.disconnect();
  }
}

async function runExport(redis: RedisClient, key: string, args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { since: { type: 'string' }, until: { type: 'string' }, phone: { type: 'string' }, channel: { type: 'string' } },
    strict: true,
  });
  const query: AuditQuery = {
    since: values.since === undefined ? undefined : parseTime('--since', values.since),
    until: values.until === undefined ? undefined : parseTime('--until', values.until),
    phone: values.phone === undefined ? undefined : parsePhoneArg(values.phone),
    channel: values.channel === undefined ? undefined : parseChannelArg(values.channel),
  };
  for await (const entry of new RedisAuditReader(redis, key).scan(query)) await writeLines([entry]);
}

async function runFollow(redis: RedisClient, key: string, args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      group: { type: 'string' },
      consumer: { type: 'string' },
      'new-only': { type: 'boolean', default: false },
      batch: { type: 'string', default: '100' },
    },
    strict: true,
  });
  if (!values.group) throw new UsageError(`follow needs --group <name>\n${USAGE}`);
  const batch = Number(values.batch);
  if (!Number.isInteger(batch) || batch < 1 || batch > 10_000) throw new UsageError('--batch must be an integer from 1 to 10000');
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => (stopping = true));
  await followAuditStream(redis, {
    key,
    group: values.group,
    consumer: values.consumer ?? hostname(),
    startAt: values['new-only'] ? '$' : '0',
    batch,
    blockMs: 1000,
    write: writeLines,
    stopped: () => stopping,
  });
}

/** Resolves once the lines are handed to the OS, so acknowledging after it never loses an event. */
function writeLines(entries: AuditEntry[]): Promise<void> {
  const text = entries.map((entry) => `${toJsonLine(entry)}\n`).join('');
  return new Promise((resolve, reject) => process.stdout.write(text, (error) => (error ? reject(error) : resolve())));
}

function parseTime(flag: string, value: string): number {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new UsageError(`${flag} must be an ISO 8601 time, e.g. 2026-11-25T00:00:00Z`);
  return ms;
}

function parsePhoneArg(value: string): string {
  const parsed = parsePhone(value);
  if (!parsed.ok) throw new UsageError('--phone is not a valid mobile number');
  return parsed.phone.e164;
}

function parseChannelArg(value: string): string {
  if (!isValidChannel(value)) throw new UsageError('--channel must be 1-64 characters of [A-Za-z0-9_.-]');
  return value;
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error: unknown) => {
    const message =
      error instanceof UsageError || error instanceof ConfigError || error instanceof TypeError
        ? error.message
        : `audit failed: ${(error as Error).name}: ${(error as Error).message}`;
    process.stderr.write(`${message}\n`);
    process.exit(error instanceof UsageError ? 2 : 1);
  },
);
