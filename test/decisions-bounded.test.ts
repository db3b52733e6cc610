// Hostile or careless deciders cannot grow a promotion's state without bound: ignored decisions
// are kept as the latest few with a count, and a malformed update is refused as non-retryable
// before it reaches history. Real dev server and worker.
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowHandle, WorkflowUpdateFailedError } from '@temporalio/client';
import type { PromotionStatus } from '../src/domain';
import { IGNORED_KEPT } from '../src/workflows/approval';
import { decideUpdate, statusQuery } from '../src/workflows/messages';
import { createHarness, Harness, waitFor } from './helpers';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

const statusOf = (handle: WorkflowHandle) => handle.query(statusQuery) as Promise<PromotionStatus>;

async function awaiting(): Promise<WorkflowHandle> {
  const handle = await h.start(
    h.request(await h.repo.commit(`feature ${Math.random().toString(36).slice(2)}`), { changeClass: 'B' }),
  );
  await waitFor('the promotion to await approval', async () => (await statusOf(handle)).stage === 'awaiting_approval');
  return handle;
}

test('hundreds of ignored decisions keep only the latest few with a count, and the promotion still completes', async () => {
  const handle = await awaiting();
  const FLOOD = 300;
  // Malformed, from outsiders, and repeats of the operator's own approval: all ignored.
  for (let i = 0; i < FLOOD; i += 3) {
    await handle.signal('approve', { approver: `not valid ${i}`, junk: 'x'.repeat(200) } as never);
    await handle.signal('approve', { approver: 'alice' });
    await handle.signal('reject', { approver: 'mallory', reason: '' } as never);
  }
  const flooded = await waitFor('every decision to be seen', async () => {
    const s = await statusOf(handle);
    return s.approval.ignoredCount === FLOOD && s;
  });
  expect(flooded.approval.ignored).toHaveLength(IGNORED_KEPT);
  expect(flooded.approval.state).toBe('pending');
  // The newest are the ones kept.
  expect(flooded.approval.ignored.at(-1)?.why).toContain('malformed reject signal');
  expect(JSON.stringify(flooded).length).toBeLessThan(40_000);

  await handle.signal('approve', { approver: 'bob' });
  const status: PromotionStatus = await handle.result();
  expect(status.stage).toBe('promoted');
  expect(status.approval.ignored.length).toBeLessThanOrEqual(IGNORED_KEPT);
});

test('a malformed decide update is refused as a non-retryable InvalidDecision and leaves the approval open', async () => {
  const handle = await awaiting();
  const refused = await handle
    .executeUpdate(decideUpdate, { args: [{ decision: 'approve', approver: 'x'.repeat(70_000) } as never] })
    .catch((err: unknown) => err);
  expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
  const cause = (refused as WorkflowUpdateFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  expect((cause as ApplicationFailure).type).toBe('InvalidDecision');
  expect((cause as ApplicationFailure).nonRetryable).toBe(true);
  expect((cause as ApplicationFailure).message.length).toBeLessThan(400);
  const status = await statusOf(handle);
  expect(status.approval.state).toBe('pending');
  expect(status.approval.ignoredCount ?? 0).toBe(0);
  await handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', approver: 'bob' }] });
  expect((await handle.result()).stage).toBe('promoted');
});
