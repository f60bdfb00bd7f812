import type { AuditContext } from '../../../domain/audit/audit.js';
import type { SendWindow } from '../../../domain/limits/send-window.js';
import type { CheckResult, CheckStatus } from '../../../domain/store.js';
import { windowArgs, type ScriptRunner } from './runner.js';

/** check-code.lua (rules.ts judgeCheck and checkEvent). */
export async function checkCode(
  runner: ScriptRunner,
  context: AuditContext,
  args: {
    readonly codeKey: string;
    readonly failuresKey: string;
    readonly verificationsKey: string;
    readonly checksKey: string;
    readonly codeHash: string;
    readonly maxAttempts: number;
    readonly checkId: string;
    readonly verificationId: string | undefined;
    readonly idempotencyKey: string | undefined;
    readonly retentionMs: number;
    readonly failureLimits: readonly SendWindow[];
  },
): Promise<CheckResult> {
  const reply = await runner.run(
    'check-code',
    [args.codeKey, args.failuresKey, args.verificationsKey, args.checksKey],
    context,
    [
      args.codeHash,
      args.maxAttempts,
      args.checkId,
      args.verificationId ?? '',
      args.idempotencyKey ?? '',
      args.retentionMs,
      ...windowArgs(args.failureLimits),
    ],
    () => 4,
  );
  return {
    status: reply[0] as CheckStatus,
    attemptsRemaining: Number(reply[1]),
    retryAfterMs: Number(reply[2]),
    ...(reply[3] === 1 ? { replayed: true } : {}),
  };
}
