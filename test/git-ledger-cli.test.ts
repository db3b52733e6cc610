// The commands that read the ledger, as a user runs them (real CLI processes), on a git ledger:
// `ledger verify` (the history commit by commit, --head after a force-push), `ledger show`,
// `history --ledger git:…` and `rollback --ledger git:…` (its default target read from the branch).
import { ChildProcess, spawn } from 'node:child_process';
import { realpathSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { GitLedger } from '../src/ledger/git-ledger';
import { createSampleRepo, SampleRepo } from '../sample/repo';
import { BIN, buildDist, CliRun, runCli } from './cli-process';
import { BRANCH, createLedgerRemote, gitOut, LEDGER_FILE, LedgerRemote } from './git-ledger-remote';
import { uniqueId } from './helpers';
import { promotion } from './records';

let tmp: string;
let remote: LedgerRemote;
let repo: SampleRepo;
let shas: string[];
let heads: string[];

beforeAll(() => buildDist());
beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'git-ledger-cli-'));
  remote = createLedgerRemote(tmp);
  repo = await createSampleRepo(path.join(tmp, 'service'));
  const ledger = new GitLedger(remote.location, path.join(tmp, 'writer-cache'));
  shas = [await repo.commit('feature one'), await repo.commit('feature two')];
  heads = [];
  for (const [i, sha] of shas.entries()) {
    const workflowId = `wf-${i}`;
    const id = await ledger.reserve({ workflowId, kind: 'rc', at: '2026-11-24T22:31:00.000Z' });
    const entry = promotion(id, workflowId, { commitSha: sha, repo: realpathSync(repo.bare), notes: `release ${i}` });
    heads.push((await ledger.append(entry, async () => sha)).chainHead);
  }
  await repo.forcePush('release', shas[1] as string);
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const cliEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  NO_COLOR: '1',
  GATES_CONFIG: '',
  ENVIRONMENTS_CONFIG: '',
  RELEASE_LEDGER_PATH: '',
  RELEASE_LEDGER: remote.spec,
  GIT_CACHE_DIR: path.join(tmp, 'cli-cache'),
});
const cli = (...args: string[]): Promise<CliRun> => runCli(args, cliEnv());

test('ledger verify reads RELEASE_LEDGER=git:… and checks every commit; --head must still be on the branch', async () => {
  const run = await cli('ledger', 'verify');
  expect(run.stdout.trim()).toBe(`ok ${remote.spec}: 2 entries, 2 chained, head ${heads[1]}, 4 commits`);
  expect(run.code).toBe(0);
  expect((await cli('ledger', 'verify', remote.spec, '--head', `sha256:${heads[0]}`)).code).toBe(0);
  const json = JSON.parse((await cli('ledger', 'verify', remote.spec, '--json')).stdout) as Record<string, unknown>;
  expect(json).toMatchObject({ ok: true, path: remote.spec, entries: 2, commits: 4, tip: remote.tip() });

  // A commit that edits an entry: named, exit 1.
  const edit = remote.commitByHand((work) => {
    const file = path.join(work, LEDGER_FILE);
    writeFileSync(file, readFileSync(file, 'utf8').replace('release 0', 'release 9'));
  });
  const failed = await cli('ledger', 'verify', remote.spec);
  expect(failed.code).toBe(1);
  expect(failed.stdout).toContain(
    `FAIL ${remote.spec}@${edit}: commit ${edit} changes existing bytes of ${LEDGER_FILE}`,
  );
});

test('ledger verify --head fails after a force-push that rewrote and re-chained the branch', async () => {
  const forged = createLedgerRemote(tmp, 'forged.git');
  const forger = new GitLedger(forged.location, path.join(tmp, 'forger-cache'));
  const id = await forger.reserve({ workflowId: 'wf-1', kind: 'rc', at: '2026-11-24T22:31:00.000Z' });
  await forger.append(promotion(id, 'wf-1', { commitSha: shas[1] }), async () => shas[1] as string);
  gitOut([
    '--git-dir',
    forged.bare,
    'push',
    '--quiet',
    '--force',
    remote.bare,
    `refs/heads/${BRANCH}:refs/heads/${BRANCH}`,
  ]);

  expect((await cli('ledger', 'verify', remote.spec)).code).toBe(0);
  const run = await cli('ledger', 'verify', remote.spec, '--head', heads[1] as string);
  expect(run.code).toBe(1);
  expect(run.stdout).toContain(`no longer contains an entry with chain ${heads[1]}`);
});

test('ledger show and history read the branch tip', async () => {
  const rows = JSON.parse((await cli('ledger', 'show', remote.spec, '--json')).stdout) as Array<{ releaseId: string }>;
  expect(rows.map((r) => r.releaseId)).toEqual(['20261124-2231-rc1', '20261124-2231-rc2']);
  const history = JSON.parse(
    (
      await runCli(['history', '--environment', 'production', '--json', '--ledger', remote.spec], {
        ...cliEnv(),
        RELEASE_LEDGER: '',
      })
    ).stdout,
  ) as {
    ledger: string;
    releases: Array<{ releaseId: string; commits: { list?: Array<{ sha: string }> } }>;
    now: Array<{ sha: string }>;
  };
  expect(history.ledger).toBe(remote.spec);
  expect(history.releases.map((r) => r.releaseId)).toEqual(['20261124-2231-rc2', '20261124-2231-rc1']);
  expect(history.releases[0]?.commits.list?.map((c) => c.sha)).toEqual([shas[1]?.slice(0, 7)]);
  expect(history.now.map((n) => n.sha)).toEqual([shas[1]]);

  const missing = await cli('ledger', 'show', `git:${remote.bare}#no-such-branch:${LEDGER_FILE}`);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toContain(`no ledger at git:${remote.bare}#no-such-branch:${LEDGER_FILE}`);
  const bad = await cli('ledger', 'show', `git:${remote.bare}#${BRANCH}:../x.md`);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('the ledger argument: path "../x.md" has "." or ".." segments');
});

test('rollback --ledger git:… takes its default target, the last known good, from the branch', async () => {
  const address = process.env.TEMPORAL_TEST_ADDRESS as string;
  const env = await TestWorkflowEnvironment.createFromExistingServer({ address });
  let child: ChildProcess | undefined;
  let workflowId: string | undefined;
  try {
    // No worker polls this queue: the rollback starts and waits, which is all this test needs.
    child = spawn(
      process.execPath,
      [
        BIN,
        'rollback',
        '--repo',
        repo.bare,
        '--as',
        'alice',
        '--ledger',
        remote.spec,
        '--production-base',
        'http://127.0.0.1:9',
      ],
      {
        env: {
          ...cliEnv(),
          RELEASE_LEDGER: '',
          TEMPORAL_ADDRESS: address,
          TEMPORAL_TASK_QUEUE: uniqueId('git-ledger-rollback'),
        },
      },
    );
    let stderr = '';
    const line = await new Promise<string>((resolve, reject) => {
      child?.stderr?.on('data', (c: Buffer) => {
        stderr += c.toString();
        const found = /^rolling .*$/m.exec(stderr);
        if (found) resolve(found[0]);
      });
      child?.on('close', (code) => reject(new Error(`rollback exited ${code} before starting: ${stderr}`)));
    });
    workflowId = /\((rollback-[^)]+)\)/.exec(line)?.[1];
    expect(line).toContain(`back from ${shas[1]} to ${shas[0]}`);
  } finally {
    child?.kill('SIGKILL');
    if (workflowId)
      await env.client.workflow
        .getHandle(workflowId)
        .terminate('test cleanup')
        .catch(() => undefined);
    await env.teardown();
  }
}, 60_000);
