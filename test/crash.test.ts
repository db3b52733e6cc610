// Real worker processes, really killed (SIGKILL), really restarted: a promotion still happens
// exactly once. Evidence from outside the workflow: the bare repo's reflog and the ledger bytes.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import lockfile from 'proper-lockfile';
import { ensureLedgerFile } from '../src/ledger/store';
import type { PromotionStatus } from '../src/domain';
import { fieldText, parseLedger } from '../src/ledger/format';
import { promotionWorkflow } from '../src/workflows';
import { approveSignal, lockWorkflowId, statusQuery } from '../src/workflows/messages';
import { createSampleRepo, SampleRepo } from '../sample/repo';
import { SampleService, startSampleService } from '../sample/service';
import { sampleRequest, uniqueId, waitFor } from './helpers';
import { killWorker, runningWorkers, startWorker } from './worker-process';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  const address = process.env.TEMPORAL_TEST_ADDRESS;
  if (!address)
    throw new Error('TEMPORAL_TEST_ADDRESS is unset: run the tests through jest (globalSetup starts the dev server)');
  env = await TestWorkflowEnvironment.createFromExistingServer({ address });
});
afterAll(async () => {
  await env?.teardown();
});

// ---- one target per test ----------------------------------------------------------------

interface Target {
  tmp: string;
  repo: SampleRepo;
  staging: SampleService;
  production: SampleService;
  taskQueue: string;
  ledgerPath: string;
  gitCacheDir: string;
  handles: WorkflowHandle[];
  releaseLedgerLock?: () => Promise<void>;
}

let t: Target;

beforeEach(async () => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'release-promoter-crash-'));
  const repo = await createSampleRepo(tmp);
  t = {
    tmp,
    repo,
    staging: await startSampleService({ name: 'staging' }),
    production: await startSampleService({ name: 'production', follow: { gitDir: repo.bare, branch: 'release' } }),
    taskQueue: uniqueId('crash-tq'),
    ledgerPath: path.join(tmp, 'RELEASE_LOG.md'),
    gitCacheDir: path.join(tmp, 'git-cache'),
    handles: [],
  };
});

afterEach(async () => {
  // Every spawned worker dies, whatever happened in the test.
  for (const worker of runningWorkers()) await killWorker(worker).catch(() => undefined);
  await t.releaseLedgerLock?.().catch(() => undefined);
  // Leave nothing running on the shared dev server for this test's task queue.
  for (const id of [...t.handles.map((handle) => handle.workflowId), lockWorkflowId(t.repo.bare, 'release')]) {
    await env.client.workflow
      .getHandle(id)
      .terminate('test cleanup')
      .catch(() => undefined);
  }
  await t.staging.close();
  await t.production.close();
  await rm(t.tmp, { recursive: true, force: true });
});

const request = (commitSha: string, overrides: Record<string, unknown> = {}) => sampleRequest(t, commitSha, overrides);

async function startPromotion(input: Record<string, unknown>): Promise<WorkflowHandle<typeof promotionWorkflow>> {
  const handle = await env.client.workflow.start(promotionWorkflow, {
    taskQueue: t.taskQueue,
    workflowId: uniqueId('crash-promotion'),
    args: [input as never],
  });
  t.handles.push(handle);
  return handle;
}

const statusOf = (handle: WorkflowHandle) => handle.query(statusQuery) as Promise<PromotionStatus>;

async function ledgerEntries() {
  const parsed = parseLedger(readFileSync(t.ledgerPath, 'utf8'));
  expect(parsed.problems).toEqual([]);
  return parsed.entries;
}

async function pushesOf(sha: string): Promise<string[]> {
  return (await t.repo.reflog('release')).filter((line) => line.startsWith(`${sha} `));
}

// ---- the tests ---------------------------------------------------------------------------

