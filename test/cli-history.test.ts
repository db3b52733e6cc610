// `release-promoter history --environment E` as a user runs it (a real CLI process), over a ledger
// written by real promotions (real worker, dev server, sample services and git repo): what is in
// production now and since when, every release newest first with operator, approvers, result and
// the commits it added over the previous good release; an unreachable repo is said, not fatal.
import { rename } from 'node:fs/promises';
import type { PromotionStatus, RollbackStatus } from '../src/domain';
import { rollbackWorkflow } from '../src/workflows';
import { decideUpdate } from '../src/workflows/messages';
import { CliRun } from './cli-process';
import { useCliHarness } from './cli-harness';
import { Harness, uniqueId, waitForStage } from './helpers';

const suite = useCliHarness();
let h: Harness;
beforeAll(() => {
  h = suite.current();
});

const cli = (args: string[]): Promise<CliRun> => suite.cli(args);

interface Release {
  releaseId: string;
  type: string;
  sha?: string;
  operator?: string;
  approvals: Array<{ approver: string; at?: string; comment?: string }>;
  result?: string;
  commits: { over?: string; overRelease?: string; list?: Array<{ sha: string; subject: string }>; note?: string };
}
interface History {
  now: Array<{ sha: string; releaseId: string; operator?: string; approvals: Array<{ approver: string }> }>;
  releases: Release[];
  older: number;
}

/** "2026-12-02 03:10" from a release id. */
const whenOf = (releaseId: string) =>
  `${releaseId.slice(0, 4)}-${releaseId.slice(4, 6)}-${releaseId.slice(6, 8)} ${releaseId.slice(9, 11)}:${releaseId.slice(11, 13)}`;

let first: PromotionStatus;
let second: PromotionStatus;
let third: PromotionStatus;
const shas: Record<string, string> = {};

beforeAll(async () => {
  // 1: class A by alice. 2: two commits, class B by dave, approved by bob. 3: class B, rejected.
  shas.one = await h.repo.commit('feature: one');
  first = await (await h.start(h.request(shas.one))).result();
  shas.twoA = await h.repo.commit('feature: two-a');
  shas.twoB = await h.repo.commit('feature: two-b');
  const b = await h.start(h.request(shas.twoB, { changeClass: 'B', operator: 'dave' }));
  await waitForStage(b, 'awaiting_approval');
  await b.executeUpdate(decideUpdate, { args: [{ decision: 'approve', approver: 'bob', comment: 'lgtm' }] });
  second = await b.result();
  shas.three = await h.repo.commit('feature: three');
  const c = await h.start(h.request(shas.three, { changeClass: 'B' }));
  await waitForStage(c, 'awaiting_approval');
  await c.executeUpdate(decideUpdate, { args: [{ decision: 'reject', approver: 'carol', reason: 'freeze' }] });
  third = await c
    .result()
    .catch((err: { cause?: { details?: unknown[] } }) => err.cause?.details?.[0] as PromotionStatus);
}, 180_000);

test('history says what is in production now, since when and by whom, and each release with the commits it added', async () => {
  expect([first.stage, second.stage, third.stage]).toEqual(['promoted', 'promoted', 'rejected']);
  const run = await cli(['history', '--environment', 'production']);
  expect(run.code).toBe(0);
  const lines = run.stdout.split('\n');
  expect(lines[0]).toBe(
    `production now: ${shas.twoB?.slice(0, 10)} since ${whenOf(second.releaseId as string)} UTC, release ${second.releaseId}, promoted by dave, approved by bob`,
  );
  expect(lines[1]).toMatch(/^release id\s+sha\s+when \(UTC\)\s+operator\s+approvers\s+result\s+commits added$/);
  const rowAt = (releaseId: string) => lines.findIndex((l) => l.startsWith(`${releaseId} `));
  // Newest first.
  const [i3, i2, i1] = [third, second, first].map((s) => rowAt(s.releaseId as string));
  expect(i3).toBeGreaterThan(1);
  expect(i2).toBeGreaterThan(i3 as number);
  expect(i1).toBeGreaterThan(i2 as number);
  expect(lines[i3 as number]).toMatch(
    new RegExp(
      `^${third.releaseId}\\s+${shas.three?.slice(0, 10)}\\s+${whenOf(third.releaseId as string)}\\s+alice\\s+—\\s+fail: ApprovalRejected\\s+[0-9a-f]{7,} feature: three$`,
    ),
  );
  expect(lines[i2 as number]).toMatch(
    new RegExp(
      `^${second.releaseId}\\s+${shas.twoB?.slice(0, 10)}\\s+\\S+ \\S+\\s+dave\\s+bob\\s+pass\\s+[0-9a-f]{7,} feature: two-b$`,
    ),
  );
  // The second commit of release 2 on the line below, under the commits column.
  expect(lines[(i2 as number) + 1]).toMatch(/^\s+[0-9a-f]{7,} feature: two-a$/);
  expect(lines[i1 as number]).toMatch(
    new RegExp(`^${first.releaseId}\\s+${shas.one?.slice(0, 10)}\\s+\\S+ \\S+\\s+alice\\s+—\\s+pass\\s+first release`),
  );

  const json = JSON.parse((await cli(['history', '--environment', 'production', '--json'])).stdout) as History;
  expect(json.now).toEqual([
    expect.objectContaining({
      sha: shas.twoB,
      releaseId: second.releaseId,
      operator: 'dave',
      approvals: [expect.objectContaining({ approver: 'bob', comment: 'lgtm' })],
    }),
  ]);
  expect(json.releases.map((r) => r.releaseId)).toEqual([third.releaseId, second.releaseId, first.releaseId]);
  const [r3, r2, r1] = json.releases as [Release, Release, Release];
  expect(r3).toMatchObject({ type: 'promotion', sha: shas.three, operator: 'alice', result: 'fail', approvals: [] });
  expect(r3.commits).toMatchObject({ over: shas.twoB, overRelease: second.releaseId });
  expect(r3.commits.list?.map((c) => c.subject)).toEqual(['feature: three']);
  expect(r2).toMatchObject({ sha: shas.twoB, operator: 'dave', result: 'pass' });
  expect(r2.approvals).toEqual([{ approver: 'bob', at: second.approval.decisions[0]?.at, comment: 'lgtm' }]);
  expect(r2.commits).toMatchObject({ over: shas.one, overRelease: first.releaseId });
  expect(r2.commits.list?.map((c) => c.subject)).toEqual(['feature: two-b', 'feature: two-a']);
  expect(r2.commits.list?.every((c, i) => [shas.twoB, shas.twoA][i]?.startsWith(c.sha))).toBe(true);
  expect(r1.commits.list).toBeUndefined();
  expect(r1.commits.note).toMatch(/first release/);

  const limited = JSON.parse(
    (await cli(['history', '--environment', 'production', '--json', '--limit', '2', '--ledger', h.ledgerPath])).stdout,
  ) as History;
  expect(limited.releases.map((r) => r.releaseId)).toEqual([third.releaseId, second.releaseId]);
  expect(limited.older).toBe(1);
});

