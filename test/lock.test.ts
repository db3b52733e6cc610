// The target lock: one promotion per target at a time, first come first served, rollbacks
// first, freed on every path (a failure, a terminated holder). Asserted from outside evidence:
// the bare repo's reflog, the production service's request log, the ledger bytes and the lock
// workflow's own state and history.
import { setTimeout as delay } from 'node:timers/promises';
import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { PromotionStatus, RollbackStatus } from '../src/domain';
import { fieldText, parseLedger } from '../src/ledger/format';
import { rollbackWorkflow } from '../src/workflows';
import { lockStateQuery, LockState, lockWorkflowId, rollbackStatusQuery, statusQuery } from '../src/workflows/messages';
import { BROKEN_SERVICE } from '../sample/repo';
import { LoggedRequest, SampleService, startSampleService } from '../sample/service';
import { createHarness, failureOf, Harness, promoteGood, releaseIds, uniqueId, waitFor } from './helpers';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

const statusOf = (handle: WorkflowHandle) => handle.query(statusQuery) as Promise<PromotionStatus>;
const lockHandle = () => h.env.client.workflow.getHandle(lockWorkflowId(h.repo.bare, 'release'));
const lockState = () => lockHandle().query(lockStateQuery) as Promise<LockState>;

/** The workflow ids in the lock workflow's `releaseLock` signals, in history order. */
async function releaseSignals(): Promise<string[]> {
  const history = await lockHandle().fetchHistory();
  return (history.events ?? [])
    .map((e) => e.workflowExecutionSignaledEventAttributes)
    .filter((a) => a?.signalName === 'releaseLock')
    .map(
      (a) => defaultPayloadConverter.fromPayload<{ workflowId: string }>(a?.input?.payloads?.[0] as Payload).workflowId,
    );
}

/** Reflog lines of `release` added since `before` (newest first). */
async function newPushes(before: string[]): Promise<string[]> {
  const now = await h.repo.reflog('release');
  return now.slice(0, now.length - before.length);
}

/** First probe's arrival to last probe's answer (the service answers `latencyMs` after logging). */
function window(requests: LoggedRequest[], latencyMs: number): { start: number; end: number } {
  return { start: Math.min(...requests.map((r) => r.at)), end: Math.max(...requests.map((r) => r.at)) + latencyMs };
}

test('three promotions of one target started together never overlap: pushes and production probes are ordered and all three are promoted', async () => {
  const PROD_LATENCY = 1_500;
  // Each promotion gets its own staging service, slower for each: they reach the lock in commit
  // order (so none is a downgrade) while the one before still holds it.
  const stagings: SampleService[] = [];
  for (const latencyMs of [100, 500, 900]) stagings.push(await startSampleService({ name: 'staging', latencyMs }));
  h.production.configure({ latencyMs: PROD_LATENCY });
  try {
    const commits = [
      await h.repo.commit('feature: one'),
      await h.repo.commit('feature: two'),
      await h.repo.commit('feature: three'),
    ];
    const reflogBefore = await h.repo.reflog('release');
    const requestsBefore = h.production.requests.length;

    const handles = await Promise.all(
      commits.map((sha, i) => h.start(h.request(sha, { stagingBase: stagings[i]!.url }))),
    );
    const ids = handles.map((handle) => handle.workflowId);
    const results = Promise.all(handles.map((handle) => handle.result()));
    let finished = false;
    void results.finally(() => (finished = true)).catch(() => undefined);

    // While they run: a waiter's status names its place and the promotion holding the lock.
    const waiting: Array<{ self: string; position?: number; holder?: string }> = [];
    while (!finished) {
      for (const handle of handles) {
        const status = await statusOf(handle);
        if (status.stage === 'waiting_for_lock' && status.lock?.holder)
          waiting.push({ self: handle.workflowId, position: status.lock.position, holder: status.lock.holder });
      }
      await delay(50);
    }
    const statuses = await results;
    expect(statuses.map((s) => s.stage)).toEqual(['promoted', 'promoted', 'promoted']);
    expect(waiting.some((w) => (w.position ?? 0) >= 1 && w.holder !== w.self && ids.includes(w.holder as string))).toBe(
      true,
    );
    expect(await h.repo.tip('release')).toBe(commits[2]);

    // The bare repo saw exactly three pushes, one per promotion, in order.
    expect(await newPushes(reflogBefore)).toEqual([`${commits[2]} push`, `${commits[1]} push`, `${commits[0]} push`]);

    // Production (which serves the release tip) saw each promotion's four probes as one block:
    // had a push landed during another promotion's verification, versions would mix in a block.
    const requests = h.production.requests.slice(requestsBefore);
    expect(requests.map((r) => r.version)).toEqual(commits.flatMap((sha) => [sha, sha, sha, sha]));
    const blocks = commits.map((sha) => requests.filter((r) => r.version === sha));
    for (const block of blocks)
      expect(block.map((r) => r.path).sort()).toEqual(['/api/chat', '/api/chat', '/db/health', '/health']);
    // And each verification began only after the previous one had its last answer.
    for (let i = 1; i < blocks.length; i++) {
      expect(window(blocks[i]!, PROD_LATENCY).start).toBeGreaterThanOrEqual(
        window(blocks[i - 1]!, PROD_LATENCY).end - 5,
      );
    }
  } finally {
    h.production.configure({ latencyMs: 0 });
    for (const s of stagings) await s.close();
  }
}, 120_000);

