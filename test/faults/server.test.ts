// Server faults: the Temporal dev server stopped (SIGTERM; once SIGKILL) and started again on the
// same SQLite file and port while a promotion waits for approval, while production verification
// runs, and while the automatic rollback runs. The server is this file's own; the worker is one
// real process that lives through every restart (the SDK reconnects), and the test's client
// connects again. After each: the right ending, exactly one entry per release id, the branch moved
// once per push (the bare repo's reflog), the ledger verifies.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { prebuiltState } from '../../src/build-digest';
import type { PromotionStatus, RollbackStatus } from '../../src/domain';
import { fieldText, parseLedger, ParsedEntry } from '../../src/ledger/format';
import { promotionWorkflow } from '../../src/workflows';
import {
  decideUpdate,
  lockWorkflowId,
  rollbackChildId,
  rollbackStatusQuery,
  stagingTurnWorkflowId,
  statusQuery,
} from '../../src/workflows/messages';
import { BROKEN_SERVICE, createSampleRepo, SampleRepo } from '../../sample/repo';
import { SampleOptions, SampleService, startSampleService } from '../../sample/service';
import { sampleRequest, uniqueId, waitFor } from '../helpers';
import { killWorker, runningWorkers, startWorker, WorkerProcess } from '../worker-process';
import { DevServer, startDevServer, Stopped } from './dev-server';
import { checkLedgerText, movesSince } from './invariants';
import { FaultRun, injected } from './report';

// Below the probes' 5 s timeout, long enough that the checks are still in flight when the
// server goes down.
const PROD_LATENCY_MS = 3_000;
const LONG_MS = 120_000;

let tmp: string;
let server: DevServer;
let worker: WorkerProcess;
let connection: Connection | undefined;
let client: Client;
const files = { taskQueue: uniqueId('server-faults'), ledgerPath: '', gitCacheDir: '' };

async function connect(): Promise<void> {
  await connection?.close().catch(() => undefined);
  connection = await Connection.connect({ address: server.address });
  client = new Client({ connection });
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'release-promoter-server-faults-'));
  files.ledgerPath = path.join(tmp, 'RELEASE_LOG.md');
  files.gitCacheDir = path.join(tmp, 'git-cache');
  server = await startDevServer(tmp);
  await connect();
  // The compiled worker once the tier's build made dist/ current; else the sources through tsx.
  worker = await startWorker(files, { TEMPORAL_ADDRESS: server.address }, { compiled: prebuiltState() === 'fresh' });
}, 180_000);

