// What the CLI prints for people: gate tables, a promotion's or rollback's status as text, the
// workflow list, the ledger table and the release history. `--json` output bypasses all of it
// (see `print`). Tables are aligned columns with one rule under the heading, never JSON in a
// cell, and fitted to the terminal: the widest free-text column is cut with "…" (see renderTable).
import pc from 'picocolors';
import type { ApprovalDecision, GateResult, LockSpot, PromotionStatus, RollbackStatus } from '../domain';
import { durationText } from '../domain/fields';
import { WORKING_STAGES } from '../domain/status';
import { describeThrottling } from '../gates/throttle';

/** `value` as JSON for machines (`--json`), else whatever `human` prints. */
export function print(json: boolean, value: unknown, human: () => void): void {
  if (json) process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  else human();
}

// ---------------------------------------------------------------------------------------------
// Tables

export interface Column {
  head: string;
  /** Free text that may be cut with "…" to fit the width (the widest such column goes first). */
  flex?: boolean;
  /** Where a cut goes: the end (free text), or the middle (an id, whose start and end both tell). */
  cut?: 'end' | 'middle';
  align?: 'left' | 'right';
  /** Colours a cell's text once it is cut and before it is padded (padding counts the plain text). */
  paint?: (text: string) => string;
}
/** A cell: one line, or several (the row then spans them; the other columns stay blank below). */
export type Cell = string | string[];

const GAP = '  ';
/** A flexible column is never cut narrower than this (or its heading, or its content). */
const MIN_FLEX_WIDTH = 12;

/**
 * The width tables are fitted to: the terminal's columns when stdout is a terminal; none when it
 * is a pipe or a file, so `| grep`, `| less -S` and a saved log keep every value whole (a pipe
 * has no width to fit, and a cut value cannot be recovered; scripts should use --json).
 */
export function terminalWidth(): number | undefined {
  return process.stdout.isTTY ? process.stdout.columns || 80 : undefined;
}

// eslint-disable-next-line no-control-regex -- control characters would break the row or move the cursor
const CONTROL_RUN = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g;

/** One printable line: line breaks, tabs and escapes become one space each run. */
export function oneLine(text: string): string {
  return text.replace(CONTROL_RUN, ' ').trim();
}

const visible = (text: string): number => [...text].length;

/** `text` cut to `width` characters with "…" where something was cut: at the end, or in the middle. */
export function truncate(text: string, width: number, where: 'end' | 'middle' = 'end'): string {
  const chars = [...text];
  if (chars.length <= width) return text;
  if (width <= 1) return '…'.slice(0, width);
  if (where === 'middle') {
    const tail = Math.floor((width - 1) / 2);
    return `${chars.slice(0, width - 1 - tail).join('')}…${chars.slice(chars.length - tail).join('')}`;
  }
  return `${chars.slice(0, width - 1).join('')}…`;
}

/** Column widths that fit `width`: the widest flexible column is narrowed first, one at a time. */
function fitWidths(columns: Column[], natural: number[], width: number | undefined): number[] {
  const widths = [...natural];
  if (width === undefined) return widths;
  const total = () => widths.reduce((a, b) => a + b, 0) + GAP.length * (widths.length - 1);
  const floor = columns.map((c, i) => Math.min(natural[i] as number, Math.max(MIN_FLEX_WIDTH, c.head.length)));
  while (total() > width) {
    let widest = -1;
    for (let i = 0; i < columns.length; i++)
      if (columns[i]?.flex && (widths[i] as number) > (floor[i] as number))
        if (widest === -1 || (widths[i] as number) > (widths[widest] as number)) widest = i;
    if (widest === -1) break; // nothing left to narrow: the terminal wraps what remains
    widths[widest] = (widths[widest] as number) - 1;
  }
  return widths;
}

/**
 * Aligned columns: the heading, one rule under it, then one line per row (more for a cell of
 * several lines), no rule between rows and no trailing spaces. With `width` (default: the
 * terminal's, see terminalWidth) flexible columns are cut with "…" until the table fits.
 */
