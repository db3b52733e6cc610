// Superseding on the real dev server (SPEC §9 "Concurrency"): with `concurrency: "supersede"`, a
// newer promotion whose gates passed ends the older ones still waiting whose commit it descends
// from; never the lock holder, never one that pushed, never one whose commit is not its ancestor.
import { fieldText } from '../src/ledger/format';
import { decideUpdate, statusQuery } from '../src/workflows/messages';
import type { SampleRepo } from '../sample/repo';
import { createRegistryHarness, entryOf, failureOf, Harness, recordHistory, waitForStage } from './helpers';

let h: Harness;
let repo: SampleRepo;
let close: () => Promise<void>;

beforeAll(async () => {
  ({ h, repo, close } = await createRegistryHarness((target) => ({
    production: {
      ...target,
      concurrency: 'supersede',
      approval: { classes: ['A'], approvers: ['bob'] },
    },
  })));
});

afterAll(async () => {
  await close?.();
});

const request = (commitSha: string, operator = 'alice', extra: Record<string, unknown> = {}) => ({
  commitSha,
  changeClass: 'A',
  operator,
  ...extra,
});

test('a newer promotion supersedes two older waiting ones, not the holder that pushed nor one it does not descend from', async () => {
  const c0 = await repo.commit('feature: c0, pushed and soaking');
  const c1 = await repo.commit('feature: c1');
  const c2 = await repo.commit('feature: c2');
  const c3 = await repo.commit('feature: c3, the newer promotion');
  const c4 = await repo.commit('feature: c4, newer than c3');

  // The holder: approved, pushed, soaking with the target's lock.
  const holder = await h.start(request(c0, 'alice', { soak: '10m' }));
  await waitForStage(holder, 'awaiting_approval');
  await holder.executeUpdate(decideUpdate, { args: [{ decision: 'approve', approver: 'bob' }] });
  await waitForStage(holder, 'soaking');

  // Three waiting for approval after their gates, each started with a commit that does not
  // descend from an earlier waiter's, so none of them supersedes another: c4, then c2, then c1.
  const p4 = await h.start(request(c4, 'erin'));
  await waitForStage(p4, 'awaiting_approval');
  const p1 = await h.start(request(c2, 'alice'));
  await waitForStage(p1, 'awaiting_approval');
  const p2 = await h.start(request(c1, 'dave'));
  await waitForStage(p2, 'awaiting_approval');
  expect((await p1.query(statusQuery)).stage).toBe('awaiting_approval');
  expect((await p4.query(statusQuery)).stage).toBe('awaiting_approval');

  const newer = await h.start(request(c3, 'carol'));
  const newerStatus = await waitForStage(newer, 'awaiting_approval');

  for (const older of [p1, p2]) {
    const { type, message, status } = await failureOf(older);
    if (older === p1) await recordHistory(older, 'promotion-superseded');
    expect(type).toBe('Superseded');
    expect(message).toContain(`superseded by ${newerStatus.releaseId} (operator carol, commit ${c3})`);
    expect(status.stage).toBe('superseded');
    expect(status.pushed).toBe(false);
    const entry = await entryOf(h, status.releaseId);
    expect(fieldText(entry, 'result')).toBe('fail');
    expect(fieldText(entry, 'superseded_by')).toBe(`${newerStatus.releaseId} (operator carol, commit ${c3})`);
  }
  // c3 does not descend from c4: that one keeps waiting; the holder keeps soaking.
  expect((await p4.query(statusQuery)).stage).toBe('awaiting_approval');
  expect((await holder.query(statusQuery)).stage).toBe('soaking');
  expect(await repo.tip('release')).toBe(c0);
  for (const handle of [holder, p4, newer]) await handle.terminate('test done');
});

test('a newer promotion whose gates fail supersedes nobody', async () => {
  const c1 = await repo.commit('feature: waits');
  const older = await h.start(request(c1));
  await waitForStage(older, 'awaiting_approval');
  const c2 = await repo.commit('feature: fails its gates');
  h.staging.configure({ dbDown: true });
  try {
    const { type } = await failureOf(await h.start(request(c2)));
    expect(type).toBe('StagingGatesFailed');
  } finally {
    h.staging.configure({ dbDown: false });
  }
  expect((await older.query(statusQuery)).stage).toBe('awaiting_approval');
  await older.terminate('test done');
});
