import { flatten, type AuditContext, type AuditEvent } from '../../../domain/audit/audit.js';
import type { ScriptRunner } from './runner.js';

/** append-audit.lua: an event no decision carries (notice.*, a blocked number). */
export async function appendAudit(runner: ScriptRunner, context: AuditContext, event: AuditEvent): Promise<void> {
  await runner.append(context, flatten(event));
}
