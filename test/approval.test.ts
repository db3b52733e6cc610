// Human approval: signals and the decide update, the rules that make a decision count, timeout.
import { setTimeout as delay } from 'node:timers/promises';
import { WithStartWorkflowOperation, WorkflowHandle, WorkflowUpdateFailedError } from '@temporalio/client';
import type { PromotionStatus } from '../src/domain';
import { fieldText, parseLedger } from '../src/ledger/format';
import { promotionWorkflow } from '../src/workflows';
import { decideUpdate, statusQuery } from '../src/workflows/messages';
import { createHarness, failureOf, Harness, historyText, recordHistory, uniqueId, waitForStage } from './helpers';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

async function startAwaiting(
  overrides: Record<string, unknown> = {},
): Promise<{ handle: WorkflowHandle; sha: string; tipBefore: string | null }> {
  const tipBefore = await h.repo.tip('release');
  const sha = await h.repo.commit(`feature ${Math.random().toString(36).slice(2)}`);
  const handle = await h.start(h.request(sha, { changeClass: 'B', ...overrides }));
  await waitForStage(handle, 'awaiting_approval');
  return { handle, sha, tipBefore };
}

async function entryFor(releaseId: string | undefined) {
  return parseLedger(await h.ledger()).entries.find((e) => e.releaseId === releaseId);
}

test('class B waits for approval and an approval by someone else promotes it, recorded in the entry', async () => {
  const { handle, sha, tipBefore } = await startAwaiting({ approval: { approvers: ['bob', 'carol'] } });
  // Nothing is pushed while the promotion waits for a human.
  expect(await h.repo.tip('release')).toBe(tipBefore);
  await handle.signal('approve', { approver: 'bob', comment: 'looks good; api_key=sk_live_abcdef123456' });
  const status: PromotionStatus = await handle.result();
  await recordHistory(handle, 'promotion-approved');
  expect(status.stage).toBe('promoted');
  expect(status.approval.state).toBe('approved');
  expect(await h.repo.tip('release')).toBe(sha);
  const approvals = (await entryFor(status.releaseId))?.fields.get('approvals')?.value as string[];
  expect(approvals).toHaveLength(1);
  expect(approvals[0]).toMatch(/^bob: approved at \d{4}-\d\d-\d\dT.*api_key=\[REDACTED\]/);
  expect(await h.ledger()).not.toContain('sk_live_abcdef123456');
});

test('the operator cannot approve their own promotion; the decision is kept as ignored', async () => {
  const { handle } = await startAwaiting();
  const answer = await handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', approver: 'alice' }] });
  expect(answer.counted).toBe(false);
  expect(answer.why).toContain('cannot approve');
  const status = await handle.query(statusQuery);
  expect(status.stage).toBe('awaiting_approval');
  expect(status.approval.ignored.map((d) => d.approver)).toEqual(['alice']);
  await handle.signal('approve', { approver: 'bob' });
  expect((await handle.result()).stage).toBe('promoted');
});

test('an approver outside the list, a repeat and a wrong commitSha are ignored with their reasons', async () => {
  const { handle } = await startAwaiting({ approval: { approvers: ['bob', 'carol'], minApprovals: 2 } });
  const outsider = await handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', approver: 'dave' }] });
  expect(outsider).toMatchObject({ counted: false });
  expect(outsider.why).toContain('not an approver');
  const wrongSha = await handle.executeUpdate(decideUpdate, {
    args: [{ decision: 'approve', approver: 'bob', commitSha: 'deadbeef' }],
  });
  expect(wrongSha.why).toContain("not this promotion's commit");
  const first = await handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', approver: 'bob' }] });
  expect(first.counted).toBe(true);
  const repeat = await handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', approver: 'bob' }] });
  expect(repeat).toMatchObject({ counted: false, why: 'bob already decided' });
  // One distinct approval of two: still waiting.
  expect((await handle.query(statusQuery)).stage).toBe('awaiting_approval');
  const second = await handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', approver: 'carol' }] });
  expect(second.counted).toBe(true);
  const status: PromotionStatus = await handle.result();
  expect(status.stage).toBe('promoted');
  expect(status.approval.decisions.map((d) => d.approver)).toEqual(['bob', 'carol']);
  expect(status.approval.ignored.map((d) => d.why)).toEqual([
    expect.stringContaining('not an approver'),
    expect.stringContaining('commit'),
    'bob already decided',
  ]);
});

