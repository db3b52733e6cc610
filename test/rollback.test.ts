// A bad deploy rolls itself back; drift, downgrade, deploy wait, cancellation and manual rollbacks.
import { WorkflowFailedError } from '@temporalio/client';
import type { RollbackStatus } from '../src/domain';
import { fieldText, parseLedger } from '../src/ledger/format';
import { rollbackWorkflow } from '../src/workflows';
import { statusQuery } from '../src/workflows/messages';
import { BROKEN_SERVICE } from '../sample/repo';
import {
  createHarness,
  entryOf,
  failureOf,
  Harness,
  promoteGood,
  recordHistory,
  uniqueId,
  waitForStage,
} from './helpers';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

test('a bad deploy is rolled back: branch on the last known good, two entries, promotion fail naming the completed rollback', async () => {
  const good = await promoteGood(h, 'feature: good before bad');
  const bad = await h.repo.commit('feature: breaks production', { 'service.json': BROKEN_SERVICE });
  const handle = await h.start(h.request(bad));
  const { type, status, message } = await failureOf(handle);
  await recordHistory(handle, 'promotion-rolled-back');

  expect(type).toBe('ProductionVerificationFailed');
  expect(message).toContain('rolled back to');
  expect(status.stage).toBe('rolled_back');
  expect(status.rollback?.result).toBe('completed');
  expect(status.timeline.map((t) => t.stage)).toEqual([
    'validating',
    'waiting_for_staging',
    'staging_gates',
    'waiting_for_lock',
    'promoting',
    'verifying',
    'rolling_back',
    'rolled_back',
  ]);
  expect(await h.repo.tip('release')).toBe(good);
  // Outside evidence: production really served the bad commit, then the good one again.
  const versions = h.production.requests.filter((r) => r.path === '/db/health').map((r) => r.version);
  expect(versions.slice(-2)).toEqual([bad, good]);

  const promotion = await entryOf(h, status.releaseId);
  expect(fieldText(promotion, 'result')).toBe('fail');
  expect(fieldText(promotion, 'rollback_release_id')).toBe(status.rollback?.releaseId);
  expect(fieldText(promotion, 'branch_tip_after')).toBe(good);
  const rollback = await entryOf(h, status.rollback?.releaseId);
  expect(rollback.releaseId).toMatch(/-rb1$/);
  expect(rollback.keys.slice(0, 12)).toEqual([
    'release_id',
    'type',
    'trigger',
    'from_sha',
    'to_sha',
    'environment',
    'actions',
    'post_rollback_verification',
    'result',
    'notes',
    'operator',
    'evidence_refs',
  ]);
  expect(fieldText(rollback, 'result')).toBe('completed');
  expect(fieldText(rollback, 'from_sha')).toBe(bad);
  expect(fieldText(rollback, 'to_sha')).toBe(good);
  expect(fieldText(rollback, 'promotion_release_id')).toBe(status.releaseId);
  expect(rollback.fields.get('post_rollback_verification')?.value).toHaveLength(4);
  // The rollback entry is written first, then the promotion's: both chained.
  const ids = parseLedger(await h.ledger()).entries.map((e) => e.releaseId);
  expect(ids.indexOf(rollback.releaseId)).toBe(ids.indexOf(promotion.releaseId) - 1);
});

test('a branch moved by someone else during verification is not clobbered: rollback partial', async () => {
  await promoteGood(h, 'feature: good before the race');
  const hotfix = await h.repo.commit('hotfix pushed by hand');
  const bad = await h.repo.commit('feature: breaks prod again', { 'service.json': BROKEN_SERVICE });
  h.production.configure({ latencyMs: 400 });
  try {
    const handle = await h.start(h.request(bad));
    await waitForStage(handle, 'verifying');
    await h.repo.forcePush('release', hotfix);
    const { type, status } = await failureOf(handle);
    expect(type).toBe('ProductionVerificationFailed');
    expect(status.stage).toBe('rollback_partial');
    expect(await h.repo.tip('release')).toBe(hotfix);
    const rollback = await entryOf(h, status.rollback?.releaseId);
    expect(fieldText(rollback, 'result')).toBe('partial');
    expect((rollback.fields.get('actions')?.value as string[]).join(' ')).toContain('not moved (ReleaseBranchMoved)');
  } finally {
    h.production.configure({ latencyMs: 0 });
  }
  // Put the branch back where the ledger says, for the tests after this one.
  const last = parseLedger(await h.ledger()).entries.at(-1)!;
  await h.repo.forcePush('release', fieldText(last, 'branch_tip_after')!);
});

