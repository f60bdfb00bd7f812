/**
 * The audit CLI (`npm run audit -- --help`; in the Docker image `node dist/scripts/audit.js --help`):
 * `export` prints the matching audit events as NDJSON and exits; `follow` prints events as they
 * arrive through a consumer group, acknowledging only what it wrote. Reads REDIS_URL (or the Cluster
 * and Sentinel variables), REDIS_PREFIX and AUDIT_STREAM like the service. Counts, progress and where
 * `follow` resumes go to stderr; stdout is NDJSON only.
 */
import { hostname } from 'node:os';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { toJsonLine, type AuditEntry, type AuditQuery } from '../src/domain/audit/audit.js';
import { followAuditStream } from '../src/stores/redis/audit-follow.js';
import { RedisAuditReader } from '../src/stores/redis/redis-audit-reader.js';
import { isValidChannel } from '../src/domain/channels/channel.js';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { connectRedis, type RedisClient } from '../src/stores/redis/redis-client.js';
import { parsePhone } from '../src/domain/phones/phone.js';
import { COMMAND_HELP, EXPORT_OPTIONS, FOLLOW_OPTIONS, MAIN_HELP } from './audit/help.js';
import { describeResume } from './audit/resume.js';

class UsageError extends Error {}

/** parseArgs with the command named in its errors and a pointer to the help. */
function parse<O extends NonNullable<ParseArgsConfig['options']>>(command: string, args: string[], options: O) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError(`${command}: ${(error as Error).message}\n(see: ${command} --help)`);
  }
}

function printHelp(text: string): void {
  process.stdout.write(`${text}\n`);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h') {
    if (command === undefined) throw new UsageError(`no command given\n\n${MAIN_HELP}`);
    return printHelp(MAIN_HELP);
  }
  if (command === 'help') {
    const topic = rest[0];
    if (topic === undefined) return printHelp(MAIN_HELP);
    const text = COMMAND_HELP[topic];
    if (!text) throw new UsageError(`help: unknown command "${topic}" (export, follow)`);
    return printHelp(text);
  }
  if (command === 'export') {
    const values = parse('export', rest, EXPORT_OPTIONS);
    if (values.help) return printHelp(COMMAND_HELP.export as string);
    const query = exportQuery(values);
    const progressEvery = integerFlag('--progress', values.progress, 0);
    return withRedis((redis, key) => runExport(redis, key, query, progressEvery));
  }
  if (command === 'follow') {
    const values = parse('follow', rest, FOLLOW_OPTIONS);
    if (values.help) return printHelp(COMMAND_HELP.follow as string);
    if (!values.group) throw new UsageError('follow needs --group <name>\n(see: follow --help)');
    const options = {
      group: values.group,
      consumer: values.consumer ?? hostname(),
      newOnly: values['new-only'],
      batch: integerFlag('--batch', values.batch, 1, 10_000),
    };
    return withRedis((redis, key) => runFollow(redis, key, options));
  }
  throw new UsageError(`unknown command "${command}"\n\n${MAIN_HELP}`);
}

/** Reads the configuration only once the command line is known to be good (so `--help` needs no Redis). */
async function withRedis(run: (redis: RedisClient, key: string) => Promise<void>): Promise<void> {
  const config = loadConfig(process.env);
  if (!config.redis) throw new UsageError('REDIS_URL (or REDIS_CLUSTER_NODES / REDIS_SENTINELS) is not set: the audit stream lives in Redis');
  const redis = await connectRedis(config.redis, 5_000);
  try {
    await run(redis, config.audit.stream);
  } finally {
    redis.disconnect();
  }
}

function exportQuery(values: { since?: string; until?: string; phone?: string; channel?: string }): AuditQuery {
  return {
    since: values.since === undefined ? undefined : parseTime('--since', values.since),
    until: values.until === undefined ? undefined : parseTime('--until', values.until),
    phone: values.phone === undefined ? undefined : parsePhoneArg(values.phone),
    channel: values.channel === undefined ? undefined : parseChannelArg(values.channel),
  };
}

async function runExport(redis: RedisClient, key: string, query: AuditQuery, progressEvery: number): Promise<void> {
  let count = 0;
  for await (const entry of new RedisAuditReader(redis, key).scan(query)) {
    await writeLines([entry]);
    count++;
    if (progressEvery > 0 && count % progressEvery === 0) process.stderr.write(`exported ${count} events…\n`);
  }
  process.stderr.write(`exported ${count} ${count === 1 ? 'event' : 'events'}\n`);
}

async function runFollow(redis: RedisClient, key: string, options: { group: string; consumer: string; newOnly: boolean; batch: number }): Promise<void> {
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => (stopping = true));
  process.stderr.write(`${await describeResume(redis, key, options)}\n`);
  await followAuditStream(redis, {
    key,
    group: options.group,
    consumer: options.consumer,
    startAt: options.newOnly ? '$' : '0',
    batch: options.batch,
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

function integerFlag(flag: string, value: string, min: number, max?: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || (max !== undefined && n > max)) {
    throw new UsageError(`${flag} must be an integer ${max === undefined ? `of at least ${min}` : `from ${min} to ${max}`}`);
  }
  return n;
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