test('a rejection ends the promotion with ApprovalRejected and nothing pushed', async () => {
  const { handle, tipBefore } = await startAwaiting();
  await handle.signal('reject', { approver: 'carol', reason: 'freeze week' });
  const { type, message, status } = await failureOf(handle);
  expect(type).toBe('ApprovalRejected');
  expect(message).toContain('rejected by carol: freeze week');
  expect(status.stage).toBe('rejected');
  expect(await h.repo.tip('release')).toBe(tipBefore);
  expect(fieldText((await entryFor(status.releaseId))!, 'result')).toBe('fail');
});

test("the operator's own reject withdraws the promotion", async () => {
  const { handle, tipBefore } = await startAwaiting();
  const answer = await handle.executeUpdate(decideUpdate, {
    args: [{ decision: 'reject', approver: 'alice', reason: 'wrong commit' }],
  });
  expect(answer.counted).toBe(true);
  const { type, message } = await failureOf(handle);
  expect(type).toBe('ApprovalRejected');
  expect(message).toContain('withdrawn by its operator alice');
  expect(await h.repo.tip('release')).toBe(tipBefore);
});

test('no decision in time ends with ApprovalTimedOut and a fail entry', async () => {
  const { handle, tipBefore } = await startAwaiting({ approval: { timeout: '2s' } });
  const { type, status } = await failureOf(handle);
  expect(type).toBe('ApprovalTimedOut');
  expect(status.stage).toBe('approval_expired');
  expect(status.approval.state).toBe('expired');
  expect(await h.repo.tip('release')).toBe(tipBefore);
  expect(fieldText((await entryFor(status.releaseId))!, 'result')).toBe('fail');
});

test('an approval sent while the staging gates run is kept and counts when the wait begins', async () => {
  h.staging.configure({ latencyMs: 800 });
  try {
    const sha = await h.repo.commit('feature: early approval');
    const handle = await h.start(h.request(sha, { changeClass: 'B' }));
    await waitForStage(handle, 'staging_gates');
    await handle.signal('approve', { approver: 'bob' });
    const status = await handle.result();
    expect(status.stage).toBe('promoted');
    expect(status.timeline.map((t) => t.stage)).toContain('awaiting_approval');
    // The approval arrived before the wait began.
    const decidedAt = status.approval.decisions[0]!.at;
    const waitAt = status.timeline.find((t) => t.stage === 'awaiting_approval')!.at;
    expect(decidedAt < waitAt).toBe(true);
  } finally {
    h.staging.configure({ latencyMs: 0 });
  }
});

test('a malformed update is rejected by its validator; a malformed signal is recorded as ignored', async () => {
  const { handle } = await startAwaiting();
  await expect(
    handle.executeUpdate(decideUpdate, { args: [{ decision: 'maybe', approver: 'bob' } as never] }),
  ).rejects.toThrow(WorkflowUpdateFailedError);
  await handle.signal('approve', { approver: 'not a valid name!' });
  for (let i = 0; i < 100 && (await handle.query(statusQuery)).approval.ignored.length === 0; i++) await delay(25);
  const status = await handle.query(statusQuery);
  expect(status.approval.ignored).toHaveLength(1);
  expect(status.approval.ignored[0]!.why).toContain('malformed approve signal');
  // The rejected update left no trace in history (payloads decoded); the signal did.
  const history = historyText(await handle.fetchHistory());
  expect(history).not.toContain('maybe');
  expect(history).toContain('not a valid name!');
  await handle.signal('approve', { approver: 'bob' });
  expect((await handle.result()).stage).toBe('promoted');
});

test("the list query ReleaseStage='awaiting_approval' finds a promotion waiting for a human", async () => {
  const { handle } = await startAwaiting();
  let found: string[] = [];
  for (let i = 0; i < 100 && !found.includes(handle.workflowId); i++) {
    found = [];
    for await (const wf of h.env.client.workflow.list({
      query: `ReleaseStage = 'awaiting_approval' AND TaskQueue = '${h.taskQueue}'`,
    }))
      found.push(wf.workflowId);
    if (!found.includes(handle.workflowId)) await delay(100);
  }
  expect(found).toContain(handle.workflowId);
  await handle.signal('approve', { approver: 'bob' });
  await handle.result();
});