test('a deploy that never shows the commit is DeployNotObserved and rolled back', async () => {
  const good = await promoteGood(h, 'feature: before a stuck deploy');
  const next = await h.repo.commit('feature: deploy gets stuck');
  // Production reports a fixed version: the new commit never appears.
  const stuck = await createHarnessFixedVersion();
  try {
    const handle = await h.start(
      h.request(next, { productionBase: stuck.url, deployWait: { path: '/health', field: 'version', timeout: '2s' } }),
    );
    const { type, status } = await failureOf(handle);
    await recordHistory(handle, 'promotion-deploy-not-observed');
    expect(type).toBe('DeployNotObserved');
    expect(status.stage).toBe('rolled_back');
    expect(status.timeline.map((t) => t.stage)).toContain('awaiting_deploy');
    expect(status.prodVerification).toEqual([]);
    expect(await h.repo.tip('release')).toBe(good);
    // Several polls happened on durable timers, not one long activity.
    expect(stuck.requests.filter((r) => r.path === '/health').length).toBeGreaterThan(3);
  } finally {
    await stuck.close();
  }
});

async function createHarnessFixedVersion() {
  const { startSampleService } = await import('../sample/service');
  return startSampleService({ name: 'stuck-production', version: 'v-old' });
}

test('a deploy wait passes as soon as production reports the commit', async () => {
  const sha = await h.repo.commit('feature: observed deploy');
  const status = await (
    await h.start(h.request(sha, { deployWait: { path: '/health', field: 'version', timeout: '30s' } }))
  ).result();
  expect(status.stage).toBe('promoted');
  expect(status.timeline.map((t) => t.stage)).toEqual([
    'validating',
    'waiting_for_staging',
    'staging_gates',
    'waiting_for_lock',
    'promoting',
    'awaiting_deploy',
    'verifying',
    'promoted',
  ]);
  expect(fieldText(await entryOf(h, status.releaseId), 'notes')).not.toContain('not confirmed');
});

test('drift is refused with ReleaseBranchDrifted, and with acceptDrift promoted and recorded', async () => {
  const good = await promoteGood(h, 'feature: before drift');
  const elsewhere = await h.repo.commit('pushed around the tool');
  await h.repo.forcePush('release', elsewhere);
  const next = await h.repo.commit('feature: after drift');

  const refused = await failureOf(await h.start(h.request(next)));
  expect(refused.type).toBe('ReleaseBranchDrifted');
  expect(refused.message).toContain(good);
  expect(refused.message).toContain('acceptDrift');
  expect(refused.status.stage).toBe('drifted');
  expect(await h.repo.tip('release')).toBe(elsewhere);
  expect(fieldText(await entryOf(h, refused.status.releaseId), 'result')).toBe('fail');
  // Refusing once does not make the drift look reconciled: a second try is refused too.
  expect((await failureOf(await h.start(h.request(next)))).type).toBe('ReleaseBranchDrifted');

  const accepted = await (await h.start(h.request(next, { acceptDrift: true }))).result();
  expect(accepted.stage).toBe('promoted');
  expect(accepted.drift).toEqual({ expected: good, found: elsewhere, accepted: true });
  expect(fieldText(await entryOf(h, accepted.releaseId), 'drift')).toBe(
    `expected ${good}, found ${elsewhere}; accepted (acceptDrift)`,
  );
  expect(await h.repo.tip('release')).toBe(next);
});

