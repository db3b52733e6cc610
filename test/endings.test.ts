// Endings without a test elsewhere (SPEC §3 "Endings"): the lease lost at the push, an activity
// out of retries, a rollback child that cannot finish, a release branch with no previous tip and a
// cancel while waiting for the target's lock. Each fault is real and placed deterministically: a
// hook in the bare remote acts at the promotion's own push, or a promotion waits on a human or a
// deploy while the test changes the world.
import { execFileSync } from 'node:child_process';
import { chmod, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { decodeRetryState, defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { PromotionStatus } from '../src/domain';
import { fieldText, parseLedger } from '../src/ledger/format';
import { reservationsPath } from '../src/ledger/reservations';
import { lockStateQuery, LockState, lockWorkflowId, statusQuery } from '../src/workflows/messages';
import { BROKEN_SERVICE, createSampleRepo, SampleRepo } from '../sample/repo';
import { startSampleService } from '../sample/service';
import { createHarness, failureOf, Harness, waitFor } from './helpers';
import { FaultyLedgerFiles } from './ledger-faults';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

const statusOf = (handle: WorkflowHandle) => handle.query(statusQuery) as Promise<PromotionStatus>;

async function stageReached(handle: WorkflowHandle, stage: string): Promise<PromotionStatus> {
  return waitFor(`${handle.workflowId} in stage ${stage}`, async () => {
    const status = await statusOf(handle);
    return status.stage === stage && status;
  });
}

/** Every ledger entry with `releaseId` (a promotion writes exactly one). */
async function entriesOf(releaseId: string | undefined) {
  return parseLedger(await h.ledger()).entries.filter((e) => e.releaseId === releaseId);
}

async function entryCount(): Promise<number> {
  return parseLedger(await h.ledger()).entries.length;
}

/** The targets whose lock a workflow was granted (its `lockGranted` signals, in history order). */
async function grantsTo(handle: WorkflowHandle): Promise<string[]> {
  return ((await handle.fetchHistory()).events ?? [])
    .map((e) => e.workflowExecutionSignaledEventAttributes)
    .filter((a) => a?.signalName === 'lockGranted')
    .map((a) => defaultPayloadConverter.fromPayload<{ target: string }>(a?.input?.payloads?.[0] as Payload).target);
}

/** Installs `script` as the bare remote's hook `name` (git runs it in the remote's receive-pack). */
async function installHook(repo: SampleRepo, name: string, script: string): Promise<() => Promise<void>> {
  const file = path.join(repo.bare, 'hooks', name);
  await writeFile(file, `#!/bin/sh\n${script}\n`);
  await chmod(file, 0o755);
  return () => rm(file, { force: true });
}

/** Inside a hook, a ref update must leave receive-pack's quarantine first (git refuses it there). */
const OUTSIDE_QUARANTINE = 'unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES';

test('a release branch moved by someone else while the push holds its lease ends refused with ReleaseBranchMoved and is not overwritten', async () => {
  // A target with no entry yet: the promotion reads the tip, then pushes with a lease on it.
  const repo = await createSampleRepo(path.join(h.tmp, 'moved-during-push'));
  const before = repo.base;
  const theirs = await repo.commit('hotfix pushed by someone else');
  const ours = await repo.commit('feature: promoted while release moves');
  // The other party's push lands between the promotion's read and its own push: the remote's
  // pre-receive hook moves release first, on the promotion's push and only on it.
  await installHook(
    repo,
    'pre-receive',
    `while read old new ref; do
  if [ "$ref" = refs/heads/release ] && [ "$new" = ${ours} ]; then
    (${OUTSIDE_QUARANTINE}; git update-ref -m "moved by someone else" refs/heads/release ${theirs} "$old")
  fi
done`,
  );
  const entriesBefore = await entryCount();

  const { type, message, status } = await failureOf(await h.start(h.request(ours, { repo: repo.bare })));

  expect(type).toBe('ReleaseBranchMoved');
  expect(status.stage).toBe('refused');
  expect(status.failure?.type).toBe('ReleaseBranchMoved');
  expect(status.pushed).toBe(false);
  expect(message).toContain(`release moved from ${before} to ${theirs}`);
  expect(message).toContain('nothing was overwritten');
  // The branch is where the other party put it; the promotion's commit never landed.
  expect(await repo.tip('release')).toBe(theirs);
  const reflog = await repo.reflog('release');
  expect(reflog[0]).toBe(`${theirs} moved by someone else`);
  expect(reflog.some((line) => line.startsWith(ours))).toBe(false);
  // Exactly one entry, the promotion's fail naming the ending, with the tip as found.
  expect(await entryCount()).toBe(entriesBefore + 1);
  const entries = await entriesOf(status.releaseId);
  expect(entries).toHaveLength(1);
  expect(fieldText(entries[0]!, 'result')).toBe('fail');
  expect(fieldText(entries[0]!, 'notes')).toMatch(/^ReleaseBranchMoved: release moved from /);
  expect(fieldText(entries[0]!, 'rollback_plan')).toBe('nothing was promoted');
  expect(fieldText(entries[0]!, 'branch_tip_after')).toBe(theirs);
});

test('a push the remote keeps declining ends the promotion failed with PromotionFailed once its retries are exhausted, nothing pushed', async () => {
  const tipBefore = await h.repo.tip('release');
  const reflogBefore = await h.repo.reflog('release');
  const sha = await h.repo.commit('feature: the remote declines it');
  const attempts = path.join(h.tmp, 'declined-pushes.log');
  // A remote that refuses the push every time (not a refusal git names as final): retried, then given up.
  const remove = await installHook(
    h.repo,
    'pre-receive',
    `echo attempt >> ${attempts}
echo "release is frozen by the remote; push declined" >&2
exit 1`,
  );
  try {
    const entriesBefore = await entryCount();
    const handle = await h.start(h.request(sha));
    const { type, message, status } = await failureOf(handle);

    expect(type).toBe('PromotionFailed');
    expect(status.stage).toBe('failed');
    expect(status.failure?.type).toBe('PromotionFailed');
    expect(status.pushed).toBe(false);
    expect(message).toContain('release is frozen by the remote');
    // The push was tried again and again: every attempt reached the remote, and the last one
    // failed because the activity's retry policy ran out.
    const tries = (await readFile(attempts, 'utf8')).trim().split('\n');
    expect(tries.length).toBeGreaterThan(1);
    const history = await handle.fetchHistory();
    const failed = (history.events ?? []).map((e) => e.activityTaskFailedEventAttributes).filter(Boolean);
    expect(failed).toHaveLength(1);
    expect(decodeRetryState(failed[0]?.retryState)).toBe('MAXIMUM_ATTEMPTS_REACHED');
    const started = (history.events ?? [])
      .map((e) => e.activityTaskStartedEventAttributes)
      .filter((a) => a?.scheduledEventId?.toString() === failed[0]?.scheduledEventId?.toString());
    expect(started[0]?.attempt).toBe(tries.length);

    expect(await h.repo.tip('release')).toBe(tipBefore);
    expect(await h.repo.reflog('release')).toEqual(reflogBefore);
    expect(await entryCount()).toBe(entriesBefore + 1);
    const entries = await entriesOf(status.releaseId);
    expect(entries).toHaveLength(1);
    expect(fieldText(entries[0]!, 'result')).toBe('fail');
    expect(fieldText(entries[0]!, 'notes')).toMatch(/^PromotionFailed: /);
    expect(fieldText(entries[0]!, 'branch_tip_after')).toBe(tipBefore);
    expect(fieldText(entries[0]!, 'rollback_plan')).toBe('nothing was promoted');
    expect(entries[0]!.fields.has('rollback_release_id')).toBe(false);
  } finally {
    await remove();
  }
}, 90_000);

test("a rollback child that cannot finish ends the promotion rollback_partial with RollbackFailed and the promotion's one entry", async () => {
  // A worker of its own whose ledger's reservations file fails once armed: the compensating
  // rollback cannot reserve its release id, so it fails before it moves anything.
  const faults = new FaultyLedgerFiles();
  const own = await createHarness({ ledgerFiles: faults });
  try {
    const bad = await own.repo.commit('feature: breaks production', { 'service.json': BROKEN_SERVICE });
    const handle = await own.start(own.request(bad, { changeClass: 'B' }));
    // The promotion reserved its own id at admission; arm the fault while it waits for approval.
    await stageReached(handle, 'awaiting_approval');
    const reservations = reservationsPath(own.ledgerPath);
    faults.fail('write', 'EIO', { path: reservations });
    await handle.signal('approve', { approver: 'bob' });
    const { type, message, status } = await failureOf(handle);
    faults.heal();

    expect(type).toBe('RollbackFailed');
    expect(status.stage).toBe('rollback_partial');
    expect(status.failure?.type).toBe('RollbackFailed');
    expect(status.pushed).toBe(true);
    expect(status.rollback).toMatchObject({ result: 'partial' });
    expect(status.rollback?.releaseId).toBeUndefined();
    expect(message).toMatch(/^db_health returned 503.* on production .*; rollback did not finish: /);
    expect(message).toContain(reservations);
    // The rollback tried to reserve its id more than once, then gave up; the branch was never
    // moved back (the rollback wrote nothing), and the promotion's entry says so.
    expect(faults.fired.filter((f) => f.path === reservations).length).toBeGreaterThan(1);
    expect(await own.repo.tip('release')).toBe(bad);
    const ledger = parseLedger(await own.ledger()).entries;
    expect(ledger.map((e) => e.releaseId)).toEqual([status.releaseId]);
    expect(fieldText(ledger[0]!, 'result')).toBe('fail');
    expect(fieldText(ledger[0]!, 'notes')).toMatch(/^RollbackFailed: db_health returned 503/);
    expect(fieldText(ledger[0]!, 'rollback_result')).toBe('partial');
    expect(fieldText(ledger[0]!, 'branch_tip_after')).toBe(bad);
  } finally {
    faults.heal();
    await own.close();
  }
}, 90_000);

// The last entry is never given up: with the remote gone it cannot say where the branch is, so
// it says the tip is unreadable instead of failing the workflow without an entry.
test('a rollback child that cannot reach the remote ends rollback_partial with RollbackFailed and one entry', async () => {
  const repo = await createSampleRepo(path.join(h.tmp, 'remote-gone'));
  const production = await startSampleService({ name: 'production', dbDown: true });
  const sha = await repo.commit('feature: pushed, then the remote goes away');
  const gone = `${repo.bare}.gone`;
  // Right after the promotion's push lands the remote is moved away (migrated under the worker's
  // feet) and production fails its checks: the rollback cannot even be planned.
  await installHook(
    repo,
    'post-receive',
    `while read old new ref; do
  if [ "$ref" = refs/heads/release ] && [ "$new" = ${sha} ]; then mv "$(pwd)" ${gone}; fi
done`,
  );
  try {
    const handle = await h.start(h.request(sha, { repo: repo.bare, productionBase: production.url }));
    const { type, message, status } = await failureOf(handle);
    expect(type).toBe('RollbackFailed');
    expect(status.stage).toBe('rollback_partial');
    expect(status.pushed).toBe(true);
    expect(message).toContain('rollback did not finish');
    const entries = await entriesOf(status.releaseId);
    expect(entries).toHaveLength(1);
    expect(fieldText(entries[0]!, 'notes')).toMatch(/^RollbackFailed: /);
    expect(fieldText(entries[0]!, 'branch_tip_after')).toBe('(remote unreadable)');
  } finally {
    await production.close();
    await rename(gone, repo.bare).catch(() => undefined);
  }
});

test('a release branch with no previous tip that fails production verification ends rollback_partial: there is nothing to roll back to', async () => {
  // A target of its own, and a production that runs whatever its release branch points at.
  const repo = await createSampleRepo(path.join(h.tmp, 'no-previous-tip'));
  const production = await startSampleService({
    name: 'production',
    follow: { gitDir: repo.bare, branch: 'release' },
  });
  try {
    const bad = await repo.commit('feature: breaks production', { 'service.json': BROKEN_SERVICE });
    const handle = await h.start(h.request(bad, { repo: repo.bare, productionBase: production.url, changeClass: 'B' }));
    // Admission needs the branch; it is deleted while the promotion waits for its approval, so
    // the push creates it.
    await stageReached(handle, 'awaiting_approval');
    execFileSync('git', ['--git-dir', repo.bare, 'update-ref', '-d', 'refs/heads/release']);
    expect(await repo.tip('release')).toBeNull();
    const entriesBefore = await entryCount();
    await handle.signal('approve', { approver: 'bob' });
    const { type, message, status } = await failureOf(handle);

    expect(type).toBe('ProductionVerificationFailed');
    expect(status.stage).toBe('rollback_partial');
    expect(status.pushed).toBe(true);
    expect(status.lastKnownGood).toBeUndefined();
    expect(status.rollback?.result).toBe('partial');
    expect(status.rollback?.releaseId).toBeUndefined();
    expect(status.rollback?.workflowId).toBeUndefined();
    expect(message).toContain(
      `release did not exist before this promotion, so there is nothing to roll back to: it stays on ${bad}`,
    );
    // Nothing to go back to: the branch stays on the commit the push created it at, and no
    // rollback ran or wrote.
    expect(await repo.tip('release')).toBe(bad);
    expect(await repo.reflog('release')).toEqual([`${bad} push`]);
    const history = await handle.fetchHistory();
    expect((history.events ?? []).some((e) => e.startChildWorkflowExecutionInitiatedEventAttributes)).toBe(false);
    expect(await entryCount()).toBe(entriesBefore + 1);
    const entries = await entriesOf(status.releaseId);
    expect(entries).toHaveLength(1);
    expect(fieldText(entries[0]!, 'result')).toBe('fail');
    expect(fieldText(entries[0]!, 'rollback_result')).toBe('partial');
    expect(fieldText(entries[0]!, 'rollback_plan')).toBe('none possible: release did not exist before this promotion');
    expect(fieldText(entries[0]!, 'branch_tip_after')).toBe(bad);
    expect(fieldText(entries[0]!, 'notes')).toMatch(/^ProductionVerificationFailed: /);
  } finally {
    await production.close();
  }
});

test('a promotion cancelled while it waits for the lock ends cancelled with one entry, leaves the queue and never takes the lock', async () => {
  // The holder waits for a deploy production does not report until the test says so.
  const held = await startSampleService({ name: 'held-production', version: 'v-old' });
  try {
    const [first, second, third] = [
      await h.repo.commit('feature: holds the lock'),
      await h.repo.commit('feature: cancelled in the queue'),
      await h.repo.commit('feature: next in line'),
    ];
    const deployWait = { path: '/health', field: 'version', timeout: '5m' };
    const holder = await h.start(h.request(first, { productionBase: held.url, deployWait }));
    await stageReached(holder, 'awaiting_deploy');
    const reflogBefore = await h.repo.reflog('release');

    const waiter = await h.start(h.request(second));
    const queued = await waitFor('the second promotion in the lock queue', async () => {
      const status = await statusOf(waiter);
      return status.stage === 'waiting_for_lock' && status.lock?.holder === holder.workflowId && status;
    });
    expect(queued.lock?.position).toBe(1);
    const next = await h.start(h.request(third));
    await waitFor('the third promotion behind it', async () => {
      const status = await statusOf(next);
      return status.stage === 'waiting_for_lock' && status.lock?.position === 2;
    });
    const lock = h.env.client.workflow.getHandle(lockWorkflowId(h.repo.bare, 'release'));
    const lockState = () => lock.query(lockStateQuery) as Promise<LockState>;
    expect((await lockState()).queue.map((q) => q.workflowId)).toEqual([waiter.workflowId, next.workflowId]);

    const entriesBefore = await entryCount();
    await waiter.cancel();
    await expect(waiter.result()).rejects.toThrow();
    expect((await waiter.describe()).status.name).toBe('CANCELLED');
    const status = await statusOf(waiter);
    expect(status.stage).toBe('cancelled');
    expect(status.failure?.type).toBe('Cancelled');
    expect(status.pushed).toBe(false);
    expect(await entryCount()).toBe(entriesBefore + 1);
    const entries = await entriesOf(status.releaseId);
    expect(entries).toHaveLength(1);
    expect(fieldText(entries[0]!, 'result')).toBe('fail');
    expect(fieldText(entries[0]!, 'notes')).toContain('Cancelled: the promotion was cancelled');
    expect(fieldText(entries[0]!, 'rollback_plan')).toBe('nothing was promoted');

    // It left the queue; the holder still holds, and the third moves up.
    await waitFor('the cancelled promotion out of the lock queue', async () => {
      const state = await lockState();
      return !state.queue.some((q) => q.workflowId === waiter.workflowId) && state;
    });
    const state = await lockState();
    expect(state.holder?.workflowId).toBe(holder.workflowId);
    expect(state.queue.map((q) => q.workflowId)).toEqual([next.workflowId]);
    await waitFor('the third promotion first in line', async () => (await statusOf(next)).lock?.position === 1);

    // The holder's deploy shows up: it is promoted, then the third, never the cancelled one.
    held.configure({ version: first });
    expect((await holder.result()).stage).toBe('promoted');
    expect((await next.result()).stage).toBe('promoted');
    expect(await h.repo.tip('release')).toBe(third);
    const pushes = await h.repo.reflog('release');
    expect(pushes.slice(0, pushes.length - reflogBefore.length)).toEqual([`${third} push`]);
    expect(pushes.some((line) => line.startsWith(second))).toBe(false);
    // The lock never granted the cancelled promotion its target; the one behind it got it.
    const target = `${h.repo.bare}#release`;
    expect(status.lock?.target).toBe(target);
    expect(await grantsTo(waiter)).not.toContain(target);
    expect(await grantsTo(next)).toContain(target);
  } finally {
    await held.close();
  }
}, 120_000);
