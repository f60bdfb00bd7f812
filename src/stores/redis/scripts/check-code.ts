import type { AuditContext } from '../../../domain/audit/audit.js';
import type { SendWindow } from '../../../domain/limits/send-window.js';
import type { WindowsVerdict } from '../../../domain/limits/windows.js';
import type { CheckResult, CheckStatus } from '../../../domain/store.js';
import { windowArgs, type ScriptArg, type ScriptRunner } from './runner.js';

/**
 * The client IP's check limit as check-code.lua takes it: none, its log decided in this script (one
 * node, Sentinel), or its verdict decided in the log's own slot first (Cluster).
 */
export type IpCheckLimit =
  | undefined
  | { readonly key: string; readonly windows: readonly SendWindow[] }
  | { readonly verdict: WindowsVerdict };

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
    readonly ipChecks: IpCheckLimit;
  },
): Promise<CheckResult> {
  const ip = args.ipChecks;
  const ipArgs: ScriptArg[] =
    ip === undefined ? ['0'] : 'key' in ip ? ['1', ...windowArgs(ip.windows)] : ['2', ip.verdict.refused ?? -1, ip.verdict.retryAfterMs];
  const reply = await runner.run(
    'check-code',
    [args.codeKey, args.failuresKey, args.verificationsKey, args.checksKey, ...(ip && 'key' in ip ? [ip.key] : [])],
    context,
    [
      args.codeHash,
      args.maxAttempts,
      args.checkId,
      args.verificationId ?? '',
      args.idempotencyKey ?? '',
      args.retentionMs,
      ...windowArgs(args.failureLimits),
      ...ipArgs,
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