test('a downgrade is refused, and with allowDowngrade done and recorded', async () => {
  const older = await promoteGood(h, 'feature: older');
  const newer = await promoteGood(h, 'feature: newer');
  const refused = await failureOf(await h.start(h.request(older)));
  expect(refused.type).toBe('DowngradeRefused');
  expect(refused.status.stage).toBe('refused');
  expect(await h.repo.tip('release')).toBe(newer);

  const allowed = await (await h.start(h.request(older, { allowDowngrade: true }))).result();
  expect(allowed.stage).toBe('promoted');
  expect(await h.repo.tip('release')).toBe(older);
  expect(fieldText(await entryOf(h, allowed.releaseId), 'downgrade')).toContain(`${newer} -> ${older}`);
  await promoteGood(h, 'feature: forward again');
});

test('cancelled before the push: fail entry, stage cancelled, nothing pushed', async () => {
  const before = await h.repo.tip('release');
  h.staging.configure({ latencyMs: 1_500 });
  try {
    const sha = await h.repo.commit('feature: cancelled early');
    const handle = await h.start(h.request(sha));
    await waitForStage(handle, 'staging_gates');
    await handle.cancel();
    await expect(handle.result()).rejects.toThrow(WorkflowFailedError);
    const status = await handle.query(statusQuery);
    expect(status.stage).toBe('cancelled');
    expect(status.pushed).toBe(false);
    expect(await h.repo.tip('release')).toBe(before);
    expect(fieldText(await entryOf(h, status.releaseId), 'result')).toBe('fail');
    expect((await handle.describe()).status.name).toBe('CANCELLED');
  } finally {
    h.staging.configure({ latencyMs: 0 });
  }
});

test('cancelled after the push: rolled back first, then the fail entry', async () => {
  const good = await promoteGood(h, 'feature: good before a cancel');
  h.production.configure({ latencyMs: 1_500 });
  try {
    const sha = await h.repo.commit('feature: cancelled late');
    const handle = await h.start(h.request(sha));
    await waitForStage(handle, 'verifying');
    expect(await h.repo.tip('release')).toBe(sha);
    await handle.cancel();
    await expect(handle.result()).rejects.toThrow(WorkflowFailedError);
    const status = await handle.query(statusQuery);
    expect(status.stage).toBe('cancelled');
    expect(status.rollback?.result).toBe('completed');
    expect(await h.repo.tip('release')).toBe(good);
    expect(fieldText(await entryOf(h, status.rollback?.releaseId), 'result')).toBe('completed');
    expect(fieldText(await entryOf(h, status.releaseId), 'result')).toBe('fail');
  } finally {
    h.production.configure({ latencyMs: 0 });
  }
});

test('a manual rollback started from the Temporal client moves the branch back and writes its entry', async () => {
  const good = await promoteGood(h, 'feature: last known good');
  const current = await promoteGood(h, 'feature: regret');
  const handle = await h.env.client.workflow.start(rollbackWorkflow, {
    taskQueue: h.taskQueue,
    workflowId: uniqueId('rollback'),
    args: [
      {
        repo: h.repo.bare,
        productionBase: h.production.url,
        fromSha: current,
        toSha: good,
        trigger: '5xx spike after deploy',
        operator: 'oncall-bob',
      },
    ],
  });
  const status: RollbackStatus = await handle.result();
  await recordHistory(handle, 'rollback-manual');
  expect(status.stage).toBe('rolled_back');
  expect(status.result).toBe('completed');
  expect(await h.repo.tip('release')).toBe(good);
  const entry = await entryOf(h, status.releaseId);
  expect(fieldText(entry, 'trigger')).toBe('5xx spike after deploy');
  expect(fieldText(entry, 'operator')).toBe('oncall-bob');
  expect(entry.fields.has('promotion_release_id')).toBe(false);
});

test('a manual rollback with a bad sha is refused and changes nothing', async () => {
  const before = await h.ledger();
  const handle = await h.env.client.workflow.start(rollbackWorkflow, {
    taskQueue: h.taskQueue,
    workflowId: uniqueId('rollback'),
    args: [
      {
        repo: h.repo.bare,
        productionBase: h.production.url,
        fromSha: 'abc',
        toSha: 'def',
        trigger: 'x',
        operator: 'bob',
      },
    ],
  });
  const err = await handle.result().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect((err as WorkflowFailedError).cause).toMatchObject({ type: 'InvalidRollbackRequest' });
  expect((err as WorkflowFailedError).cause?.message).toContain('fromSha:');
  expect(await h.ledger()).toBe(before);
});
