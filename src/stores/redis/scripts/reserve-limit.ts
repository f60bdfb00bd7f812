import type { AuditContext } from '../../../domain/audit/audit.js';
import type { SendWindow } from '../../../domain/limits/send-window.js';
import type { WindowsVerdict } from '../../../domain/limits/windows.js';
import { windowArgs, type ScriptRunner } from './runner.js';

/**
 * reserve-limit.lua (windows.ts judgeWindows): reserves `id` in the log `key` if every window allows
 * it (with `peek`, only reads). Returns the log's verdict (reserved when nothing refused).
 */
export async function reserveLimit(
  runner: ScriptRunner,
  context: AuditContext,
  args: { readonly key: string; readonly sendId: string; readonly windows: readonly SendWindow[]; readonly peek?: boolean },
): Promise<WindowsVerdict> {
  const reply = await runner.run(
    'reserve-limit',
    [args.key],
    context,
    [args.sendId, args.peek ? '1' : '0', ...windowArgs(args.windows)],
    (r) => (r[0] === 1 ? 1 : 3),
  );
  return reply[0] === 1 ? { refused: undefined, retryAfterMs: 0 } : { refused: Number(reply[1]), retryAfterMs: Number(reply[2]) };
}
