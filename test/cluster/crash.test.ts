// A worker process SIGKILLed in the middle of a promotion on the cluster: the worker running the
// promotion's activity (the server names it) dies, the other worker retries the activity once
// the heartbeat stops, and the promotion still pushes once and writes one entry. The dead worker
// is started again, as compose restarts a replica.
import { readFileSync } from 'node:fs';
import { temporal } from '@temporalio/proto';
import { fieldText, parseLedger } from '../../src/ledger/format';
import { Harness, waitFor, waitForStage } from '../helpers';
import { createClusterHarness } from './tier';

let h: Harness;
beforeAll(async () => {
  h = await createClusterHarness();
});
afterAll(async () => {
  await h?.close();
});

const STARTED = temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function activityPollers(): Promise<string[]> {
  const { pollers } = await h.env.client.workflowService.describeTaskQueue({
    namespace: 'default',
    taskQueue: { name: h.taskQueue },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
  });
  return (pollers ?? []).map((p) => p.identity ?? '');
}

test('the worker running a promotion is SIGKILLed mid-verification: the other worker finishes it, one push, one entry', async () => {
  const pollersBefore = await activityPollers();
  expect(new Set(pollersBefore).size).toBeGreaterThanOrEqual(2);
  // Slow production (under the 5 s probe timeout): verification takes long enough to kill its worker.
  h.production.configure({ latencyMs: 3_000 });
  try {
    const sha = await h.repo.commit('feature: outlives a worker');
    const before = await h.repo.reflog('release');
    const handle = await h.start(h.request(sha));
    await waitForStage(handle, 'verifying');

    // The server knows which worker process holds the running activity: `<pid>@<host>`.
    const running = await waitFor('a started activity with its worker', async () => {
      const { raw } = await handle.describe();
      return raw.pendingActivities?.find((a) => a.state === STARTED && a.lastWorkerIdentity);
    });
    const identity = running.lastWorkerIdentity as string;
    const pid = Number(identity.split('@')[0]);
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('src/worker.ts');
    process.kill(pid, 'SIGKILL');
    await waitFor('the worker to be gone', async () => !alive(pid));

    const status = await handle.result();
    expect(status.stage).toBe('promoted');
    expect(await h.repo.tip('release')).toBe(sha);
    const now = await h.repo.reflog('release');
    expect(now.slice(0, now.length - before.length)).toEqual([`${sha} push`]);
    const parsed = parseLedger(await h.ledger());
    expect(parsed.problems).toEqual([]);
    const mine = parsed.entries.filter((e) => fieldText(e, 'workflow_id') === handle.workflowId);
    expect(mine).toHaveLength(1);
    expect(fieldText(mine[0]!, 'result')).toBe('pass');
    expect(fieldText(mine[0]!, 'branch_tip_after')).toBe(sha);

    // The killed attempt was retried, and another worker process completed it.
    const history = await handle.fetchHistory();
    const scheduled = history.events?.find(
      (e) => e.activityTaskScheduledEventAttributes?.activityId === running.activityId,
    );
    const started = history.events?.find(
      (e) => e.activityTaskStartedEventAttributes?.scheduledEventId?.toString() === scheduled?.eventId?.toString(),
    )?.activityTaskStartedEventAttributes;
    expect(started?.attempt).toBeGreaterThanOrEqual(2);
    expect(started?.identity).not.toBe(identity);

    // And the dead worker was replaced: a poller that was not there before.
    await waitFor(
      'a restarted worker to poll',
      async () => (await activityPollers()).some((p) => !pollersBefore.includes(p)),
      60_000,
      500,
    );
  } finally {
    h.production.configure({ latencyMs: 0 });
  }
});
