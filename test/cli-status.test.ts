// `status`, `list`, `ledger show` as a user runs them (a real CLI process against the real dev
// server, worker, sample services and git repo): a closed workflow never shows a working stage,
// approvals say who, when and what, a pending approval says who may approve, until when and how.
import { spawn } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { Client, WorkflowHandle } from '@temporalio/client';
import { decideUpdate, statusQuery } from '../src/workflows/messages';
import { BIN, CliRun, runCli } from './cli-process';
import { harnessCliEnv, useCliHarness } from './cli-harness';
import { Harness, waitForStage } from './helpers';

const suite = useCliHarness();
let h: Harness;
beforeAll(() => {
  h = suite.current();
});

function cliEnv(identity = 'alice'): NodeJS.ProcessEnv {
  return harnessCliEnv(h, { RELEASE_PROMOTER_IDENTITY: identity });
}

function cli(args: string[], identity = 'alice'): Promise<CliRun> {
  return runCli(args, cliEnv(identity));
}

/**
 * The CLI on a real pseudo-terminal `columns` wide (util-linux `script`; `stty` sizes it). The
 * arguments are ours, no user input, so the command line `script` hands its shell is safe.
 */
function cliOnTerminal(args: string[], columns: number): Promise<string> {
  const command = `stty cols ${columns} rows 50; ${[process.execPath, BIN, ...args].join(' ')}`;
  const child = spawn('script', ['--quiet', '--return', '--command', command, '/dev/null'], { env: cliEnv() });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  return new Promise((resolve) => child.on('close', () => resolve(output.replace(/\r/g, ''))));
}

/** "2026-12-02 03:10:11 UTC", as the CLI prints a time. */
const utc = (iso: string | Date, minutes = false) =>
  `${new Date(iso)
    .toISOString()
    .slice(0, minutes ? 16 : 19)
    .replace('T', ' ')} UTC`;

interface ListRow {
  workflowId: string;
  stage: string;
  releaseStage?: string;
  executionStatus: string;
  environment?: string;
  changeClass?: string;
  operator?: string;
  commit?: string;
  releaseId?: string;
}

async function listJson(args: string[]): Promise<ListRow[]> {
  const run = await cli(['list', '--json', '--limit', '200', ...args]);
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as ListRow[];
}

/** Visibility is eventually consistent: list until `ok` holds of the rows (or give up after ~15 s). */
async function listUntil(args: string[], ok: (rows: ListRow[]) => boolean): Promise<ListRow[]> {
  let rows: ListRow[] = [];
  for (let i = 0; i < 30; i++) {
    rows = await listJson(args);
    if (ok(rows)) return rows;
    await delay(500);
  }
  return rows;
}

const decide = (handle: WorkflowHandle, approver: string, more: Record<string, string>) =>
  handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', approver, ...more } as never] });

