import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Cluster, Redis } from 'ioredis';
import { contextFields, type AuditContext, type AuditSettings } from '../../../domain/audit/audit.js';
import type { Logger } from '../../../domain/logger.js';

export type ScriptArg = string | number;
export type Reply = Array<string | number>;

const SCRIPTS = [
  'reserve-send',
  'reserve-limit',
  'commit-send',
  'release-send',
  'check-code',
  'append-audit',
  'cancel-verification',
  'get-verification',
  'record-receipt',
  'notice-receipt',
] as const;
export type ScriptName = (typeof SCRIPTS)[number];

/** The `.lua` files beside this folder (src/stores/redis/lua/), read once: the shared prelude, then each script's body. */
function read(name: string): string {
  return readFileSync(new URL(`../lua/${name}.lua`, import.meta.url), 'utf8');
}

/** Each script's ioredis command name, made once (looked up on every call). */
const COMMANDS = new Map<ScriptName, string>(SCRIPTS.map((name) => [name, `sms_${name.replaceAll('-', '_')}`]));
const commandOf = (name: ScriptName) => COMMANDS.get(name) as string;

type Command = (numberOfKeys: number, ...keysAndArgs: ScriptArg[]) => Promise<Reply>;

/**
 * How the events a script decides reach the audit stream: one kind per topology, chosen once.
 * `inline` (one node, Sentinel): the stream is the script's last key and the script appends to it.
 * `deferred` (Cluster, where the stream lives in another slot): the script returns its event after
 * its own reply and it is appended right after with append-audit. `off`: no stream configured.
 */
export type AuditWriterKind = 'inline' | 'deferred' | 'off';
const MODE: Record<AuditWriterKind, string> = { off: '0', inline: '1', deferred: '2' };

export interface ScriptRunnerOptions {
  readonly auditKey: string | undefined;
  readonly audit: AuditSettings;
  readonly logger: Logger;
  /** Tests only: the time (ms) scripts decide at, instead of Redis TIME. */
  readonly clock: (() => number) | undefined;
  /**
   * The Redis server time (ms) past which a decision issued now must not run, and what to do when a
   * script was refused as late (see RedisDeadlines); undefined: no deadlines.
   */
  readonly deadlines: { deadline(): number | undefined; refusedAfter(elapsedMs: number): void } | undefined;
}

/** A script refused to run past its request's deadline (prelude.lua): nothing was done. */
export class LateScriptError extends Error {
  override name = 'LateScriptError';
}

/**
 * Runs the scripts as ioredis commands (EVALSHA, falling back to EVAL on NOSCRIPT), packing the
 * prelude's arguments (see prelude.lua) and writing each decided audit event the topology's way.
 * The typed wrappers beside this file own each script's own arguments and reply.
 */
export class ScriptRunner {
  readonly auditWriter: AuditWriterKind;

  constructor(
    private readonly client: Redis | Cluster,
    private readonly options: ScriptRunnerOptions,
  ) {
    const prelude = read('prelude');
    // numberOfKeys is passed per call: the audit stream is an optional last key.
    for (const name of SCRIPTS) client.defineCommand(commandOf(name), { lua: `${prelude}\n${read(name)}` });
    this.auditWriter = !options.auditKey ? 'off' : client.isCluster ? 'deferred' : 'inline';
  }

  /**
   * Runs `name` and returns its own reply, the first `ownLength(reply)` items; whatever follows are
   * the deferred audit events (Cluster), appended here in order before returning. The decision stands even if
   * that append fails: it is logged, never turned into an error.
   */
  async run(
    name: Exclude<ScriptName, 'append-audit'>,
    keys: readonly string[],
    context: AuditContext | undefined,
    args: readonly ScriptArg[],
    ownLength: (reply: Reply) => number,
    /** The call's deadline: by default the one of a decision asked for now; `null`: none (a script that checks each request's own). */
    deadline: number | null | undefined = this.deadline(),
  ): Promise<Reply> {
    let reply: Reply;
    const issued = performance.now();
    try {
      reply = await this.call(name, this.auditWriter, keys, context, args, deadline);
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('LATE ')) {
        throw this.refusedAsLate(name, issued, error);
      }
      throw error;
    }
    const own = ownLength(reply);
    // Each deferred event is its field count, then its fields (a script may decide more than one).
    for (let at = own; at < reply.length; ) {
      const count = Number(reply[at]);
      const fields = reply.slice(at + 1, at + 1 + count).map(String);
      at += 1 + count;
      try {
        await this.append(context, fields);
      } catch (error) {
        this.options.logger.error(
          { audit: { event: fields[1], channel: context?.channel }, error: (error as Error).name },
          'audit event not written: the stream did not answer',
        );
      }
    }
    return reply.slice(0, own);
  }

  /**
   * The deadline (Redis server time, ms) of a decision asked for now, or undefined (no deadlines).
   * `run` takes it by default; a script deciding for several requests passes each one's own.
   */
  deadline(): number | undefined {
    return this.options.deadlines?.deadline();
  }

  /** The error for a decision (issued at `issued`, performance.now()) that a script refused as late. */
  refusedAsLate(name: ScriptName, issued: number, cause?: unknown): LateScriptError {
    this.options.deadlines?.refusedAfter(performance.now() - issued);
    return new LateScriptError(`${name} refused to run past its request's deadline`, { cause });
  }

  /**
   * append-audit: one event (flat field/value pairs) into the stream, itself its only key (fine on
   * Cluster too). No deadline: the event tells of a decision that was taken.
   */
  async append(context: AuditContext | undefined, fields: readonly string[]): Promise<void> {
    if (this.auditWriter === 'off') return;
    await this.call('append-audit', 'inline', [], context, fields, undefined);
  }

  /** `numberOfKeys, ...keys, [auditKey], ...prelude arguments, ...the script's own`. */
  private call(
    name: ScriptName,
    writer: AuditWriterKind,
    keys: readonly string[],
    context: AuditContext | undefined,
    args: readonly ScriptArg[],
    deadline: number | null | undefined,
  ): Promise<Reply> {
    const all = writer === 'inline' ? [...keys, this.options.auditKey as string] : keys;
    const fields = context ? contextFields(context) : [];
    const command = (this.client as unknown as Record<string, Command>)[commandOf(name)] as Command;
    return command.call(
      this.client,
      all.length,
      ...all,
      MODE[writer],
      this.options.audit.retentionMs,
      this.options.audit.maxLen ?? 0,
      this.options.clock ? this.options.clock() : '',
      deadline ?? '',
      fields.length / 2,
      ...fields,
      ...args,
    );
  }
}

type Windows = ReadonlyArray<{ count: number; windowMs: number; label: string }>;
/** Encoded once per windows list: the lists come from the configuration, the same objects every request. */
const encodedWindows = new WeakMap<Windows, readonly ScriptArg[]>();

/** `count, window ms, label` per window (see check_windows in prelude.lua). */
export function windowArgs(windows: Windows): readonly ScriptArg[] {
  let encoded = encodedWindows.get(windows);
  if (!encoded) {
    encoded = [windows.length, ...windows.flatMap((w) => [w.count, w.windowMs, w.label])];
    encodedWindows.set(windows, encoded);
  }
  return encoded;
}