test('promotions of two different targets run in parallel: their production verifications overlap in time', async () => {
  const PROD_LATENCY = 1_500;
  const h2 = await createHarness({ production: { latencyMs: PROD_LATENCY } });
  h.production.configure({ latencyMs: PROD_LATENCY });
  try {
    const [one, two] = [await h.repo.commit('feature: target one'), await h2.repo.commit('feature: target two')];
    const before = [h.production.requests.length, h2.production.requests.length];
    const statuses = await Promise.all([
      (await h.start(h.request(one))).result(),
      (await h2.start(h2.request(two))).result(),
    ]);
    expect(statuses.map((s) => s.stage)).toEqual(['promoted', 'promoted']);
    expect(await h.repo.tip('release')).toBe(one);
    expect(await h2.repo.tip('release')).toBe(two);

    const a = window(
      h.production.requests.slice(before[0]).filter((r) => r.version === one),
      PROD_LATENCY,
    );
    const b = window(
      h2.production.requests.slice(before[1]).filter((r) => r.version === two),
      PROD_LATENCY,
    );
    // Serialized (one lock for both), the second verification would start after the first ended.
    expect(a.start).toBeLessThan(b.end);
    expect(b.start).toBeLessThan(a.end);
  } finally {
    h.production.configure({ latencyMs: 0 });
    await h2.close();
  }
}, 120_000);

test('the lock is released after a failed promotion, and the next promotion of the target is promoted', async () => {
  const good = await promoteGood(h, 'feature: good before a failure');
  const bad = await h.repo.commit('feature: breaks production', { 'service.json': BROKEN_SERVICE });
  const failedHandle = await h.start(h.request(bad));
  const failed = await failureOf(failedHandle);
  expect(failed.type).toBe('ProductionVerificationFailed');
  expect(failed.status.stage).toBe('rolled_back');
  expect(await h.repo.tip('release')).toBe(good);
  // Released by the promotion itself, not freed later by the holder check.
  expect(await releaseSignals()).toContain(failedHandle.workflowId);

  const next = await h.repo.commit('feature: after the failure');
  const nextHandle = await h.start(h.request(next));
  const status = await nextHandle.result();
  expect(status.stage).toBe('promoted');
  expect(await h.repo.tip('release')).toBe(next);

  const state = await waitFor(
    'the lock to be free',
    async () => {
      const s = await lockState();
      return !s.holder && s.queue.length === 0 && s;
    },
    10_000,
  );
  expect(state.holder).toBeUndefined();
  expect(state.queue).toEqual([]);
  expect(await releaseSignals()).toContain(nextHandle.workflowId);
}, 120_000);

test('the lock is freed within 60 s after its holder is terminated, and the waiting promotion is promoted', async () => {
  const before = await promoteGood(h, 'feature: good before a termination');
  const first = await h.repo.commit('feature: holder to be terminated');
  const second = await h.repo.commit('feature: waits behind it');
  const reflogBefore = await h.repo.reflog('release');
  // Slow enough to terminate the holder mid-verification (it only has to outlive a few queries),
  // below the 5 s probe timeout so it never turns into a rollback, and short enough that the
  // sample service's delayed answers do not outlive the test file.
  h.production.configure({ latencyMs: 4_000 });
  try {
    const holder = await h.start(h.request(first));
    await waitFor(
      'the first promotion to hold the lock',
      async () => (await statusOf(holder)).lock?.holder === holder.workflowId,
    );
    // The lock writes the terminated holder's entry before it grants the target: no drift.
    const waiter = await h.start(h.request(second));
    await waitFor('the second promotion to wait behind the first', async () => {
      const s = await statusOf(waiter);
      return s.stage === 'waiting_for_lock' && s.lock?.position === 1 && s.lock.holder === holder.workflowId;
    });
    await waitFor('the first promotion to be verifying', async () => (await statusOf(holder)).stage === 'verifying');
    expect((await lockState()).holder?.workflowId).toBe(holder.workflowId);

    await holder.terminate('test: the holder dies without releasing');
    h.production.configure({ latencyMs: 0 });

    await waitFor(
      'the second promotion to get the lock',
      async () => (await statusOf(waiter)).stage !== 'waiting_for_lock',
      60_000,
      100,
    );
    const status = await waiter.result();
    expect(status.stage).toBe('promoted');
    // Ordering, as the server recorded it: the waiter pushed only after the holder had closed.
    const promotingAt = Date.parse(status.timeline.find((t) => t.stage === 'promoting')?.at ?? '');
    const holderClosedAt = (await holder.describe()).closeTime?.getTime() ?? Infinity;
    expect(promotingAt).toBeGreaterThanOrEqual(holderClosedAt);
    expect(status.drift).toBeUndefined();
    const closedEntry = parseLedger(await h.ledger()).entries.find(
      (e) => fieldText(e, 'workflow_id') === holder.workflowId,
    );
    expect(fieldText(closedEntry!, 'result')).toBe('fail');
    expect(fieldText(closedEntry!, 'branch_tip_after')).toBe(first);
    expect(fieldText(closedEntry!, 'notes')).toContain('PromotionClosed');
    expect(before).not.toBe(first);

    expect((await holder.describe()).status.name).toBe('TERMINATED');
    expect(await h.repo.tip('release')).toBe(second);
    expect(await newPushes(reflogBefore)).toEqual([`${second} push`, `${first} push`]);
    // The terminated holder never released: the lock's holder check freed it.
    expect(await releaseSignals()).not.toContain(holder.workflowId);
    const state = await waitFor(
      'the lock to be free',
      async () => {
        const s = await lockState();
        return !s.holder && s.queue.length === 0 && s;
      },
      10_000,
    );
    expect(state.queue).toEqual([]);
  } finally {
    h.production.configure({ latencyMs: 0 });
  }
}, 120_000);