test('a terminated promotion says terminated, by whom, when and why in status (exit 1) and list, and leaves list --stage awaiting_approval', async () => {
  const sha = await h.repo.commit('feature: to be terminated');
  const handle = await h.start(
    h.request(sha, { changeClass: 'B', approval: { approvers: ['bob', 'erin'], minApprovals: 2 } }),
  );
  await waitForStage(handle, 'awaiting_approval');
  await decide(handle, 'bob', { comment: 'half of it' });
  const waiting = await handle.query(statusQuery);

  // While it waits: who decided, who still may, how many more, until when, and the commands.
  const pending = await cli(['status', handle.workflowId]);
  expect(pending.code).toBe(0);
  expect(pending.stdout).toContain(`${handle.workflowId}  ${waiting.releaseId}  stage awaiting_approval`);
  expect(pending.stdout).toContain('approval pending (1/2 approvals)');
  // The gates' JSON answers are read out as key: value, not pasted into the cells.
  expect(pending.stdout).toMatch(/^db_health\s+pass\s+200\s+\d+ ms\s+1\s+status: ok$/m);
  expect(pending.stdout).not.toContain('{"');
  const bob = waiting.approval.decisions[0];
  expect(pending.stdout).toContain(`approved by bob at ${utc(bob?.at as string)}: "half of it"`);
  expect(pending.stdout).toContain('1 more approval needed from bob, erin');
  expect(pending.stdout).toContain(`approve: release-promoter approve ${handle.workflowId}`);
  expect(pending.stdout).toContain(`reject:  release-promoter reject ${handle.workflowId} --reason`);
  // approval.deadline is being added to the workflow's status; the CLI renders it once it is there.
  if (waiting.approval.deadline) expect(pending.stdout).toContain(`deadline ${utc(waiting.approval.deadline)}`);
  else expect(pending.stdout).not.toContain('deadline');

  await listUntil(['--stage', 'awaiting_approval'], (rows) => rows.some((r) => r.workflowId === handle.workflowId));
  const before = await listJson(['--stage', 'awaiting_approval']);
  expect(before.find((r) => r.workflowId === handle.workflowId)).toMatchObject({
    stage: 'awaiting_approval',
    executionStatus: 'running',
  });

  // Terminated by a client with its own identity, with a reason.
  const oncall = new Client({ connection: h.env.connection, identity: 'oncall-carol' });
  await oncall.workflow.getHandle(handle.workflowId).terminate('wrong commit, start over');
  const closeTime = (await handle.describe()).closeTime as Date;

  const status = await cli(['status', handle.workflowId]);
  expect(status.code).toBe(1);
  expect(status.stdout).toContain(`${handle.workflowId}  ${waiting.releaseId}  stage terminated`);
  expect(status.stdout).not.toContain('stage awaiting_approval');
  expect(status.stdout).toContain(`terminated at ${utc(closeTime)} by oncall-carol: wrong commit, start over`);
  expect(status.stdout).toContain('its last stage was awaiting_approval');
  // Nothing is offered that could no longer count; what was decided stays.
  expect(status.stdout).not.toContain('release-promoter approve');
  expect(status.stdout).not.toContain('more approval needed');
  expect(status.stdout).toContain('approval still pending when the workflow ended (1/2 approvals)');
  expect(status.stdout).toContain('approved by bob at');
  // watch of a workflow that is closed already says the same, and exits the same.
  const watch = await cli(['watch', handle.workflowId]);
  expect(watch.code).toBe(1);
  expect(watch.stdout).toContain(`terminated at ${utc(closeTime)} by oncall-carol: wrong commit, start over`);
  const json = JSON.parse((await cli(['status', handle.workflowId, '--json'])).stdout) as {
    stage: string;
    execution: { how: string; by?: string; reason?: string; at?: string };
  };
  expect(json.execution).toEqual({
    how: 'terminated',
    by: 'oncall-carol',
    reason: 'wrong commit, start over',
    at: closeTime.toISOString(),
  });

  const gone = await listUntil(
    ['--stage', 'awaiting_approval'],
    (rows) => !rows.some((r) => r.workflowId === handle.workflowId),
  );
  expect(gone.map((r) => r.workflowId)).not.toContain(handle.workflowId);
  const all = await listUntil([], (rows) =>
    rows.some((r) => r.workflowId === handle.workflowId && r.executionStatus === 'terminated'),
  );
  expect(all.find((r) => r.workflowId === handle.workflowId)).toMatchObject({
    stage: 'terminated',
    releaseStage: 'awaiting_approval',
    executionStatus: 'terminated',
    operator: 'alice',
    changeClass: 'B',
    environment: 'production',
  });
  const table = await cli(['list', '--limit', '200']);
  const line = table.stdout.split('\n').find((l) => l.startsWith(`${handle.workflowId} `));
  expect(line).toMatch(/\s+alice\s+terminated\s+terminated\s+/);
  expect(line).not.toContain('awaiting_approval');
});