export function renderTable(columns: Column[], rows: Cell[][], width: number | undefined = terminalWidth()): string {
  const cells = rows.map((row) =>
    columns.map((_, i) => {
      const cell = row[i] ?? '';
      const lines = (Array.isArray(cell) ? cell : [cell]).map(oneLine);
      return lines.length ? lines : [''];
    }),
  );
  const natural = columns.map((c, i) =>
    Math.max(visible(c.head), ...cells.map((row) => Math.max(...(row[i] as string[]).map(visible)))),
  );
  const widths = fitWidths(columns, natural, width);
  let anyCut = false;
  const line = (texts: string[], paint: boolean) =>
    texts
      .map((text, i) => {
        const column = columns[i] as Column;
        const w = widths[i] as number;
        const cut = truncate(text, w, column.cut);
        if (cut !== text) anyCut = true;
        const pad = ' '.repeat(Math.max(0, w - visible(cut)));
        const shown = paint && column.paint && cut ? column.paint(cut) : cut;
        return column.align === 'right' ? `${pad}${shown}` : `${shown}${pad}`;
      })
      .join(GAP)
      .trimEnd();
  const out = [
    pc.bold(
      line(
        columns.map((c) => c.head),
        false,
      ),
    ),
    line(
      widths.map((w) => '─'.repeat(w)),
      false,
    ),
  ];
  for (const row of cells) {
    const height = Math.max(...row.map((lines) => lines.length));
    for (let k = 0; k < height; k++)
      out.push(
        line(
          row.map((lines) => lines[k] ?? ''),
          true,
        ),
      );
  }
  if (anyCut) out.push(pc.dim(`(cut to fit ${width} columns; pipe the output or use --json for whole values)`));
  return out.join('\n');
}

const verdict = (text: string): string =>
  text === 'pass' || text === 'completed' || text === 'promoted' || text === 'rolled_back'
    ? pc.green(text)
    : pc.red(text);

export function gateTable(results: GateResult[]): string {
  return renderTable(
    [
      { head: 'gate' },
      { head: 'result', paint: verdict },
      { head: 'status', align: 'right' },
      { head: 'latency', align: 'right' },
      { head: 'tries', align: 'right' },
      { head: 'detail', flex: true },
    ],
    results.map((r) => [
      r.name,
      r.pass ? 'pass' : 'fail',
      r.status === undefined ? '—' : String(r.status),
      `${r.latencyMs} ms`,
      String(r.attempts),
      readableDetail(r.throttled ? `${describeThrottling(r.throttled)}; ${r.detail}` : r.detail),
    ]),
  );
}

/** A JSON value as `key: value, …` (nested keys dotted), for a person; undefined when it is not an object or array. */
function flatJson(value: unknown, prefix = ''): string[] {
  if (Array.isArray(value))
    return value.length
      ? value.flatMap((v, i) => flatJson(v, `${prefix}[${i}]`))
      : [prefix ? `${prefix}: []` : '(empty list)'];
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (!entries.length) return [prefix ? `${prefix}: {}` : '(empty object)'];
    return entries.flatMap(([k, v]) => flatJson(v, prefix ? `${prefix}.${k}` : k));
  }
  return [`${prefix}: ${typeof value === 'string' ? value : JSON.stringify(value)}`];
}

/**
 * A gate's detail with the answer's JSON body (the whole detail, or what follows "body: ") read
 * out as `key: value` pairs; a body cut short by the excerpt, or no JSON, stays as it is.
 */
