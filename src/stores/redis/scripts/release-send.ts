import { flatten, type AuditContext, type AuditEventFields } from '../../../domain/audit/audit.js';
import type { SendKind } from '../../../domain/store.js';
import type { ScriptRunner } from './runner.js';

/** release-send.lua: the send leaves the logs `logKeys`, its pending code goes, its verification reads failed; audits code.send_failed (notice.send_failed). */
export async function releaseSend(
  runner: ScriptRunner,
  context: AuditContext,
  args: {
    readonly kind: SendKind;
    readonly codeKey: string;
    readonly verificationsKey: string;
    readonly logKeys: readonly string[];
    readonly sendId: string;
    readonly retentionMs: number;
    readonly event: AuditEventFields;
  },
): Promise<void> {
  await runner.run(
    'release-send',
    [args.codeKey, args.verificationsKey, ...args.logKeys],
    context,
    [args.kind, args.sendId, args.retentionMs, args.logKeys.length, ...flatten(args.event)],
    () => 1,
  );
}
