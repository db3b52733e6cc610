// A signal flood cannot end a promotion (issue 13): every signal's payload stays in history, so
// a promotion continues as new (same workflow id, release id and locks) long before the
// server's limits (50 MB, ~50K events) would terminate it with no entry. Real dev server and
// worker, real signals through the client.
import type { WorkflowHandle } from '@temporalio/client';
import type { PromotionStatus } from '../src/domain';
import { fieldText, parseLedger } from '../src/ledger/format';
import { statusQuery } from '../src/workflows/messages';
import { createHarness, Harness, waitFor } from './helpers';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

const statusOf = (handle: WorkflowHandle) => handle.query(statusQuery) as Promise<PromotionStatus>;

async function awaitingApproval(): Promise<{ handle: WorkflowHandle; status: PromotionStatus; firstRunId: string }> {
  const handle = await h.start(
    h.request(await h.repo.commit(`feature ${Math.random().toString(36).slice(2)}`), {
      changeClass: 'B',
      approval: { approvers: ['bob'] },
    }),
  );
  const status = await waitFor('the promotion to await approval', async () => {
    const s = await statusOf(handle);
    return s.stage === 'awaiting_approval' && s;
  });
  return { handle, status, firstRunId: (await handle.describe()).runId };
}

async function runsOf(workflowId: string): Promise<Array<{ runId: string; status: string; historyBytes: number }>> {
  const runs = [];
  for await (const wf of h.env.client.workflow.list({ query: `WorkflowId = '${workflowId}'` }))
    runs.push({ runId: wf.runId, status: wf.status.name, historyBytes: wf.historySize ?? 0 });
  return runs;
}

test('a 1.9 MB approve signal is refused by the server before it reaches the history, and the promotion goes on', async () => {
  const { handle, status: before } = await awaitingApproval();
  const huge = 'x'.repeat(1_900_000);
  for (let i = 0; i < 3; i++)
    await expect(handle.signal('approve', { approver: huge } as never)).rejects.toThrow('Failed to signal Workflow');
  const history = await handle.fetchHistory();
  expect(
    (history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'approve'),
  ).toHaveLength(0);
  await handle.signal('approve', { approver: 'bob' });
  const status: PromotionStatus = await handle.result();
  expect(status.stage).toBe('promoted');
  expect(status.releaseId).toBe(before.releaseId);
});

test('signals of 200 KB that add up past 20 MB make the promotion continue as new: same id, release and approval state, promoted with one entry', async () => {
  const { handle, status: before, firstRunId } = await awaitingApproval();
  const big = 'x'.repeat(200_000);
  // A bounded flood, each signal seen before the next (a workflow cannot hand over while the
  // server keeps appending to its history faster than it can run a task).
  for (let i = 0; i < 110; i++) {
    await handle.signal('approve', { approver: big } as never);
    if (i % 10 === 9)
      await waitFor(
        'the signals so far to be seen',
        async () => ((await statusOf(handle)).approval.ignoredCount ?? 0) > i,
      );
  }
  const after = await statusOf(handle);
  expect(after.stage).toBe('awaiting_approval');
  expect(after.releaseId).toBe(before.releaseId);
  expect(after.approval.ignoredCount).toBe(110);
  const current = await handle.describe();
  expect(current.status.name).toBe('RUNNING');
  expect(current.runId).not.toBe(firstRunId);
  // Each run handed over well before the server's 50 MB limit.
  const runs = await waitFor('visibility to list the runs', async () => {
    const r = await runsOf(handle.workflowId);
    return r.length >= 2 && r;
  });
  expect(runs.filter((r) => r.status === 'TERMINATED')).toEqual([]);
  expect(Math.max(...runs.map((r) => r.historyBytes))).toBeLessThan(16 * 1024 * 1024);
  // Still findable by stage: search attributes go with the new run.
  const listed = await waitFor('the list query to find it', async () => {
    for await (const wf of h.env.client.workflow.list({
      query: `ReleaseStage = 'awaiting_approval' AND WorkflowId = '${handle.workflowId}' AND ExecutionStatus = 'Running'`,
    }))
      return wf.runId;
    return undefined;
  });
  expect(listed).toBe(current.runId);

  await handle.signal('approve', { approver: 'bob' });
  const status: PromotionStatus = await handle.result();
  expect(status.stage).toBe('promoted');
  expect(status.releaseId).toBe(before.releaseId);
  expect(status.approval.decisions.map((d) => d.approver)).toEqual(['bob']);
  expect(status.timeline.filter((t) => t.stage === 'awaiting_approval')).toHaveLength(1);
  const entries = parseLedger(await h.ledger()).entries.filter((e) => e.releaseId === before.releaseId);
  expect(entries).toHaveLength(1);
  expect(fieldText(entries[0]!, 'result')).toBe('pass');
  expect(await h.repo.tip('release')).toBe(status.commitSha);
}, 180_000);

test('6,000 small signals do not end the promotion either: its runs stay under the event limit and the worker keeps serving it', async () => {
  const { handle, status: before } = await awaitingApproval();
  const FLOOD = 6_000;
  for (let i = 0; i < FLOOD; i += 100) {
    await Promise.all(
      Array.from({ length: 100 }, (_, j) => handle.signal('approve', { approver: `o${i + j}`, comment: 'flood' })),
    );
  }
  const after = await waitFor(
    'every signal to be seen',
    async () => {
      const s = await statusOf(handle);
      return (s.approval.ignoredCount ?? 0) >= FLOOD && s;
    },
    120_000,
    500,
  );
  // None of them may approve here: all ignored, the latest few kept.
  expect(after.approval.ignored.length).toBeLessThanOrEqual(20);
  expect(after.approval.state).toBe('pending');
  await handle.signal('approve', { approver: 'bob' });
  const status: PromotionStatus = await handle.result();
  expect(status.stage).toBe('promoted');
  expect(status.releaseId).toBe(before.releaseId);
  const runs = await runsOf(handle.workflowId);
  expect(runs.filter((r) => r.status === 'TERMINATED')).toEqual([]);
  expect(parseLedger(await h.ledger()).entries.filter((e) => e.releaseId === before.releaseId)).toHaveLength(1);
}, 240_000);