test('history with the repo unreachable says so in the commits column and still exits 0', async () => {
  const moved = `${h.repo.bare}.moved`;
  await rename(h.repo.bare, moved);
  try {
    const run = await cli(['history', '--environment', 'production']);
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n')[0]).toContain(`release ${second.releaseId}, promoted by dave, approved by bob`);
    const rows = run.stdout
      .split('\n')
      .filter((l) => l.startsWith(`${third.releaseId} `) || l.startsWith(`${second.releaseId} `));
    expect(rows).toHaveLength(2);
    for (const row of rows) expect(row).toMatch(/repo unreachable/);
    const json = JSON.parse((await cli(['history', '--environment', 'production', '--json'])).stdout) as History;
    expect(json.releases[0]?.commits.note).toMatch(/^repo unreachable: /);
    expect(json.releases[0]?.commits.list).toBeUndefined();
  } finally {
    await rename(moved, h.repo.bare);
  }
});

test('history of an environment with no releases says so; a bad environment or --limit is exit 2', async () => {
  const none = await cli(['history', '--environment', 'canary']);
  expect(none.code).toBe(0);
  expect(none.stdout).toContain('no releases of canary');
  const bad = await cli(['history', '--environment', 'Prod!']);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('--environment');
  const limit = await cli(['history', '--environment', 'production', '--limit', 'abc']);
  expect(limit.code).toBe(2);
  expect(limit.stderr).toContain('--limit');
  const missing = await cli(['history']);
  expect(missing.code).toBe(2);
});

test('after a rollback, production now is the restored commit, who rolled back, and who first released it; the rollback lists what it took out', async () => {
  const rollback: RollbackStatus = await (
    await h.env.client.workflow.start(rollbackWorkflow, {
      taskQueue: h.taskQueue,
      workflowId: uniqueId('rollback'),
      args: [
        {
          repo: h.repo.bare,
          productionBase: h.production.url,
          fromSha: shas.twoB as string,
          toSha: shas.one as string,
          trigger: 'error rate up',
          operator: 'oncall-bob',
        },
      ],
    })
  ).result();
  expect(rollback.result).toBe('completed');
  const run = await cli(['history', '--environment', 'production']);
  expect(run.code).toBe(0);
  const lines = run.stdout.split('\n');
  expect(lines[0]).toBe(
    `production now: ${shas.one?.slice(0, 10)} since ${whenOf(rollback.releaseId as string)} UTC, rolled back by oncall-bob (${rollback.releaseId}); first released as ${first.releaseId} by alice, no approvals`,
  );
  const at = lines.findIndex((l) => l.startsWith(`${rollback.releaseId} `));
  expect(lines[at]).toMatch(
    new RegExp(
      `^${rollback.releaseId}\\s+${shas.one?.slice(0, 10)}\\s+\\S+ \\S+\\s+oncall-bob\\s+—\\s+completed\\s+took out:$`,
    ),
  );
  expect(lines[at + 1]).toMatch(/^\s+- [0-9a-f]{7,} feature: two-b$/);
  expect(lines[at + 2]).toMatch(/^\s+- [0-9a-f]{7,} feature: two-a$/);
  const json = JSON.parse((await cli(['history', '--environment', 'production', '--json'])).stdout) as History;
  expect(json.now).toEqual([
    expect.objectContaining({
      sha: shas.one,
      releaseId: rollback.releaseId,
      operator: 'oncall-bob',
      releasedBy: expect.objectContaining({ releaseId: first.releaseId, operator: 'alice' }),
    }),
  ]);
});