afterAll(async () => {
  for (const w of runningWorkers()) await killWorker(w).catch(() => undefined);
  await connection?.close().catch(() => undefined);
  await server?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

// ---- one target per scenario -----------------------------------------------------------

interface Target {
  repo: SampleRepo;
  staging: SampleService;
  production: SampleService;
  workflowIds: string[];
}

let t: Target | undefined;

async function newTarget(name: string, production: SampleOptions = {}): Promise<Target> {
  const repo = await createSampleRepo(path.join(tmp, name));
  t = {
    repo,
    staging: await startSampleService({ name: 'staging' }),
    production: await startSampleService({
      name: 'production',
      follow: { gitDir: repo.bare, branch: 'release' },
      ...production,
    }),
    workflowIds: [],
  };
  return t;
}

afterEach(async () => {
  // A scenario that broke mid-restart leaves the server down: the next one needs it.
  if (!server.pid()) {
    await server.start();
    await connect();
  }
  if (!t) return;
  const ids = [
    ...t.workflowIds.flatMap((id) => [id, rollbackChildId(id)]),
    lockWorkflowId(t.repo.bare, 'release'),
    stagingTurnWorkflowId(t.staging.url),
  ];
  for (const id of ids)
    await client.workflow
      .getHandle(id)
      .terminate('server fault cleanup')
      .catch(() => undefined);
  await t.staging.close();
  await t.production.close();
  t = undefined;
});

async function startPromotion(target: Target, sha: string, overrides: Record<string, unknown> = {}): Promise<string> {
  const workflowId = uniqueId('server-fault');
  await client.workflow.start(promotionWorkflow, {
    taskQueue: files.taskQueue,
    workflowId,
    args: [sampleRequest(target, sha, overrides) as never],
  });
  target.workflowIds.push(workflowId);
  return workflowId;
}

/** The handle through the current client (a restart replaces the connection). */
const handleOf = (workflowId: string) => client.workflow.getHandle<typeof promotionWorkflow>(workflowId);

/** Polls the status query (failures, e.g. while the worker reconnects, count as not yet). */
function untilStatus(
  workflowId: string,
  what: string,
  ok: (status: PromotionStatus) => boolean,
  everyMs = 50,
): Promise<PromotionStatus> {
  return waitFor(
    `${workflowId}: ${what}`,
    async () => {
      const status = await handleOf(workflowId)
        .query(statusQuery)
        .catch(() => undefined);
      return status && ok(status) ? status : undefined;
    },
    LONG_MS,
    everyMs,
  );
}

/** The promotion's final status, whether it completed (promoted) or failed typed. */
async function outcomeOf(workflowId: string): Promise<{ type?: string; message?: string; status: PromotionStatus }> {
  try {
    return { status: await handleOf(workflowId).result() };
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    const cause = err.cause as { type?: string; message: string; details?: unknown[] } | undefined;
    return { type: cause?.type, message: cause?.message, status: cause?.details?.[0] as PromotionStatus };
  }
}

/** Whether something accepts connections on the server's port (the restart really took it away). */
function listening(): Promise<boolean> {
  const [host, port] = server.address.split(':') as [string, string];
  return new Promise((resolve) => {
    const socket = net.connect({ host, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Stops the server with `signal`, runs `whileDown` (the world goes on without it), starts it on
 * the same file and port, and connects the test's client again.
 */
async function restartServer(
  run: FaultRun,
  signal: 'SIGTERM' | 'SIGKILL',
  whileDown: () => Promise<unknown> = async () => undefined,
): Promise<void> {
  const before = server.pid();
  const stopped: Stopped = await server.stop(signal);
  const downPort = await listening();
  await run.check(`the server went away on ${signal}`, () => {
    expect(stopped.forced).toBe(false);
    if (signal === 'SIGKILL') expect(stopped.signal).toBe('SIGKILL');
    expect(downPort).toBe(false);
  });
  await whileDown();
  await server.start();
  await connect();
  await run.check('a new server process serves the same address', async () => {
    expect(server.pid()).toBeDefined();
    expect(server.pid()).not.toBe(before);
    expect(await listening()).toBe(true);
  });
}

// ---- the facts checked after every scenario -----------------------------------------------

function ledger(): { text: string; entries: ParsedEntry[] } {
  const text = readFileSync(files.ledgerPath, 'utf8');
  return { text, entries: parseLedger(text).entries };
}

async function checkLedger(run: FaultRun, releaseIds: Array<string | undefined>, head?: string): Promise<void> {
  await checkLedgerText(run, ledger().text, releaseIds, head);
}

async function checkWorkerSurvived(run: FaultRun, pid: number | undefined): Promise<void> {
  await run.check('the one worker process lived through the restart', () => {
    expect(worker.proc.pid).toBe(pid);
    expect(worker.proc.exitCode).toBeNull();
    expect(worker.proc.signalCode).toBeNull();
    expect(runningWorkers()).toHaveLength(1);
    expect(runningWorkers()[0]).toBe(worker);
  });
}

// ---- the scenarios ---------------------------------------------------------------------------

test(
  'the dev server restarted (SIGTERM) while a promotion awaits approval: approved after it, promoted once',
  () =>
    injected('server', 'dev server restarted mid-approval (SIGTERM)', async (run) => {
      const target = await newTarget('approval');
      const workerPid = worker.proc.pid;
      const sha = await target.repo.commit('feature: an approver decides after a server restart');
      const reflogBefore = await target.repo.reflog('release');
      const id = await startPromotion(target, sha, { changeClass: 'B' });
      await untilStatus(id, 'awaiting approval', (s) => s.stage === 'awaiting_approval');
      const runId = (await handleOf(id).describe()).runId;

      await restartServer(run, 'SIGTERM');

      // The worker answers queries again (it polls the restarted server) before the decision is sent.
      const waiting = await untilStatus(id, 'the worker to answer after the restart', () => true, 250);
      const described = await handleOf(id).describe();
      await run.check('the restarted server kept the waiting promotion (same run, still waiting)', () => {
        expect(described.runId).toBe(runId);
        expect(described.status.name).toBe('RUNNING');
        expect(waiting.stage).toBe('awaiting_approval');
        expect(waiting.approval.state).toBe('pending');
      });
      // An update needs a live worker to run its handler and answer.
      const answer = await handleOf(id).executeUpdate(decideUpdate, {
        args: [{ decision: 'approve', approver: 'bob' }],
      });
      await run.check('the decision sent after the restart counted', () => {
        expect(answer.counted).toBe(true);
        expect(answer.approval.state).toBe('approved');
      });

      const { type, status } = await outcomeOf(id);
      await run.check('promoted, approved by the decision sent after the restart', () => {
        expect(type).toBeUndefined();
        expect(status.stage).toBe('promoted');
        expect(status.approval.decisions.map((d) => [d.decision, d.approver])).toEqual([['approve', 'bob']]);
      });
      await run.check('the branch moved once, to the commit', async () => {
        expect(await movesSince(target.repo, reflogBefore)).toEqual([sha]);
        expect(await target.repo.tip('release')).toBe(sha);
      });
      await checkLedger(run, [status.releaseId], status.ledgerChainHead);
      await run.check('the entry is a pass naming the approver and the tip', () => {
        const entry = ledger().entries.find((e) => e.releaseId === status.releaseId);
        expect(fieldText(entry!, 'result')).toBe('pass');
        expect(fieldText(entry!, 'workflow_id')).toBe(id);
        expect(fieldText(entry!, 'branch_tip_after')).toBe(sha);
        expect(entry!.fields.get('approvals')?.value).toEqual([expect.stringMatching(/^bob: approved at /)]);
      });
      await checkWorkerSurvived(run, workerPid);
    }),
  240_000,
);

test(
  'the dev server stopped (SIGTERM) while production verification runs, and back after it answered: promoted once',
  () =>
    injected('server', 'dev server restarted mid-verification (SIGTERM)', async (run) => {
      const target = await newTarget('verification', { latencyMs: PROD_LATENCY_MS });
      const workerPid = worker.proc.pid;
      const sha = await target.repo.commit('feature: verified across a server restart');
      const reflogBefore = await target.repo.reflog('release');
      const id = await startPromotion(target, sha);
      await untilStatus(id, 'verifying', (s) => s.stage === 'verifying');
      // The stage changes before the activity runs: the checks are under way once production has
      // all four of them (each held PROD_LATENCY_MS) in hand.
      const inFlight = () => target.production.requests.filter((r) => r.version === sha && r.doneAt === undefined);
      const checks = await waitFor(
        'the checks to reach production',
        async () => inFlight().length >= 4 && inFlight().length,
        LONG_MS,
        10,
      );
      const answered = () => target.production.requests.filter((r) => r.version === sha && r.doneAt !== undefined);
      await run.check('the server goes down with every production check in flight, none answered', () => {
        expect(checks).toBe(4);
        expect(answered()).toEqual([]);
      });

      // The verification activity finishes while there is no server to report it to.
      await restartServer(run, 'SIGTERM', () =>
        waitFor('the checks to be answered', async () => inFlight().length === 0, LONG_MS),
      );

      const { type, message, status } = await outcomeOf(id);
      await run.check('promoted, every production check passed', () => {
        expect({ type, message }).toEqual({ type: undefined, message: undefined });
        expect(status.stage).toBe('promoted');
        expect(status.prodVerification).toHaveLength(4);
        expect(status.prodVerification.every((g) => g.pass)).toBe(true);
        expect(status.rollback).toBeUndefined();
      });
      await run.check('the branch moved once (one push), and stays on the commit', async () => {
        expect(await movesSince(target.repo, reflogBefore)).toEqual([sha]);
        expect(await target.repo.tip('release')).toBe(sha);
      });
      await checkLedger(run, [status.releaseId], status.ledgerChainHead);
      await run.check('the entry is a pass', () => {
        const entry = ledger().entries.find((e) => e.releaseId === status.releaseId);
        expect(fieldText(entry!, 'result')).toBe('pass');
        expect(fieldText(entry!, 'branch_tip_after')).toBe(sha);
      });
      await checkWorkerSurvived(run, workerPid);
    }),
  240_000,
);

test(
  'the dev server killed (SIGKILL) after the rollback moved the branch back, and restarted: rolled back, each entry once',
  () =>
    injected('server', 'dev server restarted mid-rollback (SIGKILL)', async (run) => {
      const target = await newTarget('rollback', { latencyMs: PROD_LATENCY_MS });
      const workerPid = worker.proc.pid;
      const good = target.repo.base;
      const bad = await target.repo.commit('feature: breaks production', { 'service.json': BROKEN_SERVICE });
      const reflogBefore = await target.repo.reflog('release');
      const id = await startPromotion(target, bad);
      await untilStatus(id, 'rolling back', (s) => s.stage === 'rolling_back');
      // Mid-rollback, by the remote's own record: the child moved the branch back, and its checks
      // of production (and its entry) are still to come.
      await waitFor(
        'the rollback to move the branch back',
        async () => (await target.repo.tip('release')) === good,
        LONG_MS,
        25,
      );
      const child = await client.workflow
        .getHandle(rollbackChildId(id))
        .query(rollbackStatusQuery)
        .catch(() => undefined);
      await run.check('the rollback was still running when the server was killed', () => {
        expect(child?.stage).toBe('rolling_back');
        expect(child?.result).toBeUndefined();
      });

      await restartServer(run, 'SIGKILL');

      const { type, message, status } = await outcomeOf(id);
      const rollback = (await client.workflow.getHandle(rollbackChildId(id)).result()) as RollbackStatus;
      await run.check('the promotion ends rolled back: ProductionVerificationFailed, rollback completed', () => {
        expect(type).toBe('ProductionVerificationFailed');
        expect(message).toContain(`rolled back to ${good}`);
        expect(status.stage).toBe('rolled_back');
        expect(status.rollback?.result).toBe('completed');
        expect(status.rollback?.releaseId).toBe(rollback.releaseId);
        expect(rollback.stage).toBe('rolled_back');
        expect(rollback.result).toBe('completed');
        expect(rollback.branchRestored).toBe(true);
        expect(rollback.verification.every((g) => g.pass)).toBe(true);
      });
      await run.check('the branch moved twice in all: the push once, the move back once', async () => {
        expect(await movesSince(target.repo, reflogBefore)).toEqual([bad, good]);
        expect(await target.repo.tip('release')).toBe(good);
      });
      await checkLedger(run, [status.releaseId, rollback.releaseId], status.ledgerChainHead);
      await run.check("the promotion's fail entry and the rollback's entry, the rollback's first", () => {
        const { entries } = ledger();
        const promotionEntry = entries.find((e) => e.releaseId === status.releaseId)!;
        const rollbackEntry = entries.find((e) => e.releaseId === rollback.releaseId)!;
        expect(fieldText(promotionEntry, 'result')).toBe('fail');
        expect(fieldText(promotionEntry, 'rollback_release_id')).toBe(rollback.releaseId);
        expect(fieldText(promotionEntry, 'branch_tip_after')).toBe(good);
        expect(rollback.releaseId).toMatch(/-rb\d+$/);
        expect(fieldText(rollbackEntry, 'result')).toBe('completed');
        expect(fieldText(rollbackEntry, 'from_sha')).toBe(bad);
        expect(fieldText(rollbackEntry, 'to_sha')).toBe(good);
        expect(fieldText(rollbackEntry, 'promotion_release_id')).toBe(status.releaseId);
        expect(entries.indexOf(rollbackEntry)).toBe(entries.indexOf(promotionEntry) - 1);
      });
      await checkWorkerSurvived(run, workerPid);
    }),
  240_000,
);
