import type { AuditContext } from '../../../domain/audit/audit.js';
import type { SendWindow } from '../../../domain/limits/send-window.js';
import type { WindowsVerdict } from '../../../domain/limits/windows.js';
import { windowArgs, type ScriptRunner } from './runner.js';

/**
 * reserve-limit.lua (Cluster only; windows.ts judgeWindows): reserves `sendId` in the send log `key`
 * if every window allows it. Returns the log's verdict (reserved when nothing refused).
 */
export async function reserveLimit(
  runner: ScriptRunner,
  context: AuditContext,
  args: { readonly key: string; readonly sendId: string; readonly windows: readonly SendWindow[] },
): Promise<WindowsVerdict> {
  const reply = await runner.run('reserve-limit', [args.key], context, [args.sendId, ...windowArgs(args.windows)], (r) =>
    r[0] === 1 ? 1 : 3,
  );
  return reply[0] === 1 ? { refused: undefined, retryAfterMs: 0 } : { refused: Number(reply[1]), retryAfterMs: Number(reply[2]) };
}
