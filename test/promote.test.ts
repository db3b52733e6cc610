// The promote step on a real repository and a real ledger file: the ledger's last tip is the
// push's lease, so drift is caught by the push itself, reported before a downgrade, and
// accepted only on request; without a recorded tip the remote is read.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { appendLedgerEntry } from '../src/ledger/store';
import { promoteCommit, PromoteArgs } from '../src/activities/promote';
import { fileLedger } from '../src/ledger/sink';
import { createSampleRepo, SampleRepo } from '../sample/repo';
import { failureOf, promoteAsTheWorkflowDoes, promotion } from './records';

let tmp: string;
let cacheDir: string;
let ledgerPath: string;
let repo: SampleRepo;

beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'promote-test-'));
  cacheDir = path.join(tmp, 'git-cache');
  ledgerPath = path.join(tmp, 'RELEASE_LOG.md');
  repo = await createSampleRepo(path.join(tmp, 'remote'));
});

afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const args = (targetSha: string, overrides: Partial<PromoteArgs> = {}): PromoteArgs => ({
  repo: repo.bare,
  branch: 'release',
  environment: 'production',
  targetSha,
  sourceBranch: 'main',
  allowDowngrade: false,
  acceptDrift: false,
  ...overrides,
});

/** A pass entry that left `release` on `tip`, as the previous promotion would have written it. */
async function recordTip(tip: string, releaseId = '20261125-0100-rc1'): Promise<void> {
  await appendLedgerEntry(
    ledgerPath,
    promotion(releaseId, `wf-${releaseId}`, { commitSha: tip, repo: repo.bare }),
    async () => tip,
  );
}

test('the recorded tip is the lease: the branch moves and the recorded tip is the last known good', async () => {
  await recordTip(repo.base);
  const next = await repo.commit('feature: next');

  const result = await promoteCommit(fileLedger(ledgerPath), cacheDir, args(next));

  expect(result).toEqual({ lastKnownGood: repo.base, pushed: true, downgrade: false });
  expect(await repo.tip('release')).toBe(next);
});

test('a branch moved away from the recorded tip is ReleaseBranchDrifted, carries the tip it found, and is not pushed', async () => {
  await recordTip(repo.base);
  const byHand = await repo.commit('hotfix pushed by hand');
  await repo.forcePush('release', byHand);
  const next = await repo.commit('feature: next');
  const reflogBefore = await repo.reflog('release');

  const err = await failureOf(promoteCommit(fileLedger(ledgerPath), cacheDir, args(next)));

  expect(err.type).toBe('ReleaseBranchDrifted');
  expect(err.message).toContain('20261125-0100-rc1');
  expect(err.message).toContain('acceptDrift: true');
  expect(err.details?.[0]).toEqual({
    lastKnownGood: byHand,
    drift: { expected: repo.base, found: byHand, accepted: false },
  });
  expect(await repo.tip('release')).toBe(byHand);
  expect(await repo.reflog('release')).toEqual(reflogBefore);
});

test('drift comes before a downgrade: a drifted branch and a non-descendant target is still ReleaseBranchDrifted', async () => {
  const old = await repo.commit('feature: old');
  await recordTip(old);
  const byHand = await repo.commit('hotfix pushed by hand');
  await repo.forcePush('release', byHand);

  // repo.base is not a descendant of the recorded tip: on its own that would be DowngradeRefused.
  const err = await failureOf(promoteCommit(fileLedger(ledgerPath), cacheDir, args(repo.base)));

  expect(err.type).toBe('ReleaseBranchDrifted');
  expect(await repo.tip('release')).toBe(byHand);
});

test('a downgrade from the recorded tip is DowngradeRefused and names the tip as last known good', async () => {
  const current = await repo.commit('feature: current');
  await repo.forcePush('release', current);
  await recordTip(current);

  const err = await failureOf(promoteCommit(fileLedger(ledgerPath), cacheDir, args(repo.base)));

  expect(err.type).toBe('DowngradeRefused');
  expect(err.details?.[0]).toEqual({ lastKnownGood: current });
  expect(await repo.tip('release')).toBe(current);
});

