// One exit-code table for every command (src/cli/exit-codes.ts), as a user meets it: a real CLI
// process against the real dev server and worker. Each row: 0 done, 1 not done, 2 refused before
// anything happened, 3 Temporal unavailable. And the global options: --version, --address,
// --namespace.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { EXIT, EXIT_CODE_TABLE } from '../src/cli/exit-codes';
import type { PromotionStatus } from '../src/domain';
import { freeLoopbackPort } from '../src/free-port';
import { decideUpdate, statusQuery } from '../src/workflows/messages';
import { CliRun, ROOT, runCli } from './cli-process';
import { harnessCliEnv, useCliHarness } from './cli-harness';
import { Harness, uniqueId, waitFor } from './helpers';

const suite = useCliHarness();
let h: Harness;
beforeAll(() => {
  h = suite.current();
});

function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return harnessCliEnv(h, { TEMPORAL_NAMESPACE: '', ...extra });
}

function cli(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return runCli(args, cliEnv(extra));
}

async function awaitingApproval(message: string) {
  const sha = await h.repo.commit(message);
  const handle = await h.start(h.request(sha, { changeClass: 'B' }));
  await waitFor(
    'awaiting_approval',
    async () => (await handle.query(statusQuery).catch(() => undefined))?.stage === 'awaiting_approval',
  );
  return handle;
}

test('--help prints the exit-code table, the global options and --version', async () => {
  const run = await cli(['--help']);
  expect(run.code).toBe(EXIT.ok);
  expect(run.stdout).toContain(`Exit codes (every command):\n${EXIT_CODE_TABLE}\n`);
  for (const code of [0, 1, 2, 3]) expect(EXIT_CODE_TABLE).toMatch(new RegExp(`^  ${code}  `, 'm'));
  expect(run.stdout).toMatch(/--address <host:port>/);
  expect(run.stdout).toMatch(/--namespace <ns>/);
  expect(run.stdout).toMatch(/--version/);
});

test('--version prints the package version', async () => {
  const { version } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const run = await cli(['--version']);
  expect(run.code).toBe(EXIT.ok);
  expect(run.stdout.trim()).toBe(version);
});

test('usage errors exit 2: an unknown command, a missing argument, a bad --address or --namespace', async () => {
  const unknown = await cli(['promote-everything']);
  expect(unknown.code).toBe(EXIT.usage);
  expect(unknown.stderr).toContain("unknown command 'promote-everything'");
  const missing = await cli(['watch']);
  expect(missing.code).toBe(EXIT.usage);
  expect(missing.stderr).toContain("missing required argument 'workflowId'");
  const address = await cli(['--address', 'not an address', 'status', 'x']);
  expect(address.code).toBe(EXIT.usage);
  expect(address.stderr).toContain("option '--address <host:port>' argument 'not an address' is invalid");
  expect(address.stderr).toContain('must be host:port');
  const namespace = await cli(['--namespace', 'no spaces', 'status', 'x']);
  expect(namespace.code).toBe(EXIT.usage);
  expect(namespace.stderr).toContain("option '--namespace <ns>' argument 'no spaces' is invalid");
});

test('an unreachable server exits 3 naming the address, the namespace and what to do; --address overrides TEMPORAL_ADDRESS', async () => {
  const closed = `127.0.0.1:${await freeLoopbackPort()}`;
  // TEMPORAL_ADDRESS reaches the server; --address, given, is the one used.
  const run = await cli(['--address', closed, '--namespace', 'ns-1', 'watch', 'anything']);
  expect(run.code).toBe(EXIT.unavailable);
  expect(run.stderr).toContain(`release-promoter: cannot reach Temporal at ${closed} (namespace ns-1): `);
  expect(run.stderr).toContain('ECONNREFUSED');
  expect(run.stderr).toContain('; is the server running? set TEMPORAL_ADDRESS or --address');
  expect(run.stdout).toBe('');
  // After the command, too (commander takes program options anywhere), and from TEMPORAL_ADDRESS.
  const after = await cli(['status', 'anything', '--address', closed]);
  expect(after.code).toBe(EXIT.unavailable);
  expect(after.stderr).toContain(`cannot reach Temporal at ${closed} (namespace default)`);
  const fromEnv = await cli(['approve', 'anything'], { TEMPORAL_ADDRESS: closed });
  expect(fromEnv.code).toBe(EXIT.unavailable);
  expect(fromEnv.stderr).toContain(`cannot reach Temporal at ${closed} (namespace default)`);
});

test('--address and --namespace reach the server over unusable TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE', async () => {
  const closed = `127.0.0.1:${await freeLoopbackPort()}`;
  const sha = await h.repo.commit('feature: found through --address');
  const handle = await h.start(h.request(sha));
  await handle.result();
  const run = await cli(
    ['--address', process.env.TEMPORAL_TEST_ADDRESS as string, '--namespace', 'default', 'watch', handle.workflowId],
    { TEMPORAL_ADDRESS: closed, TEMPORAL_NAMESPACE: 'no-such-namespace' },
  );
  expect(run.stderr).not.toContain('cannot reach');
  expect(run.code).toBe(EXIT.ok);
  expect(run.stdout).toMatch(/stage promoted/);
  // --namespace is the namespace asked: the workflow is not in that one.
  const elsewhere = await cli(['--namespace', 'no-such-namespace', 'watch', handle.workflowId]);
  expect(elsewhere.code).toBe(EXIT.unavailable);
  expect(elsewhere.stderr).toContain('release-promoter: no namespace no-such-namespace at ');
});