test('a worker killed while a promotion waits for approval, then restarted, still promotes exactly once', async () => {
  const config = { taskQueue: t.taskQueue, ledgerPath: t.ledgerPath, gitCacheDir: t.gitCacheDir };
  const first = await startWorker(config);
  const sha = await t.repo.commit('feature: needs an approver');
  const handle = await startPromotion(request(sha, { changeClass: 'B' }));
  await waitFor(
    'the promotion to await approval',
    async () => (await statusOf(handle)).stage === 'awaiting_approval',
    60_000,
  );
  expect(await t.repo.tip('release')).toBe(t.repo.base);

  await killWorker(first);
  // A signal needs no worker: the server keeps it in the history.
  await handle.signal(approveSignal, { approver: 'bob' });
  expect(await t.repo.tip('release')).toBe(t.repo.base);

  await startWorker(config);
  const status = await handle.result();
  expect(status.stage).toBe('promoted');
  expect(status.approval.state).toBe('approved');
  expect(status.approval.decisions.map((d) => [d.decision, d.approver])).toEqual([['approve', 'bob']]);
  expect(await t.repo.tip('release')).toBe(sha);

  const entries = await ledgerEntries();
  expect(entries.filter((e) => e.releaseId === status.releaseId)).toHaveLength(1);
  expect(entries.filter((e) => fieldText(e, 'workflow_id') === handle.workflowId)).toHaveLength(1);
  const entry = entries.find((e) => e.releaseId === status.releaseId)!;
  expect(fieldText(entry, 'result')).toBe('pass');
  expect(entry.fields.get('approvals')?.value).toEqual([expect.stringMatching(/^bob: approved at /)]);
  expect(await pushesOf(sha)).toHaveLength(1);
}, 120_000);

test('a worker killed between the push and the ledger append, then restarted, leaves exactly one entry and one push', async () => {
  const config = { taskQueue: t.taskQueue, ledgerPath: t.ledgerPath, gitCacheDir: t.gitCacheDir };
  const first = await startWorker(config);
  // Slow production: time to take the ledger's lock after the push (the drift check before the
  // push reads the ledger too) and before the entry is due.
  t.production.configure({ latencyMs: 1_500 });
  const sha = await t.repo.commit('feature: crash before the entry');
  const handle = await startPromotion(request(sha));
  await waitFor('the push', async () => (await t.repo.tip('release')) === sha, 60_000, 25);

  await ensureLedgerFile(t.ledgerPath);
  const release = await lockfile.lock(t.ledgerPath, {
    realpath: false,
    stale: 10_000,
    update: 2_000,
    retries: { retries: 100, minTimeout: 10, maxTimeout: 50 },
  });
  t.releaseLedgerLock = release;
  const releaseId = (await statusOf(handle)).releaseId as string;
  expect(releaseId).toMatch(/-rc\d+$/);
  expect((await ledgerEntries()).map((e) => e.releaseId)).not.toContain(releaseId);

  // Verified; the entry (written before the stage becomes `promoted`) waits for the lock.
  await waitFor(
    'production verification to pass',
    async () => {
      const s = await statusOf(handle);
      return s.prodVerification.length === 4 && s.prodVerification.every((g) => g.pass) && s.stage !== 'promoted';
    },
    60_000,
  );
  expect((await ledgerEntries()).map((e) => e.releaseId)).not.toContain(releaseId);

  // The test holds the ledger's lock through the kill: the old worker cannot have written.
  await killWorker(first);
  t.releaseLedgerLock = undefined;
  await release();
  expect((await ledgerEntries()).map((e) => e.releaseId)).not.toContain(releaseId);
  await startWorker(config);

  // The dead worker's attempt is retried on the new one (heartbeat timeout); the test's own
  // timeout bounds how long that may take.
  const status = await handle.result();
  expect(status.stage).toBe('promoted');
  expect(status.releaseId).toBe(releaseId);
  const entries = await ledgerEntries();
  const mine = entries.filter((e) => e.releaseId === releaseId);
  expect(mine).toHaveLength(1);
  expect(entries.filter((e) => fieldText(e, 'workflow_id') === handle.workflowId)).toHaveLength(1);
  expect(fieldText(mine[0]!, 'result')).toBe('pass');
  expect(fieldText(mine[0]!, 'branch_tip_after')).toBe(sha);
  expect(mine[0]!.chain).toBe(status.ledgerChainHead);
  expect(await pushesOf(sha)).toHaveLength(1);
  expect(await t.repo.tip('release')).toBe(sha);
}, 120_000);
