import { flatten, type AuditContext, type AuditEventFields } from '../../../domain/audit/audit.js';
import type { CommitResult } from '../../../domain/store.js';
import type { ScriptRunner } from './runner.js';

const RESULTS: Readonly<Record<string, CommitResult>> = { '1': 'promoted', '0': 'superseded', '2': 'repeated', '-1': 'lost' };

/** commit-send.lua (rules.ts commitOutcome, isSuperseded); audits code.sent with `event`'s fields, then any report that came early. */
export async function commitSend(
  runner: ScriptRunner,
  context: AuditContext,
  args: {
    readonly codeKey: string;
    readonly verificationsKey: string;
    readonly checksKey: string;
    readonly channelLogKey: string;
    readonly phoneLogKey: string;
    readonly sendId: string;
    readonly keepMs: number;
    readonly retentionMs: number;
    readonly how: 'sent' | 'unconfirmed';
    readonly event: AuditEventFields;
  },
): Promise<CommitResult> {
  const reply = await runner.run(
    'commit-send',
    [args.codeKey, args.verificationsKey, args.checksKey, args.channelLogKey, args.phoneLogKey],
    context,
    [args.sendId, args.keepMs, args.retentionMs, args.how, ...flatten(args.event)],
    () => 1,
  );
  return RESULTS[String(reply[0])] ?? 'lost';
}