test('a decision after the approval was already reached is ignored as late, and only the counted one is recorded', async () => {
  const { handle } = await startAwaiting({ approval: { approvers: ['bob', 'carol'] } });
  await handle.signal('approve', { approver: 'bob' });
  await handle.signal('approve', { approver: 'carol' });
  const status: PromotionStatus = await handle.result();
  expect(status.stage).toBe('promoted');
  expect(status.approval.decisions.map((d) => d.approver)).toEqual(['bob']);
  expect(status.approval.ignored.map((d) => [d.approver, d.why])).toEqual([['carol', 'approval is already approved']]);
  expect((await entryFor(status.releaseId))?.fields.get('approvals')?.value).toHaveLength(1);
});

test('a decision on a promotion that needs no approval is ignored and counts for nothing', async () => {
  h.staging.configure({ latencyMs: 600 });
  try {
    const handle = await h.start(h.request(await h.repo.commit('feature: no approval needed')));
    await waitForStage(handle, 'staging_gates');
    await handle.signal('reject', { approver: 'bob', reason: 'not asked' });
    const status: PromotionStatus = await handle.result();
    expect(status.stage).toBe('promoted');
    expect(status.approval.state).toBe('not_required');
    expect(status.approval.decisions).toEqual([]);
    expect(status.approval.ignored.map((d) => [d.approver, d.why])).toEqual([
      ['bob', 'this promotion does not need approval'],
    ]);
  } finally {
    h.staging.configure({ latencyMs: 0 });
  }
});

test.each([
  [
    'InvalidPromotionRequest',
    'a misspelt field',
    (sha: string) => h.request(sha, { changeClass: 'B', stagingBse: 'x' }),
  ],
  ['CommitNotOnSourceBranch', 'a commit not on main', () => h.request('deadbeef'.repeat(5), { changeClass: 'B' })],
])(
  'a decision sent with the start, while the request is still being validated, is answered as not counted when the request is refused (%s: %s), and nothing is pushed or recorded',
  async (type, _what, request) => {
    const tipBefore = await h.repo.tip('release');
    const ledgerBefore = await h.ledger();
    const sha = await h.repo.commit('feature: decided before validation');
    // Update-with-start: the decision is in the workflow's first task, before the plan exists.
    const start = new WithStartWorkflowOperation(promotionWorkflow, {
      taskQueue: h.taskQueue,
      workflowId: uniqueId('promotion'),
      args: [request(sha)],
      workflowIdConflictPolicy: 'FAIL',
    });
    const answer = await h.env.client.workflow.executeUpdateWithStart(decideUpdate, {
      args: [{ decision: 'approve', approver: 'bob' }],
      startWorkflowOperation: start,
    });
    expect(answer.counted).toBe(false);
    expect(answer.why).toBe('the promotion request was refused before approval');
    expect(answer.approval.decisions).toEqual([]);

    const handle = await start.workflowHandle();
    const failure = await failureOf(handle);
    expect(failure.type).toBe(type);
    expect(failure.status.stage).toBe('invalid');
    expect(failure.status.releaseId).toBeUndefined();
    expect(failure.status.approval.decisions).toEqual([]);
    expect(failure.status.approval.ignored.map((d) => [d.approver, d.decision, d.why])).toEqual([
      ['bob', 'approve', 'the promotion request was refused before approval'],
    ]);
    // Refused before anything ran: no push, no entry.
    expect(await h.repo.tip('release')).toBe(tipBefore);
    expect(await h.ledger()).toBe(ledgerBefore);
  },
);

test('a promotion cancelled while it awaits approval ends cancelled with one fail entry, nothing pushed', async () => {
  const { handle, tipBefore } = await startAwaiting();
  await handle.cancel();
  await expect(handle.result()).rejects.toThrow();
  expect((await handle.describe()).status.name).toBe('CANCELLED');
  const status: PromotionStatus = await handle.query(statusQuery);
  expect(status.stage).toBe('cancelled');
  expect(status.failure?.type).toBe('Cancelled');
  const entries = parseLedger(await h.ledger()).entries.filter((e) => e.releaseId === status.releaseId);
  expect(entries).toHaveLength(1);
  expect(fieldText(entries[0]!, 'result')).toBe('fail');
  expect(fieldText(entries[0]!, 'notes')).toContain('Cancelled: the promotion was cancelled');
  expect(fieldText(entries[0]!, 'rollback_plan')).toBe('nothing was promoted');
  expect(await h.repo.tip('release')).toBe(tipBefore);
});
