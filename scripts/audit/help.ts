/**
 * The audit CLI's flags (node:util parseArgs) and help texts: `--help` (also `help <command>`),
 * `export --help`, `follow --help`. test/audit.test.ts checks that each help names every flag.
 */
import type { ParseArgsConfig } from 'node:util';

const HELP = { help: { type: 'boolean', short: 'h', default: false } } as const;

export const EXPORT_OPTIONS = {
  since: { type: 'string' },
  until: { type: 'string' },
  phone: { type: 'string' },
  channel: { type: 'string' },
  progress: { type: 'string', default: '10000' },
  ...HELP,
} as const satisfies ParseArgsConfig['options'];

export const FOLLOW_OPTIONS = {
  group: { type: 'string' },
  consumer: { type: 'string' },
  'new-only': { type: 'boolean', default: false },
  batch: { type: 'string', default: '100' },
  ...HELP,
} as const satisfies ParseArgsConfig['options'];

const RUN = 'npm run audit --';

export const ENVIRONMENT = `Environment (read like the service does):
  REDIS_URL | REDIS_CLUSTER_NODES | REDIS_SENTINELS   where the audit stream lives (one of them is required)
  REDIS_PASSWORD, REDIS_TLS, REDIS_SENTINEL_NAME        as for the service
  REDIS_PREFIX                                           key prefix (default sms:)
  AUDIT_STREAM                                           stream key (default <REDIS_PREFIX>audit)`;

export const MAIN_HELP = `Reads the service's audit stream (Redis).

Usage:
  ${RUN} <command> [flags]
  In the Docker image: node dist/scripts/audit.js <command> [flags]

Commands:
  export    print the matching audit events as NDJSON on stdout, then exit
  follow    print events as they arrive, through a Redis consumer group, until SIGINT/SIGTERM

Flags:
  -h, --help    this help; "<command> --help" or "help <command>" for a command's flags

Every event is one JSON line: {"id","time","event","phone","channel",…}. Progress and counts go to
stderr, so stdout stays NDJSON. Exit codes: 0 done, 1 failed (e.g. Redis unreachable), 2 bad usage.

${ENVIRONMENT}`;

export const EXPORT_HELP = `Prints the matching audit events, oldest first, as NDJSON on stdout, then exits.

Usage:
  ${RUN} export [--since <ISO time>] [--until <ISO time>] [--phone <number>] [--channel <name>] [--progress <n>]

Flags:
  --since <ISO time>   only events at or after this time, e.g. 2026-11-25T00:00:00Z
  --until <ISO time>   only events at or before this time
  --phone <number>     only this phone, in any form the service accepts (13800000001, +86 138-0000-0001)
  --channel <name>     only this channel (1-64 characters of [A-Za-z0-9_.-])
  --progress <n>       write "exported <n> events…" to stderr every n events (default 10000; 0: never)
  -h, --help           this help

When done it writes "exported <count> events" to stderr.

${ENVIRONMENT}`;

export const FOLLOW_HELP = `Prints audit events as NDJSON as they arrive, through a Redis consumer group, and acknowledges a
batch only once it is written: killed and restarted with the same --group and --consumer, it prints
every event at least once (the batch in flight when it was killed may come twice). Stops on
SIGINT/SIGTERM. On start it writes to stderr where it resumes.

Usage:
  ${RUN} follow --group <name> [--consumer <name>] [--new-only] [--batch <n>]

Flags:
  --group <name>      consumer group (required); created on first use
  --consumer <name>   consumer within the group (default: the host name); use the same name after a
                      restart to get its unacknowledged events again
  --new-only          a new group starts with events arriving from now on (default: every retained
                      event); ignored when the group already exists
  --batch <n>         events per read and per acknowledgement, 1-10000 (default 100)
  -h, --help          this help

${ENVIRONMENT}`;

export const COMMAND_HELP: Record<string, string> = { export: EXPORT_HELP, follow: FOLLOW_HELP };

/** Each command's flags, for the check that its help describes every one. */
export const COMMAND_OPTIONS: Record<string, NonNullable<ParseArgsConfig['options']>> = { export: EXPORT_OPTIONS, follow: FOLLOW_OPTIONS };