test('no such workflow exits 3 from watch and approve', async () => {
  const id = uniqueId('never-started');
  const watch = await cli(['watch', id]);
  expect(watch.code).toBe(EXIT.unavailable);
  expect(watch.stderr).toContain(id);
  const approve = await cli(['approve', id], { RELEASE_PROMOTER_IDENTITY: 'bob' });
  expect(approve.code).toBe(EXIT.unavailable);
  expect(approve.stderr).toContain(`release-promoter: no workflow ${id} in namespace default at `);
});

test('start --wait and watch: promoted 0, rejected 1', async () => {
  const sha = await h.repo.commit('feature: exit 0');
  const workflowId = uniqueId('cli-exit');
  const target = ['--repo', h.repo.bare, '--staging-base', h.staging.url, '--production-base', h.production.url];
  const promoted = await cli([
    'start',
    '--commit',
    sha,
    '--class',
    'A',
    ...target,
    '--workflow-id',
    workflowId,
    '--wait',
  ]);
  expect(promoted.code).toBe(EXIT.ok);
  expect(promoted.stdout).toMatch(/stage promoted/);
  expect((await cli(['watch', workflowId])).code).toBe(EXIT.ok);

  const handle = await awaitingApproval('feature: exit 1');
  const watching = cli(['watch', handle.workflowId]);
  await handle.executeUpdate(decideUpdate, { args: [{ decision: 'reject', approver: 'carol', reason: 'not today' }] });
  const rejected = await watching;
  expect(rejected.code).toBe(EXIT.notOk);
  expect(rejected.stdout).toMatch(/stage rejected/);
  const again = await cli(['watch', handle.workflowId]);
  expect(again.code).toBe(EXIT.notOk);
}, 60_000);

test('approve: counted 0, not counted 1, malformed 2, closed 1 with how it ended', async () => {
  const handle = await awaitingApproval('feature: decided through the CLI');
  const self = await cli(['approve', handle.workflowId]);
  expect(self.code).toBe(EXIT.notOk);
  expect(self.stdout).toContain('not counted: alice started this promotion');
  const malformed = await cli(['approve', handle.workflowId, '--commit', 'xyz'], { RELEASE_PROMOTER_IDENTITY: 'bob' });
  expect(malformed.code).toBe(EXIT.usage);
  expect(malformed.stderr).toMatch(/decision refused: .*commitSha/);
  const bob = await cli(['approve', handle.workflowId], { RELEASE_PROMOTER_IDENTITY: 'bob' });
  expect(bob.code).toBe(EXIT.ok);
  expect(bob.stdout).toContain('counted: bob approved');
  const final = (await handle.result()) as PromotionStatus;
  expect(final.stage).toBe('promoted');

  const late = await cli(['approve', handle.workflowId], { RELEASE_PROMOTER_IDENTITY: 'carol' });
  expect(late.code).toBe(EXIT.notOk);
  expect(late.stdout).toContain(`not counted: ${handle.workflowId} is closed: it ended promoted (COMPLETED at `);
  expect(late.stderr).toBe('');
  const lateReject = await cli(['reject', handle.workflowId, '--reason', 'too late', '--json'], {
    RELEASE_PROMOTER_IDENTITY: 'carol',
  });
  expect(lateReject.code).toBe(EXIT.notOk);
  expect(JSON.parse(lateReject.stdout)).toMatchObject({
    counted: false,
    closed: { status: 'COMPLETED', stage: 'promoted' },
  });
}, 60_000);

test('approve on a promotion that ended rejected says it is closed and how it ended', async () => {
  const handle = await awaitingApproval('feature: rejected, then approved too late');
  await handle.executeUpdate(decideUpdate, { args: [{ decision: 'reject', approver: 'carol', reason: 'no' }] });
  await handle.result().catch(() => undefined);
  const late = await cli(['approve', handle.workflowId], { RELEASE_PROMOTER_IDENTITY: 'bob' });
  expect(late.code).toBe(EXIT.notOk);
  expect(late.stdout).toContain(`not counted: ${handle.workflowId} is closed: it ended rejected (FAILED at `);
}, 60_000);

test('approve on a terminated promotion says it was terminated, and in which stage', async () => {
  const handle = await awaitingApproval('feature: terminated while waiting');
  await handle.terminate('test: gone');
  const late = await cli(['approve', handle.workflowId], { RELEASE_PROMOTER_IDENTITY: 'bob' });
  expect(late.code).toBe(EXIT.notOk);
  expect(late.stdout).toMatch(
    new RegExp(`not counted: ${handle.workflowId} is closed: it was terminated at \\S+, in stage awaiting_approval;`),
  );
}, 60_000);
