// Dry runs on the real dev server (SPEC §9): the staging gates run, the report says what a
// promotion would meet, and the ledger, the reservations and the branch stay as they were, byte for byte.
import { readFile } from 'node:fs/promises';
import { statusQuery } from '../src/workflows/messages';
import { createHarness, Harness, promoteGood, recordHistory, waitForStage } from './helpers';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

const bytes = async (file: string) => readFile(file).catch(() => Buffer.alloc(0));

/** What a dry run must not change: the ledger, its reservations file, the release branch. */
async function snapshot() {
  return {
    ledger: await bytes(h.ledgerPath),
    reservations: await bytes(`${h.ledgerPath}.reservations`),
    release: await h.repo.tip('release'),
  };
}

test('a dry run runs the gates, reports approval, lock, drift and downgrade, and changes nothing', async () => {
  const good = await promoteGood(h, 'feature: before the dry run');
  const sha = await h.repo.commit('feature: dry run me');
  const before = await snapshot();
  expect(before.ledger.length).toBeGreaterThan(0);
  const handle = await h.start(h.request(sha, { dryRun: true, changeClass: 'B', approval: { approvers: ['bob'] } }));
  const status = await handle.result();
  await recordHistory(handle, 'promotion-dry-run');

  expect(status.stage).toBe('dry_run');
  expect(status.releaseId).toBeUndefined();
  expect(status.pushed).toBe(false);
  expect(status.gates.length).toBeGreaterThan(0);
  expect(status.gates.every((g) => g.pass)).toBe(true);
  const report = status.dryRun!;
  expect(report).toMatchObject({
    stage: 'dry_run',
    commitSha: sha,
    approval: { required: true, approvers: ['bob'], minApprovals: 1 },
    lock: { queue: [] },
    tip: good,
    drift: { expected: good, found: good, verdict: 'none' },
    downgrade: 'fast-forward',
  });
  expect(report.lock.holder).toBeUndefined();
  expect(report.wouldEnd).toBeUndefined();
  expect(report.verdicts).toEqual(
    expect.arrayContaining([
      'approval required: 1 of bob (not the operator alice) within 1d',
      `push ${good} -> ${sha}: a fast-forward`,
      'dry run: nothing was reserved, pushed or recorded',
    ]),
  );
  expect(status.timeline.map((t) => t.stage)).toEqual([
    'validating',
    'waiting_for_staging',
    'staging_gates',
    'dry_run',
  ]);
  expect(await snapshot()).toEqual(before);
});

test('a dry run names the lock holder, a drift and a downgrade a promotion would be refused for', async () => {
  const older = await h.repo.commit('feature: an older commit');
  const good = await promoteGood(h, 'feature: promoted after it');
  // A promotion that soaks holds the target's lock.
  const holderSha = await h.repo.commit('feature: holding the lock');
  const holder = await h.start(h.request(holderSha, { soak: '10m' }));
  await waitForStage(holder, 'soaking');
  // Someone moves release by hand, to an older commit than the ledger's last entry left it at.
  await h.repo.forcePush('release', older);
  const before = await snapshot();

  // The sample's first commit: not a descendant of that tip.
  const status = await (await h.start(h.request(h.repo.base, { dryRun: true }))).result();

  const report = status.dryRun!;
  expect(report.lock.holder).toBe(holder.workflowId);
  expect(report.drift).toEqual({ expected: good, found: older, verdict: 'refused' });
  expect(report.downgrade).toBe('refused');
  expect(report.wouldEnd?.type).toBe('ReleaseBranchDrifted');
  expect(report.verdicts.join('\n')).toContain(`held by ${holder.workflowId}`);
  expect(await snapshot()).toEqual(before);
  expect((await holder.query(statusQuery)).stage).toBe('soaking');
  await holder.terminate('test done');
});