test('list shows id, release, environment, class, operator, honest stage, status when closed, commit and age; no rules or JSON in cells', async () => {
  const sha = await h.repo.commit('feature: listed');
  const handle = await h.start(h.request(sha, { operator: 'dave' }));
  const result = await handle.result();
  expect(result.stage).toBe('promoted');
  const rows = await listUntil([], (r) => r.some((x) => x.workflowId === handle.workflowId && x.stage === 'promoted'));
  expect(rows.find((r) => r.workflowId === handle.workflowId)).toEqual(
    expect.objectContaining({
      releaseId: result.releaseId,
      environment: 'production',
      changeClass: 'A',
      operator: 'dave',
      stage: 'promoted',
      executionStatus: 'completed',
      commit: sha,
    }),
  );
  const run = await cli(['list', '--limit', '200']);
  expect(run.code).toBe(0);
  const lines = run.stdout.split('\n');
  expect(lines[0]).toMatch(/^workflow id\s+release id\s+env\s+class\s+operator\s+stage\s+status\s+commit\s+age$/);
  expect(lines[1]).toMatch(/^[─ ]+$/);
  const line = lines.find((l) => l.startsWith(`${handle.workflowId} `)) as string;
  expect(line).toMatch(
    new RegExp(
      `${result.releaseId}\\s+production\\s+A\\s+dave\\s+promoted\\s+completed\\s+${sha.slice(0, 12)}\\s+\\d+[smhd]$`,
    ),
  );
  // One rule under the heading, none between rows; no box drawing, no JSON in a cell.
  expect(lines.slice(2).join('\n')).not.toMatch(/[─│┼├┤┌┐└┘{}]/);
  // Piped: no width limit, so the whole workflow id is there even when it is long.
  expect(lines.every((l) => !l.includes('…'))).toBe(true);

  const one = await cli(['list', '--json', '--limit', '1']);
  expect((JSON.parse(one.stdout) as unknown[]).length).toBe(1);
  const prodOnly = await listJson(['--environment', 'no-such-env']);
  expect(prodOnly).toEqual([]);
});

test('list --stage bogus and --limit abc / 0 are usage errors (exit 2) naming the valid stages and --limit', async () => {
  const bogus = await cli(['list', '--stage', 'bogus']);
  expect(bogus.code).toBe(2);
  expect(bogus.stdout).toBe('');
  expect(bogus.stderr).toContain("option '--stage <stage>' argument 'bogus' is invalid");
  for (const stage of ['awaiting_approval', 'waiting_for_lock', 'promoted', 'rolled_back', 'gates_failed'])
    expect(bogus.stderr).toContain(stage);
  for (const limit of ['abc', '0', '-3', '1.5']) {
    const run = await cli(['list', '--limit', limit]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`option '--limit <n>' argument '${limit}' is invalid`);
    expect(run.stderr).toContain('must be a whole number');
  }
  // A quote cannot reach the visibility query either.
  const quoted = await cli(['list', '--stage', "promoted' OR ''='"]);
  expect(quoted.code).toBe(2);
});

