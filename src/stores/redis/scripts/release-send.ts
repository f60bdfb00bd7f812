import { flatten, type AuditContext, type AuditEventFields } from '../../../domain/audit/audit.js';
import type { SendKind } from '../../../domain/store.js';
import type { ScriptRunner } from './runner.js';

/** release-send.lua: the send leaves the logs `logKeys` and its pending code goes; audits code.send_failed (notice.send_failed). */
export async function releaseSend(
  runner: ScriptRunner,
  context: AuditContext,
  args: {
    readonly kind: SendKind;
    readonly codeKey: string;
    readonly logKeys: readonly string[];
    readonly sendId: string;
    readonly event: AuditEventFields;
  },
): Promise<void> {
  await runner.run(
    'release-send',
    [args.codeKey, ...args.logKeys],
    context,
    [args.kind, args.sendId, args.logKeys.length, ...flatten(args.event)],
    () => 1,
  );
}