test('a manual rollback goes ahead of a waiting promotion: queued first, runs next, and its ledger entry comes before the promotion', async () => {
  const lastGood = await promoteGood(h, 'feature: last known good');
  const a = await h.repo.commit('feature: A holds the lock');
  const b = await h.repo.commit('feature: B waits');
  const reflogBefore = await h.repo.reflog('release');
  // A holds the lock in its deploy wait until this service reports A's commit.
  const gated = await startSampleService({ name: 'gated-production', version: 'not-yet' });
  try {
    const holder = await h.start(
      h.request(a, { productionBase: gated.url, deployWait: { path: '/health', field: 'version', timeout: '30s' } }),
    );
    await waitFor('A to hold the lock', async () => (await statusOf(holder)).stage === 'awaiting_deploy');
    const waiter = await h.start(h.request(b));
    await waitFor('B to wait behind A', async () => {
      const s = await statusOf(waiter);
      return s.stage === 'waiting_for_lock' && s.lock?.position === 1 && s.lock.holder === holder.workflowId;
    });

    const rollback = await h.env.client.workflow.start(rollbackWorkflow, {
      taskQueue: h.taskQueue,
      workflowId: uniqueId('rollback'),
      args: [
        {
          repo: h.repo.bare,
          productionBase: h.production.url,
          fromSha: a,
          toSha: lastGood,
          trigger: 'operator rollback while a promotion waits',
          operator: 'oncall-bob',
        },
      ],
    });
    const rollbackWaiting = await waitFor('the rollback to wait for the lock', async () => {
      const s: RollbackStatus = await rollback.query(rollbackStatusQuery);
      return s.stage === 'waiting_for_lock' && s.lock?.position === 1 && s;
    });
    expect(rollbackWaiting.lock?.holder).toBe(holder.workflowId);
    const state = await lockState();
    expect(state.holder?.workflowId).toBe(holder.workflowId);
    expect(state.queue.map((q) => [q.workflowId, q.priority])).toEqual([
      [rollback.workflowId, 'rollback'],
      [waiter.workflowId, 'promotion'],
    ]);
    await waitFor('B to learn it moved back to position 2', async () => (await statusOf(waiter)).lock?.position === 2);

    gated.configure({ version: a });
    const [aStatus, rbStatus, bStatus] = await Promise.all([holder.result(), rollback.result(), waiter.result()]);
    expect(aStatus.stage).toBe('promoted');
    // The rollback ran while A's commit was the tip, before B: completed, branch back on lastGood.
    expect(rbStatus.result).toBe('completed');
    expect(bStatus.stage).toBe('promoted');
    expect(await h.repo.tip('release')).toBe(b);
    expect(await newPushes(reflogBefore)).toEqual([`${b} push`, `${lastGood} push`, `${a} push`]);

    const ids = releaseIds(await h.ledger());
    const [ia, irb, ib] = [aStatus.releaseId, rbStatus.releaseId, bStatus.releaseId].map((id) =>
      ids.indexOf(id as string),
    );
    expect(ia).toBeGreaterThanOrEqual(0);
    expect(irb).toBeGreaterThan(ia as number);
    expect(ib).toBeGreaterThan(irb as number);
    const rbEntry = parseLedger(await h.ledger()).entries.find((e) => e.releaseId === rbStatus.releaseId);
    expect(rbEntry && fieldText(rbEntry, 'from_sha')).toBe(a);
    expect(rbEntry && fieldText(rbEntry, 'branch_tip_after')).toBe(lastGood);
  } finally {
    await gated.close();
  }
}, 120_000);