const promote = (a: PromoteArgs) =>
  promoteAsTheWorkflowDoes((call) => promoteCommit(fileLedger(ledgerPath), cacheDir, call), a);

test('with acceptDrift the drifted tip comes back unpushed, then is the lease and the last known good, and the drift is reported', async () => {
  await recordTip(repo.base);
  const byHand = await repo.commit('hotfix pushed by hand');
  await repo.forcePush('release', byHand);
  const next = await repo.commit('feature: next');

  const first = await promoteCommit(fileLedger(ledgerPath), cacheDir, args(next, { acceptDrift: true }));
  expect(first).toEqual({
    lastKnownGood: byHand,
    pushed: false,
    downgrade: false,
    drift: { expected: repo.base, found: byHand, accepted: true },
    pushFrom: { tip: byHand },
  });
  expect(await repo.tip('release')).toBe(byHand);
  const result = await promote(args(next, { acceptDrift: true }));

  expect(result).toEqual({
    lastKnownGood: byHand,
    pushed: true,
    downgrade: false,
    drift: { expected: repo.base, found: byHand, accepted: true },
  });
  expect(await repo.tip('release')).toBe(next);
});

test('with nothing recorded for the environment the remote tip is read, comes back unpushed, and is then the lease', async () => {
  const next = await repo.commit('feature: first promotion');

  const first = await promoteCommit(fileLedger(ledgerPath), cacheDir, args(next));
  expect(first).toEqual({ lastKnownGood: repo.base, pushed: false, downgrade: false, pushFrom: { tip: repo.base } });
  expect(await repo.tip('release')).toBe(repo.base);
  const result = await promoteCommit(fileLedger(ledgerPath), cacheDir, args(next, { lease: first.pushFrom }));

  expect(result).toEqual({ lastKnownGood: repo.base, pushed: true, downgrade: false });
  expect(await repo.tip('release')).toBe(next);
});

test('with nothing recorded, a retry of the push after it landed still names the tip it replaced, not the commit', async () => {
  const next = await repo.commit('feature: first promotion');
  const first = await promoteCommit(fileLedger(ledgerPath), cacheDir, args(next));
  await promoteCommit(fileLedger(ledgerPath), cacheDir, args(next, { lease: first.pushFrom }));
  const reflogAfterFirst = await repo.reflog('release');

  const retry = await promoteCommit(fileLedger(ledgerPath), cacheDir, args(next, { lease: first.pushFrom }));

  expect(retry).toEqual({ lastKnownGood: repo.base, pushed: false, downgrade: false });
  expect(await repo.reflog('release')).toEqual(reflogAfterFirst);
});

test('a retry after a push that landed (ledger not yet written) succeeds without pushing again', async () => {
  await recordTip(repo.base);
  const next = await repo.commit('feature: next');
  await promoteCommit(fileLedger(ledgerPath), cacheDir, args(next));
  const reflogAfterFirst = await repo.reflog('release');

  const retry = await promoteCommit(fileLedger(ledgerPath), cacheDir, args(next));

  expect(retry).toEqual({ lastKnownGood: repo.base, pushed: false, downgrade: false });
  expect(await repo.reflog('release')).toEqual(reflogAfterFirst);
});

test('a failed promotion that never pushed is no drift reference, whatever tip its entry read', async () => {
  await recordTip(repo.base);
  // Gates failed while another promotion of the target was moving the branch: its entry,
  // written without the lock, read a tip that is not where the branch stays.
  const elsewhere = await repo.commit('some other commit');
  await appendLedgerEntry(
    ledgerPath,
    promotion('20261125-0100-rc2', 'wf-rc2', { result: 'fail', stagingGateResult: 'fail', commitSha: elsewhere }),
    async () => elsewhere,
  );
  const next = await repo.commit('feature: next');

  const result = await promoteCommit(fileLedger(ledgerPath), cacheDir, args(next));

  expect(result).toEqual({ lastKnownGood: repo.base, pushed: true, downgrade: false });
  expect(await repo.tip('release')).toBe(next);
});
