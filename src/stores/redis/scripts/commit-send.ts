import { flatten, type AuditContext, type AuditEventFields, type AuditEventName } from '../../../domain/audit/audit.js';
import type { CommitResult, SendKind, SendOutcome } from '../../../domain/store.js';
import type { ScriptRunner } from './runner.js';

const RESULTS: Readonly<Record<string, CommitResult>> = { '1': 'promoted', '0': 'superseded', '2': 'repeated', '-1': 'lost' };

/** commit-send.lua (rules.ts commitOutcome, isSuperseded); audits `name` (code.sent, code.send_unconfirmed, notice.*) with `event`'s fields, then any report that came early. */
export async function commitSend(
  runner: ScriptRunner,
  context: AuditContext,
  args: {
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
  },
): Promise<CommitResult> {
  const reply = await runner.run(
    'commit-send',
    [args.codeKey, args.verificationsKey, args.checksKey, args.channelLogKey, args.phoneLogKey],
    context,
    [args.kind, args.name, args.sendId, args.keepMs, args.retentionMs, args.outcome, ...flatten(args.event)],
    () => 1,
  );
  return RESULTS[String(reply[0])] ?? 'lost';
}
