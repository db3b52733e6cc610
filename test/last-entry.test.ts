// No push without an entry, ever (SPEC §3): a ledger that cannot be written keeps the promotion in
// stage `recording` (never undoing a verified release), and a promotion terminated while it holds
// its target gets its entry from the target's lock before anyone else may move the branch.
// Real dev server, real worker, real git, a real ledger file made unwritable for real.
import { mkdir, rename, rm } from 'node:fs/promises';
import type { WorkflowHandle } from '@temporalio/client';
import type { PromotionStatus } from '../src/domain';
import { fieldText, parseLedger } from '../src/ledger/format';
import { statusQuery } from '../src/workflows/messages';
import { startSampleService } from '../sample/service';
import { createHarness, Harness, releaseIds, waitFor } from './helpers';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

const statusOf = (handle: WorkflowHandle) => handle.query(statusQuery) as Promise<PromotionStatus>;

test('a ledger that cannot be written keeps a verified promotion in stage recording, holding its release, until the entry is written', async () => {
  const good = await h.repo.commit('feature: verified while the ledger is broken');
  // Production reports the commit only when the test says so: the ledger breaks after the push.
  const gated = await startSampleService({ name: 'gated-production', version: 'not-yet' });
  const aside = `${h.ledgerPath}.aside`;
  let handle: WorkflowHandle;
  try {
    handle = await h.start(
      h.request(good, { productionBase: gated.url, deployWait: { path: '/health', field: 'version', timeout: '5m' } }),
    );
    await waitFor(
      'the promotion to push and wait for the deploy',
      async () => (await statusOf(handle)).stage === 'awaiting_deploy',
    );
    // The ledger path becomes a directory: every append fails for real (EISDIR), as root too.
    await rename(h.ledgerPath, aside);
    await mkdir(h.ledgerPath);
    gated.configure({ version: good });
    const recording = await waitFor('the promotion to retry its entry in stage recording', async () => {
      const s = await statusOf(handle);
      return s.stage === 'recording' && s;
    });
    expect(recording.recording?.error).toBeTruthy();
    expect(recording.prodVerification.map((g) => g.pass)).toEqual([true, true, true, true]);
    // Verified, not undone: the branch stays on the commit and no rollback was started.
    expect(await h.repo.tip('release')).toBe(good);
    expect(recording.rollback).toBeUndefined();
    expect(recording.timeline.map((t) => t.stage)).not.toContain('rolling_back');
  } finally {
    await rm(h.ledgerPath, { recursive: true, force: true });
    await rename(aside, h.ledgerPath).catch(() => undefined);
    await gated.close();
  }
  const status: PromotionStatus = await handle.result();
  expect(status.stage).toBe('promoted');
  expect(status.recording).toBeUndefined();
  expect(status.timeline.map((t) => t.stage).slice(-2)).toEqual(['recording', 'promoted']);
  const entries = parseLedger(await h.ledger()).entries;
  const mine = entries.filter((e) => e.releaseId === status.releaseId);
  expect(mine).toHaveLength(1);
  expect(fieldText(mine[0]!, 'result')).toBe('pass');
  expect(entries.filter((e) => fieldText(e, 'type') === 'rollback')).toEqual([]);
  expect(await h.repo.tip('release')).toBe(good);
});

test('a promotion terminated after its push gets a fail entry from the lock, with the tip found, and the next promotion is not refused for drift', async () => {
  const pushedSha = await h.repo.commit('feature: terminated after its push');
  // Production never reports the commit, so the promotion sits in its deploy wait after pushing.
  const gated = await startSampleService({ name: 'never-deployed', version: 'not-yet' });
  try {
    const handle = await h.start(
      h.request(pushedSha, {
        productionBase: gated.url,
        deployWait: { path: '/health', field: 'version', timeout: '10m' },
      }),
    );
    const waiting = await waitFor('the promotion to push and wait for the deploy', async () => {
      const s = await statusOf(handle);
      return s.stage === 'awaiting_deploy' && s;
    });
    expect(await h.repo.tip('release')).toBe(pushedSha);
    await handle.terminate('operator terminated it mid-deploy');

    const entry = await waitFor('the lock to record the terminated promotion', async () =>
      parseLedger(await h.ledger()).entries.find((e) => e.releaseId === waiting.releaseId),
    );
    expect(fieldText(entry, 'result')).toBe('fail');
    expect(fieldText(entry, 'commit_sha')).toBe(pushedSha);
    expect(fieldText(entry, 'branch_tip_after')).toBe(pushedSha);
    expect(fieldText(entry, 'notes')).toContain('PromotionClosed');
    expect(fieldText(entry, 'closed_while_holding')).toContain('(pushed)');
    expect(fieldText(entry, 'workflow_id')).toBe(handle.workflowId);
  } finally {
    await gated.close();
  }

  // The entry keeps the drift reference true: the branch is where the ledger says.
  const next = await h.repo.commit('feature: after the terminated one');
  const status: PromotionStatus = await (await h.start(h.request(next))).result();
  expect(status.stage).toBe('promoted');
  expect(status.drift).toBeUndefined();
  const ids = releaseIds(await h.ledger());
  expect(new Set(ids).size).toBe(ids.length);
});
