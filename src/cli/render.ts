// What the CLI prints for people: gate tables, a promotion's or rollback's status as text, the
// workflow list and the ledger table. `--json` output bypasses all of it (see `print`).
import Table from 'cli-table3';
import pc from 'picocolors';
import type { GateResult, LockSpot, PromotionStatus, RollbackStatus } from '../domain';
import { describeThrottling } from '../gates/throttle';

/** `value` as JSON for machines (`--json`), else whatever `human` prints. */
export function print(json: boolean, value: unknown, human: () => void): void {
  if (json) process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  else human();
}

export function gateTable(results: GateResult[]): string {
  const table = new Table({
    head: ['gate', 'result', 'status', 'latency', 'tries', 'detail'],
    style: { head: [], border: [] },
    colWidths: [24, 8, 8, 9, 7, 60],
    wordWrap: true,
  });
  for (const r of results)
    table.push([
      r.name,
      r.pass ? pc.green('pass') : pc.red('fail'),
      r.status ?? '—',
      `${r.latencyMs} ms`,
      r.attempts,
      r.throttled ? `${describeThrottling(r.throttled)}; ${r.detail}` : r.detail,
    ]);
  return table.toString();
}

/** "approval pending (1/2 approvals)": only approvals count towards the minimum. */
export function approvalLine(approval: PromotionStatus['approval']): string {
  return `approval ${approval.state} (${approval.decisions.filter((d) => d.decision === 'approve').length}/${approval.minApprovals} approvals)`;
}

/** "6/6 passed" or "4/6 passed; failed: db_health 503, chat_happy no answer" */
function gateSummary(results: GateResult[]): string {
  const failed = results.filter((r) => !r.pass).map((r) => `${r.name} ${r.status ?? 'no answer'}`);
  const passed = `${results.length - failed.length}/${results.length} passed`;
  return failed.length ? `${passed}; ${pc.red(`failed: ${failed.join(', ')}`)}` : pc.green(passed);
}

/** "waiting for staging service http://…:8080: 2nd in line, promotion-… runs now" */
function waitingLine(what: string, spot: LockSpot): string {
  const place = spot.position ? `#${spot.position} in line` : 'asking for a turn';
  const who = spot.holder
    ? `, ${spot.holder} holds it`
    : spot.availableAt
      ? `, free once the last run's rate window ends at ${spot.availableAt}`
      : '';
  return pc.yellow(`waiting for ${what}: ${place}${who}`);
}

/** The status as text; `compact` gives each gate set one line (the live view of `watch`). */
export function describeStatus(status: PromotionStatus | RollbackStatus, compact = false): string {
  const gates = (title: string, results: GateResult[]) =>
    compact ? [`${title}: ${gateSummary(results)}`] : [`${title}:`, gateTable(results)];
  const lines = [
    `${pc.bold(status.workflowId)}  ${status.releaseId ?? '(no release id)'}  stage ${pc.cyan(status.stage)}`,
  ];
  if ('commitSha' in status)
    lines.push(
      `commit ${status.commitSha}  class ${status.changeClass}  environment ${status.environment}  operator ${status.operator}`,
    );
  if (status.stage === 'waiting_for_staging' && 'stagingTurn' in status && status.stagingTurn)
    lines.push(waitingLine(`staging service ${status.stagingTurn.service}`, status.stagingTurn));
  if (status.stage === 'waiting_for_lock' && status.lock)
    lines.push(waitingLine(`target ${status.lock.target}`, status.lock));
  if ('gates' in status && status.gates.length) lines.push(...gates('staging gates', status.gates));
  if ('approval' in status && status.approval.required) lines.push(approvalLine(status.approval));
  if ('prodVerification' in status && status.prodVerification.length)
    lines.push(...gates('production verification', status.prodVerification));
  if ('verification' in status && status.verification.length)
    lines.push(...gates('post-rollback verification', status.verification));
  if ('rollback' in status && status.rollback)
    lines.push(
      `rollback ${status.rollback.releaseId ?? status.rollback.workflowId ?? '(nothing to roll back to)'}: ${status.rollback.result ?? 'running'}`,
    );
  if (status.failure) lines.push(pc.red(`${status.failure.type}: ${status.failure.message}`));
  if (status.ledgerChainHead) lines.push(`ledger chain head ${status.ledgerChainHead}`);
  return lines.join('\n');
}

/** A row of `release-promoter list`: one promotion or rollback, from its search attributes. */
export interface WorkflowRow {
  workflowId: string;
  type: string;
  status: string;
  releaseId?: unknown;
  stage?: unknown;
  commit?: unknown;
  started: string;
}

export function workflowTable(rows: WorkflowRow[]): string {
  const table = new Table({
    head: ['workflow id', 'release id', 'stage', 'commit', 'started'],
    style: { head: [], border: [] },
  });
  for (const r of rows)
    table.push([
      String(r.workflowId),
      String(r.releaseId ?? ''),
      String(r.stage ?? ''),
      String(r.commit ?? '').slice(0, 12),
      String(r.started),
    ]);
  return table.toString();
}

/** A row of `release-promoter ledger show`: one entry's fields as text. */
export interface LedgerRow {
  releaseId: string;
  type?: string;
  environment?: string;
  commit?: string;
  result?: string;
  operator?: string;
  notes?: string;
}

export function ledgerTable(rows: LedgerRow[]): string {
  const table = new Table({
    head: ['release id', 'type', 'env', 'commit', 'result', 'operator', 'notes'],
    style: { head: [], border: [] },
    colWidths: [20, 11, 12, 18, 11, 16, 50],
    wordWrap: true,
  });
  for (const r of rows)
    table.push([
      r.releaseId,
      r.type ?? '',
      r.environment ?? '',
      (r.commit ?? '').slice(0, 16),
      r.result === 'pass' || r.result === 'completed' ? pc.green(r.result) : pc.red(r.result ?? ''),
      r.operator ?? '',
      r.notes ?? '',
    ]);
  return table.toString();
}
