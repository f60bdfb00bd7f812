import { performance } from 'node:perf_hooks';
import { contextFields, flatten, type AuditContext, type AuditEventFields, type AuditEventName } from '../../../domain/audit/audit.js';
import type { CommitResult, SendKind, SendOutcome } from '../../../domain/store.js';
import type { ScriptArg, ScriptRunner } from './runner.js';

const RESULTS: Readonly<Record<string, CommitResult>> = { '1': 'promoted', '0': 'superseded', '2': 'repeated', '-1': 'lost' };
/** commit-send.lua's answer for a send past its deadline. */
const LATE = '-9';
/** commit-send.lua's answer for a send whose commit raised an error (the others in its call are decided). */
const FAILED = '-8';
/** Most commits in one call: bounds how long one script holds Redis (each commit is a few dozen µs). */
export const MAX_COMMITS_PER_CALL = 32;

export interface CommitSendArgs {
  readonly kind: SendKind;
  readonly name: AuditEventName;
  readonly outcome: SendOutcome;
  readonly codeKey: string;
  readonly verificationsKey: string;
  readonly checksKey: string;
  readonly channelLogKey: string;
  readonly phoneLogKey: string;
  readonly sendId: string;
  readonly keepMs: number;
  readonly retentionMs: number;
  readonly event: AuditEventFields;
}

/** The script raised an error while committing this send; the other commits of its call were decided. */
export class CommitFailedError extends Error {
  override name = 'CommitFailedError';
}

interface Queued {
  readonly context: AuditContext;
  readonly args: CommitSendArgs;
  readonly deadline: number | undefined;
  readonly issued: number;
  readonly resolve: (result: CommitResult) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * commit-send.lua (rules.ts commitOutcome, isSuperseded): audits `name` (code.sent,
 * code.send_unconfirmed, notice.*) with `event`'s fields, then any report that came early.
 *
 * The commits asked for during one turn of the event loop go to Redis as one call (at most
 * MAX_COMMITS_PER_CALL), so under load a successful send costs one script run of its own (its
 * reserve) plus a share of one. The script commits them one after the other in the order they were
 * asked, each exactly as if it had run alone, each against its own deadline: a batch changes when a
 * commit runs (at most one event-loop turn later), never what it decides. A commit that raises an
 * error inside the script fails alone (the script catches it). A call that fails as a whole (Redis
 * unreachable, a timeout) fails every commit in it, and each is retried on its own (CommitRetry).
 * On Redis Cluster a script cannot span slots, and two phones of one turn rarely share one, so each
 * commit is its own call there.
 */
export class CommitSends {
  private queue: Queued[] = [];
  private scheduled = false;

  constructor(
    private readonly runner: ScriptRunner,
    private readonly batched: boolean,
  ) {}

  commit(context: AuditContext, args: CommitSendArgs): Promise<CommitResult> {
    return new Promise<CommitResult>((resolve, reject) => {
      const queued: Queued = { context, args, deadline: this.runner.deadline(), issued: performance.now(), resolve, reject };
      if (!this.batched) {
        void this.run([queued]);
        return;
      }
      this.queue.push(queued);
      if (this.queue.length >= MAX_COMMITS_PER_CALL) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.flush();
        });
      }
    });
  }

  /** Sends the commits queued so far now (before the store closes, or when a call is full). */
  flush(): void {
    const queued = this.queue;
    if (queued.length === 0) return;
    this.queue = [];
    void this.run(queued);
  }

  private async run(queued: readonly Queued[]): Promise<void> {
    // One commit: its context is the call's (on Cluster its events are appended after the script
    // with the call's context). Several: each carries its own.
    const single = queued.length === 1 ? queued[0] : undefined;
    const keys: string[] = [];
    const args: ScriptArg[] = [queued.length];
    for (const { context, args: a, deadline } of queued) {
      keys.push(a.codeKey, a.verificationsKey, a.checksKey, a.channelLogKey, a.phoneLogKey);
      const own = single ? [] : contextFields(context);
      const event = flatten(a.event);
      args.push(deadline ?? '', own.length / 2, ...own, a.kind, a.name, a.sendId, a.keepMs, a.retentionMs, a.outcome, event.length, ...event);
    }
    let reply;
    try {
      // No deadline for the call: the script checks each commit's own.
      reply = await this.runner.run('commit-send', keys, single?.context, args, () => queued.length, null);
    } catch (error) {
      for (const q of queued) q.reject(error);
      return;
    }
    queued.forEach((q, i) => {
      const result = String(reply[i]);
      if (result === LATE) q.reject(this.runner.refusedAsLate('commit-send', q.issued));
      else if (result === FAILED) q.reject(new CommitFailedError('commit-send failed for this send (a Redis error inside the script)'));
      else q.resolve(RESULTS[result] ?? 'lost');
    });
  }
}
