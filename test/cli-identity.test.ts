// Who the CLI claims to act as (SPEC §1): `approve` and `reject` need --as or
// RELEASE_PROMOTER_IDENTITY and refuse (exit 2, nothing sent) without; --as wins over the
// variable; `rollback` may fall back to the OS user and says so. A real CLI process against the
// real dev server and worker; what counted is read from the workflow's own status and the ledger.
import os from 'node:os';
import type { PromotionStatus } from '../src/domain';
import { fieldText, parseLedger } from '../src/ledger/format';
import { statusQuery } from '../src/workflows/messages';
import { CliRun } from './cli-process';
import { useCliHarness } from './cli-harness';
import { Harness, waitFor } from './helpers';

const suite = useCliHarness();
let h: Harness;
beforeAll(() => {
  h = suite.current();
});

/** The CLI with no identity in its environment unless `identity` is given. */
function cli(args: string[], identity?: string): Promise<CliRun> {
  return suite.cli(args, { RELEASE_PROMOTER_IDENTITY: identity });
}

async function awaitingApproval(message: string) {
  const sha = await h.repo.commit(message);
  const handle = await h.start(h.request(sha, { changeClass: 'B' }));
  const status = await waitFor('awaiting_approval', async () => {
    const s = await handle.query(statusQuery).catch(() => undefined);
    return s?.stage === 'awaiting_approval' ? s : undefined;
  });
  return { handle, status };
}

const HOW = 'pass --as <name> or set RELEASE_PROMOTER_IDENTITY';

test('approve and reject without --as or RELEASE_PROMOTER_IDENTITY are refused with 2 and record nothing', async () => {
  const { handle } = await awaitingApproval('feature: nobody said who');
  const approve = await cli(['approve', handle.workflowId]);
  expect(approve.code).toBe(2);
  expect(approve.stderr).toContain(`release-promoter: approve needs to know who you are: ${HOW}`);
  expect(approve.stdout).toBe('');
  // An empty variable is no identity either.
  const reject = await cli(['reject', handle.workflowId, '--reason', 'who knows'], '');
  expect(reject.code).toBe(2);
  expect(reject.stderr).toContain(`release-promoter: reject needs to know who you are: ${HOW}`);
  const badName = await cli(['approve', handle.workflowId, '--as', 'bob smith']);
  expect(badName.code).toBe(2);
  expect(badName.stderr).toContain('--as: must be 1–64 characters');

  const status = await handle.query(statusQuery);
  expect(status.stage).toBe('awaiting_approval');
  expect(status.approval.state).toBe('pending');
  expect(status.approval.decisions).toEqual([]);
  expect(status.approval.ignored).toEqual([]);
  await handle.terminate('test done');
}, 60_000);

test('approve --as counts under that name, over RELEASE_PROMOTER_IDENTITY', async () => {
  const { handle, status: before } = await awaitingApproval('feature: decided --as bob');
  expect(before.operator).toBe('alice');
  // The variable names the operator (whose approval would not count); --as wins.
  const run = await cli(['approve', handle.workflowId, '--as', 'bob', '--comment', 'lgtm'], 'alice');
  expect(run.code).toBe(0);
  expect(run.stdout).toContain('counted: bob approved; approval approved (1/1 approvals)');
  const final = (await handle.result()) as PromotionStatus;
  expect(final.stage).toBe('promoted');
  expect(final.approval.decisions).toEqual([
    expect.objectContaining({ decision: 'approve', approver: 'bob', comment: 'lgtm' }),
  ]);
  expect(final.approval.ignored).toEqual([]);
}, 60_000);

test('reject --as with no variable counts under that name', async () => {
  const { handle } = await awaitingApproval('feature: rejected --as carol');
  const run = await cli(['reject', handle.workflowId, '--as', 'carol', '--reason', 'freeze week']);
  expect(run.code).toBe(0);
  expect(run.stdout).toContain('counted: carol rejected');
  const status = await handle.query(statusQuery);
  expect(status.approval.decisions).toEqual([
    expect.objectContaining({ decision: 'reject', approver: 'carol', reason: 'freeze week' }),
  ]);
  await handle.result().catch(() => undefined);
}, 60_000);

test('rollback may run as the OS user and says so; --as names the operator', async () => {
  const good = await h.repo.commit('feature: good');
  expect((await (await h.start(h.request(good))).result()).stage).toBe('promoted');
  const regret = await h.repo.commit('feature: regret');
  expect((await (await h.start(h.request(regret))).result()).stage).toBe('promoted');
  const target = ['--repo', h.repo.bare, '--production-base', h.production.url];

  const asOsUser = await cli(['rollback', ...target, '--json']);
  expect(asOsUser.code).toBe(0);
  const user = os.userInfo().username;
  expect(asOsUser.stderr).toContain(`release-promoter: acting as ${user} (the OS user); ${HOW}`);
  expect(await h.repo.tip('release')).toBe(good);
  const first = parseLedger(await h.ledger()).entries.at(-1)!;
  expect(fieldText(first, 'type')).toBe('rollback');
  expect(fieldText(first, 'operator')).toBe(user);

  const asCarol = await cli(['rollback', ...target, '--to', regret, '--as', 'carol', '--json'], 'alice');
  expect(asCarol.code).toBe(0);
  expect(asCarol.stderr).not.toContain('acting as');
  expect(await h.repo.tip('release')).toBe(regret);
  const second = parseLedger(await h.ledger()).entries.at(-1)!;
  expect(fieldText(second, 'type')).toBe('rollback');
  expect(fieldText(second, 'to_sha')).toBe(regret);
  expect(fieldText(second, 'operator')).toBe('carol');
}, 90_000);