test('approvals show who, when and the comment in status, watch and ledger show; a pending one with no list says anyone but the operator', async () => {
  const sha = await h.repo.commit('feature: approved with a comment');
  const handle = await h.start(h.request(sha, { changeClass: 'B' }));
  await waitForStage(handle, 'awaiting_approval');
  const pending = await cli(['status', handle.workflowId]);
  expect(pending.stdout).toContain('approval pending (0/1 approvals)');
  expect(pending.stdout).toContain('1 more approval needed from anyone but the operator (alice)');
  expect(pending.stdout).toContain(`approve: release-promoter approve ${handle.workflowId}`);

  await decide(handle, 'bob', { comment: 'ship it' });
  const final = await handle.result();
  expect(final.stage).toBe('promoted');
  const at = final.approval.decisions[0]?.at as string;

  const status = await cli(['status', handle.workflowId]);
  expect(status.code).toBe(0);
  expect(status.stdout).toContain('stage promoted');
  expect(status.stdout).toContain('approval approved (1/1 approvals)');
  expect(status.stdout).toContain(`approved by bob at ${utc(at)}: "ship it"`);
  expect(status.stdout).not.toContain('release-promoter approve');

  const watch = await cli(['watch', handle.workflowId]);
  expect(watch.code).toBe(0);
  expect(watch.stdout).toContain(`approved by bob at ${utc(at)}: "ship it"`);

  const show = await cli(['ledger', 'show']);
  expect(show.code).toBe(0);
  const lines = show.stdout.split('\n');
  expect(lines[0]).toMatch(/^release id\s+type\s+env\s+commit\s+result\s+operator\s+approvals\s+notes$/);
  const row = lines.find((l) => l.startsWith(`${final.releaseId} `)) as string;
  expect(row).toMatch(new RegExp(`\\s+pass\\s+alice\\s+bob ${utc(at, true)} "ship it"`));
  const rows = JSON.parse((await cli(['ledger', 'show', '--json'])).stdout) as Array<{
    releaseId: string;
    approvals: string[];
  }>;
  expect(rows.find((r) => r.releaseId === final.releaseId)?.approvals).toEqual([`bob: approved at ${at} "ship it"`]);
  // A promotion without approvals says so rather than leaving the cell blank.
  // (the class A promotion of the list test above had none)
  const classA = rows.find((r) => r.approvals.length === 0) as { releaseId: string };
  expect(lines.find((l) => l.startsWith(`${classA.releaseId} `))).toMatch(/\s(alice|dave)\s+—\s/);
});

test('a promotion that ended otherwise is exit 1 with the reason; no such workflow is exit 3', async () => {
  const sha = await h.repo.commit('feature: rejected');
  const handle = await h.start(h.request(sha, { changeClass: 'B' }));
  await waitForStage(handle, 'awaiting_approval');
  await handle.executeUpdate(decideUpdate, {
    args: [{ decision: 'reject', approver: 'carol', reason: 'freeze week' }],
  });
  await expect(handle.result()).rejects.toThrow();
  const status = await cli(['status', handle.workflowId]);
  expect(status.code).toBe(1);
  expect(status.stdout).toContain('stage rejected');
  expect(status.stdout).toMatch(/rejected by carol at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: "freeze week"/);
  expect(status.stdout).toContain('ApprovalRejected');

  const missing = await cli(['status', 'no-such-workflow-here']);
  expect(missing.code).toBe(3);
  expect(missing.stderr).toContain('no-such-workflow-here');
  const watchMissing = await cli(['watch', 'no-such-workflow-here']);
  expect(watchMissing.code).toBe(3);
});

test('on a terminal a table fits its width: the widest free-text column is cut with … (an id in the middle), and says so', async () => {
  const sha = await h.repo.commit('feature: a long workflow id');
  const workflowId = `promotion-production-${sha.slice(0, 7)}-with-a-rather-long-name-for-a-narrow-terminal`;
  expect((await (await h.start(h.request(sha), workflowId)).result()).stage).toBe('promoted');
  await listUntil([], (rows) => rows.some((r) => r.workflowId === workflowId && r.stage === 'promoted'));
  // Newest first: the rows of this test alone, so no other suite's long value is the widest column.
  const wide = (await cli(['list', '--limit', '2'])).stdout.split('\n');
  expect(Math.max(...wide.map((l) => l.length))).toBeGreaterThan(120);
  const output = await cliOnTerminal(['list', '--limit', '2'], 120);
  const lines = output.split('\n').filter(Boolean);
  expect(lines[0]).toMatch(/^workflow id\s+release id/);
  for (const line of lines) expect(line.length).toBeLessThanOrEqual(120);
  // Cut in the middle: the start and the end of the id are both still there.
  const row = lines.find((l) => l.startsWith('promotion-pro') && l.includes('…')) as string;
  expect(row).toMatch(/^promotion-pro\S*…\S*terminal\s/);
  expect(row).toMatch(/\s+promoted\s+completed\s+[0-9a-f]{12}\s+\d+[smhd]$/);
  expect(output).toContain('(cut to fit 120 columns; pipe the output or use --json for whole values)');
});
