import type { WindowsVerdict } from '../../../domain/limits/windows.js';
import type { AuditContext } from '../../../domain/audit/audit.js';
import type { LimitGroup, SendKind } from '../../../domain/store.js';
import { windowArgs, type ScriptRunner } from './runner.js';

/** reserve-send.lua (rules.ts judgeSend over the groups whose logs are in the phone's slot, plus verdicts decided elsewhere). */
export interface ReserveSendArgs {
  readonly kind: SendKind;
  readonly codeKey: string;
  readonly verificationsKey: string;
  /** The groups decided in this script, each with its send log's key. */
  readonly groups: ReadonlyArray<{ readonly group: LimitGroup; readonly key: string }>;
  /** Groups decided in their own slots (Cluster), numbered after `groups`. */
  readonly outside: ReadonlyArray<{ readonly group: LimitGroup; readonly verdict: WindowsVerdict }>;
  readonly sendId: string;
  readonly codeHash: string;
  readonly codeTtlMs: number;
  readonly keepMs: number;
  readonly maxAttempts: number;
  readonly retentionMs: number;
  /** The send id's index, written by the script if the send is reserved (one node, Sentinel); undefined on Cluster. */
  readonly index: { readonly key: string; readonly phone: string; readonly channel: string } | undefined;
}

export type ReserveSendReply =
  | { readonly ok: true; readonly sentAt: number; readonly expiresAt: number; readonly resendAt: number }
  /** `group` indexes `groups` then `outside`. */
  | { readonly ok: false; readonly group: number; readonly window: number; readonly retryAfterMs: number };

export async function reserveSend(runner: ScriptRunner, context: AuditContext, args: ReserveSendArgs): Promise<ReserveSendReply> {
  const reply = await runner.run(
    'reserve-send',
    [args.codeKey, args.verificationsKey, ...args.groups.map((g) => g.key), ...(args.index ? [args.index.key] : [])],
    context,
    [
      args.kind,
      args.sendId,
      args.codeHash,
      args.codeTtlMs,
      args.keepMs,
      args.maxAttempts,
      args.retentionMs,
      args.groups.length,
      ...args.groups.flatMap(({ group }) => [group.scope, ...windowArgs(group.windows)]),
      args.outside.length,
      ...args.outside.flatMap(({ group, verdict }) => {
        const refused = verdict.refused ?? -1;
        return [group.scope, refused, group.windows[refused]?.label ?? '', verdict.retryAfterMs];
      }),
      ...(args.index ? ['1', args.index.phone, args.index.channel] : ['0']),
    ],
    () => 4,
  );
  if (reply[0] === 1) return { ok: true, sentAt: Number(reply[1]), expiresAt: Number(reply[2]), resendAt: Number(reply[3]) };
  return { ok: false, group: Number(reply[1]), window: Number(reply[2]), retryAfterMs: Number(reply[3]) };
}