export function readableDetail(detail: string): string {
  const at = /^[[{]/.test(detail) ? 0 : detail.indexOf('body: ') === -1 ? -1 : detail.indexOf('body: ') + 6;
  if (at === -1 || !/^[[{]/.test(detail.slice(at))) return detail;
  try {
    const parsed: unknown = JSON.parse(detail.slice(at));
    return `${detail.slice(0, at)}${flatJson(parsed).join(', ')}`;
  } catch {
    return detail;
  }
}

// ---------------------------------------------------------------------------------------------
// Times

/** "2026-12-02 03:10:11 UTC" (seconds dropped with `minutes`); the text itself when it is no time. */
export function utcTime(iso: string | Date | undefined, minutes = false): string {
  if (iso === undefined) return '';
  const date = iso instanceof Date ? iso : new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return `${date
    .toISOString()
    .slice(0, minutes ? 16 : 19)
    .replace('T', ' ')} UTC`;
}

/** How long `ms` is, in its largest whole unit: "12s", "3m", "2h", "5d". */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** How long ago `since` was: "3m", "2h", "5d". */
export function age(since: Date | string, now = Date.now()): string {
  return duration(now - new Date(since).getTime());
}

// ---------------------------------------------------------------------------------------------
// Status

/** "approval pending (1/2 approvals)": only approvals count towards the minimum. */
export function approvalLine(approval: PromotionStatus['approval']): string {
  return `approval ${approval.state} (${approval.decisions.filter((d) => d.decision === 'approve').length}/${approval.minApprovals} approvals)`;
}

/** `bob at 2026-12-02 03:10:11 UTC: "ship it"` (a rejection's reason the same way). */
function decisionLine(d: ApprovalDecision): string {
  const said = d.decision === 'approve' ? d.comment : d.reason;
  return `${d.decision === 'approve' ? 'approved' : 'rejected'} by ${d.approver} at ${utcTime(d.at)}${said ? `: ${JSON.stringify(oneLine(said))}` : ''}`;
}

/**
 * The approval as a person needs it: who decided, when and what they said; while it waits, who
 * may approve, how many are still needed, until when, and the commands. `open` is false once the
 * workflow has closed: then nothing is offered that could no longer count.
 */
export function approvalBlock(status: PromotionStatus, open = true): string[] {
  const { approval } = status;
  const approved = approval.decisions.filter((d) => d.decision === 'approve').length;
  const pending = approval.state === 'pending';
  const lines = [
    pending && !open
      ? `approval still pending when the workflow ended (${approved}/${approval.minApprovals} approvals)`
      : approvalLine(approval),
  ];
  for (const d of approval.decisions) lines.push(`  ${decisionLine(d)}`);
  if (pending && open) {
    const needed = Math.max(0, approval.minApprovals - approved);
    const who = approval.approvers?.length
      ? approval.approvers.join(', ')
      : `anyone but the operator (${status.operator})`;
    lines.push(`  ${needed} more approval${needed === 1 ? '' : 's'} needed from ${who}`);
    if (approval.deadline) {
      const left = new Date(approval.deadline).getTime() - Date.now();
      const when = Number.isNaN(left) ? '' : left > 0 ? ` (in ${duration(left)})` : ' (passed)';
      lines.push(`  deadline ${utcTime(approval.deadline)}${when}`);
    }
    lines.push(`  approve: release-promoter approve ${status.workflowId} [--comment <text>]`);
    lines.push(`  reject:  release-promoter reject ${status.workflowId} --reason <text>`);
  }
  const ignored = approval.ignoredCount ?? approval.ignored.length;
  if (ignored) {
    const latest = approval.ignored.map((d) => `${d.approver} (${oneLine(d.why)})`).join('; ');
    lines.push(`  ${ignored} decision${ignored === 1 ? '' : 's'} ignored${latest ? `: ${latest}` : ''}`);
  }
  return lines;
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

/**
 * How a workflow's execution closed, when it did so other than by its own code's ending (or to
 * say which): from the history's closing event. `how` is what the CLI shows as its stage.
 */
export interface ClosedExecution {
  how: 'completed' | 'failed' | 'terminated' | 'timed out' | 'cancelled';
  /** When it closed (the closing event's time, ISO). */
  at?: string;
  /** Who closed it: the terminating or cancelling client's identity. */
  by?: string;
  reason?: string;
}

/** Whether the workflow's code never got to say how it ended: its last stage was a working one. */
export function endedMidway(stage: string | undefined): boolean {
  return stage === undefined || (WORKING_STAGES as readonly string[]).includes(stage);
}

/** "terminated at 2026-12-02 03:10:11 UTC by oncall-carol: wrong commit" */
export function closedLine(closed: ClosedExecution): string {
  return `${closed.how}${closed.at ? ` at ${utcTime(closed.at)}` : ''}${closed.by ? ` by ${closed.by}` : ''}${
    closed.reason ? `: ${oneLine(closed.reason)}` : ''
  }`;
}

/**
 * The status as text; `compact` gives each gate set one line (the live view of `watch`). With
 * `closed` (the execution ended without the workflow reaching a terminal stage: terminated,
 * timed out, cancelled) the stage shown is that, with who and when, never the working stage it
 * was in, and nothing is offered that could no longer act.
 */
export function describeStatus(
  status: PromotionStatus | RollbackStatus,
  compact = false,
  closed?: ClosedExecution,
): string {
  const gates = (title: string, results: GateResult[]) =>
    compact ? [`${title}: ${gateSummary(results)}`] : [`${title}:`, gateTable(results)];
  const cut = closed !== undefined && endedMidway(status.stage);
  const stage = cut ? pc.red(closed.how) : pc.cyan(status.stage);
  const lines = [`${pc.bold(status.workflowId)}  ${status.releaseId ?? '(no release id)'}  stage ${stage}`];
  if (cut) {
    lines.push(pc.red(closedLine(closed)));
    lines.push(`its last stage was ${status.stage}; the workflow no longer runs, so nothing more will happen`);
  }
  if ('commitSha' in status)
    lines.push(
      `commit ${status.commitSha}  class ${status.changeClass}  environment ${status.environment}  operator ${status.operator}`,
    );
  else
    lines.push(
      `from ${status.fromSha.slice(0, 12)} to ${status.toSha.slice(0, 12)}  environment ${status.environment}  operator ${status.operator}  trigger ${JSON.stringify(oneLine(status.trigger))}`,
    );
  if (!cut && status.stage === 'waiting_for_staging' && 'stagingTurn' in status && status.stagingTurn)
    lines.push(waitingLine(`staging service ${status.stagingTurn.service}`, status.stagingTurn));
  if (!cut && status.stage === 'waiting_for_lock' && status.lock)
    lines.push(waitingLine(`target ${status.lock.target}`, status.lock));
  if ('gates' in status && status.gates.length) lines.push(...gates('staging gates', status.gates));
  if ('approval' in status && status.approval.required) lines.push(...approvalBlock(status, !cut));
  if ('prodVerification' in status && status.prodVerification.length)
    lines.push(...gates('production verification', status.prodVerification));
  if ('soak' in status && status.soak) {
    const k = status.soak;
    lines.push(
      `soak ${durationText(k.durationMs)} every ${durationText(k.intervalMs)}: ${k.runs} run${k.runs === 1 ? '' : 's'}, failures: ${k.failures || 'none'}${k.leftMs > 0 ? `, ${durationText(k.leftMs)} left (ends ${utcTime(k.endsAt)})` : ''}${k.endedBy ? `; ended by ${k.endedBy.releaseId ?? k.endedBy.workflowId}` : ''}`,
    );
  }
  if ('freeze' in status && status.freeze?.met) {
    const f = status.freeze.active ?? status.freeze.met;
    lines.push(
      `freeze ${JSON.stringify(f.reason)} (${f.rule}) until ${utcTime(f.endsAt)}${status.freeze.overridden ? ': overridden by break-glass' : status.freeze.active ? (status.freeze.deadline ? `; waits at most until ${utcTime(status.freeze.deadline)}` : '') : ': over'}`,
    );
  }
  if ('breakGlass' in status && status.breakGlass)
    lines.push(
      `break-glass ${JSON.stringify(status.breakGlass.reason)}: ${status.breakGlass.state}, ${status.breakGlass.decisions.length} of ${status.breakGlass.minApprovals} from ${status.breakGlass.approvers?.join(', ')}`,
    );
  if ('supersededBy' in status && status.supersededBy)
    lines.push(`superseded by ${status.supersededBy.releaseId ?? '(no id)'} (${status.supersededBy.operator})`);
  if ('dryRun' in status && status.dryRun) lines.push('dry run:', ...status.dryRun.verdicts.map((v) => `  ${v}`));
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

// ---------------------------------------------------------------------------------------------
// Lists

/** A row of `release-promoter list`: one promotion or rollback, from visibility (see promotions.ts). */
export interface WorkflowRow {
  workflowId: string;
  runId: string;
  /** promotion or rollback */
  kind: string;
  releaseId?: string;
  environment?: string;
  changeClass?: string;
  operator?: string;
  /** What to show as the stage: the ReleaseStage, or how it closed when that stage was a working one. */
  stage: string;
  /** The ReleaseStage search attribute as the workflow last set it. */
  releaseStage?: string;
  /** Temporal's execution status, lowercase ("running", "terminated", "timed out", …). */
  executionStatus: string;
  commit?: string;
  startTime: string;
  closeTime?: string;
}

export function workflowTable(rows: WorkflowRow[], now = Date.now()): string {
  return renderTable(
    [
      { head: 'workflow id', flex: true, cut: 'middle' },
      { head: 'release id' },
      { head: 'env' },
      { head: 'class' },
      { head: 'operator', flex: true },
      { head: 'stage', paint: (s) => (endedMidway(s) ? pc.cyan(s) : verdict(s)) },
      { head: 'status' },
      { head: 'commit' },
      { head: 'age', align: 'right' },
    ],
    rows.map((r) => [
      r.workflowId,
      r.releaseId ?? '',
      r.environment ?? '',
      r.changeClass ?? '',
      r.operator ?? '',
      r.stage,
      r.executionStatus === 'running' ? '' : r.executionStatus,
      (r.commit ?? '').slice(0, 12),
      age(r.startTime, now),
    ]),
  );
}

// ---------------------------------------------------------------------------------------------
// Ledger

/** An entry's `approvals` item as written (entry-content.ts): `bob: approved at <ISO> "comment"`. */
export interface LedgerApproval {
  approver: string;
  at?: string;
  comment?: string;
  /** The item as written, when it is not in that form (a hand-written entry). */
  text?: string;
}

export function parseLedgerApproval(item: string): LedgerApproval {
  const m = /^([^\s:]+): approved at (\S+)(?: (".*"))?$/.exec(item);
  if (!m) return { approver: item.split(':')[0] ?? item, text: item };
  let comment: string | undefined;
  try {
    comment = m[3] === undefined ? undefined : (JSON.parse(m[3]) as string);
  } catch {
    comment = m[3];
  }
  return { approver: m[1] as string, at: m[2], ...(comment === undefined ? {} : { comment }) };
}

/** `bob 2026-12-02 03:10 UTC "lgtm"` */
export function ledgerApprovalText(a: LedgerApproval): string {
  if (a.text !== undefined) return a.text;
  return `${a.approver}${a.at ? ` ${utcTime(a.at, true)}` : ''}${a.comment ? ` ${JSON.stringify(oneLine(a.comment))}` : ''}`;
}

/** A row of `release-promoter ledger show`: one entry's fields as text. */
export interface LedgerRow {
  releaseId: string;
  type?: string;
  environment?: string;
  commit?: string;
  result?: string;
  operator?: string;
  /** The entry's `approvals` items as written. */
  approvals: string[];
  notes?: string;
}

export function ledgerTable(rows: LedgerRow[]): string {
  return renderTable(
    [
      { head: 'release id' },
      { head: 'type' },
      { head: 'env' },
      { head: 'commit' },
      { head: 'result', paint: verdict },
      { head: 'operator' },
      { head: 'approvals', flex: true },
      { head: 'notes', flex: true },
    ],
    rows.map((r) => [
      r.releaseId,
      r.type ?? '',
      r.environment ?? '',
      (r.commit ?? '').slice(0, 16),
      r.result ?? '',
      r.operator ?? '',
      r.approvals.length ? r.approvals.map((a) => ledgerApprovalText(parseLedgerApproval(a))).join('; ') : '—',
      r.notes ?? '',
    ]),
  );
}
