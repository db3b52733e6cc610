// Process faults at every step: a real worker SIGKILLs itself at a named point of a promotion or
// a rollback (RELEASE_PROMOTER_TEST_CRASH_AT: before or after each activity), or is killed when
// the status query first shows a wait that is no activity (approval, the lock). A second worker
// takes over. After each: exactly one entry per release id and per workflow, the branch moved
// at most once per promotion (the bare repo's reflog), the ledger's chain intact, the right ending.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { WorkflowHandle } from '@temporalio/client';
import type { PromotionStatus } from '../../src/domain';
import { fieldText } from '../../src/ledger/format';
import { promotionWorkflow } from '../../src/workflows';
import {
  approveSignal,
  lockStateQuery,
  lockWorkflowId,
  rollbackChildId,
  statusQuery,
} from '../../src/workflows/messages';
import { BROKEN_SERVICE } from '../../sample/repo';
import { failureOf, waitFor } from '../helpers';
import { killWorker } from '../worker-process';
import { FaultRun, injected } from './report';
import { closeFaultClient, createFaultTarget, entriesOf, exited, FaultTarget } from './target';

afterAll(closeFaultClient);

const DEPLOY_WAIT = { path: '/health', field: 'version', timeout: '60s' };
const statusOf = (handle: WorkflowHandle) => handle.query(statusQuery) as Promise<PromotionStatus>;

/**
 * Starts the first worker with the crash point, runs `start`, and checks the worker died there
 * (and not that the workflow ended without reaching it); then a clean worker takes over.
 */
async function killedAt(
  t: FaultTarget,
  run: FaultRun,
  point: string,
  start: () => Promise<WorkflowHandle<typeof promotionWorkflow>>,
  env: Record<string, string> = {},
): Promise<WorkflowHandle<typeof promotionWorkflow>> {
  const first = await t.worker({ ...env, RELEASE_PROMOTER_TEST_CRASH_AT: point });
  const handle = await start();
  const outcome = await Promise.race([
    exited(first),
    handle.result().then(
      () => 'ended' as const,
      () => 'ended' as const,
    ),
  ]);
  await run.check('the worker died at the crash point', () => {
    expect(outcome).not.toBe('ended');
    if (outcome === 'ended') return;
    expect(outcome.stderr).toContain(`crash point ${point} reached: SIGKILL`);
    expect(outcome.signal).toBe('SIGKILL');
  });
  await t.worker(env);
  return handle;
}

/** A healthy class A promotion with a deploy wait, killed at `point`: promoted once. */
async function promotedDespite(point: string): Promise<void> {
  await injected('process', `SIGKILL at ${point}`, async (run) => {
    const t = await createFaultTarget('pass');
    try {
      const sha = await t.repo.commit('feature: healthy');
      const handle = await killedAt(t, run, point, () => t.start(t.request(sha, { deployWait: DEPLOY_WAIT })));
      const status = await handle.result();
      await checkPromotedOnce(t, run, handle, status, sha);
    } finally {
      await t.close();
    }
  });
}

async function checkPromotedOnce(
  t: FaultTarget,
  run: FaultRun,
  handle: WorkflowHandle,
  status: PromotionStatus,
  sha: string,
): Promise<void> {
  await run.check('the promotion ended promoted', () => expect(status.stage).toBe('promoted'));
  await run.check('the branch is on the commit', async () => expect(await t.repo.tip('release')).toBe(sha));
  await run.check('the commit was pushed once', async () => expect(await t.pushesOf(sha)).toBe(1));
  const entries = t.entries(); // parses and verifies the chain, or throws
  await run.check('one entry for the release id', () =>
    expect(entriesOf(entries, { releaseId: status.releaseId })).toHaveLength(1),
  );
  await run.check('one entry for the workflow, a pass', () => {
    const own = entriesOf(entries, { workflowId: handle.workflowId });
    expect(own.map((e) => fieldText(e, 'result'))).toEqual(['pass']);
  });
  await run.check('no other entry', () => expect(entries).toHaveLength(1));
}

/** A bad deploy, killed at `point`: rolled back once, each workflow's entry written once. */
async function rolledBackDespite(point: string): Promise<void> {
  await injected('process', `SIGKILL at ${point} (bad deploy)`, async (run) => {
    const t = await createFaultTarget('rollback');
    try {
      const basePushes = await t.pushesOf(t.repo.base);
      const bad = await t.repo.commit('feature: breaks production', { 'service.json': BROKEN_SERVICE });
      const handle = await killedAt(t, run, point, () => t.start(t.request(bad, { deployWait: DEPLOY_WAIT })));
      const { type, status } = await failureOf(handle);
      await run.check('the promotion ended rolled back', () => {
        expect(type).toBe('ProductionVerificationFailed');
        expect(status.stage).toBe('rolled_back');
      });
      await run.check('the branch is back on the good commit', async () =>
        expect(await t.repo.tip('release')).toBe(t.repo.base),
      );
      await run.check('the bad commit was pushed once', async () => expect(await t.pushesOf(bad)).toBe(1));
      await run.check('the rollback pushed the good commit back once', async () =>
        expect(await t.pushesOf(t.repo.base)).toBe(basePushes + 1),
      );
      const entries = t.entries();
      await run.check("one entry for the promotion's release id, a fail naming the rollback", () => {
        const own = entriesOf(entries, { releaseId: status.releaseId });
        expect(own.map((e) => fieldText(e, 'result'))).toEqual(['fail']);
        expect(fieldText(own[0]!, 'workflow_id')).toBe(handle.workflowId);
      });
      await run.check('one entry for the rollback child, completed', () => {
        const child = entriesOf(entries, { workflowId: rollbackChildId(handle.workflowId) });
        expect(child.map((e) => fieldText(e, 'result'))).toEqual(['completed']);
      });
      await run.check('no other entry', () => expect(entries).toHaveLength(2));
    } finally {
      await t.close();
    }
  });
}

const SOAK = { soak: '6s', soakInterval: '2s' };

/** A promotion soaking 6 s (runs every 2 s), killed at `point`: promoted once, its soak's end kept. */
async function soakedDespite(point: string): Promise<void> {
  await injected('process', `SIGKILL at ${point} (soak)`, async (run) => {
    const t = await createFaultTarget('soak');
    try {
      const sha = await t.repo.commit('feature: soaks');
      const handle = await killedAt(t, run, point, () => t.start(t.request(sha, SOAK)));
      const status = await handle.result();
      // The killed run is retried once the heartbeat times out (10 s), past this short soak's end:
      // fewer runs than 3, never more, and the last one passes after the end.
      await run.check('no soak run counted twice, none failed', () => {
        expect(status.soak?.runs).toBeGreaterThanOrEqual(1);
        expect(status.soak?.runs).toBeLessThanOrEqual(3);
        expect(status.soak).toMatchObject({ failures: 0, leftMs: 0 });
      });
      await run.check('the soak kept its end (not restarted) and lasted it (not shortened)', () => {
        const soaked = Date.parse(status.timeline.find((s) => s.stage === 'soaking')?.at ?? '');
        const promoted = Date.parse(status.timeline.find((s) => s.stage === 'promoted')?.at ?? '');
        expect(Date.parse(status.soak?.endsAt ?? '') - soaked).toBe(6_000);
        expect(promoted - soaked).toBeGreaterThanOrEqual(6_000);
      });
      await checkPromotedOnce(t, run, handle, status, sha);
    } finally {
      await t.close();
    }
  });
}

/**
 * A registry freeze that ends 15 s after the target is made; the promotion meets it and is
 * killed at `point` (a crash point, or when the status first shows stage frozen): promoted once,
 * never pushed before the freeze ended.
 */
async function frozenDespite(point: string): Promise<void> {
  await injected('process', `SIGKILL at ${point} (freeze wait)`, async (run) => {
    const t = await createFaultTarget('freeze');
    try {
      const endsMs = Math.ceil((Date.now() + 15_000) / 1000) * 1000;
      const registry = path.join(t.tmp, 'environments.json');
      const freeze = { from: new Date(Date.now() - 60_000).toISOString(), to: new Date(endsMs).toISOString() };
      await writeFile(
        registry,
        JSON.stringify({
          environments: {
            production: {
              repo: t.repo.bare,
              stagingBase: t.staging.url,
              productionBase: t.production.url,
              freezes: [{ ...freeze, reason: 'fault-suite freeze' }],
            },
          },
        }),
      );
      const env = { ENVIRONMENTS_CONFIG: registry };
      const sha = await t.repo.commit('feature: meets a freeze');
      let handle: WorkflowHandle<typeof promotionWorkflow>;
      if (point === 'stage frozen') {
        const first = await t.worker(env);
        handle = await t.start(t.request(sha));
        await waitFor('frozen', async () => (await statusOf(handle)).stage === 'frozen', 60_000);
        await killWorker(first);
        await t.worker(env);
      } else handle = await killedAt(t, run, point, () => t.start(t.request(sha)), env);
      const status = await handle.result();
      await run.check('it waited in the freeze, and pushed only after it ended', () => {
        expect(status.timeline.map((s) => s.stage)).toContain('frozen');
        const promoting = Date.parse(status.timeline.find((s) => s.stage === 'promoting')?.at ?? '');
        expect(promoting).toBeGreaterThanOrEqual(endsMs);
      });
      await run.check('the entry records the freeze', () =>
        expect(fieldText(t.entries()[0]!, 'freeze')).toContain('fault-suite freeze'),
      );
      await checkPromotedOnce(t, run, handle, status, sha);
    } finally {
      await t.close();
    }
  });
}

// Every activity a healthy promotion runs, in its order; requestTargetLock is a local activity
// (first the staging service's turn, then the target's lock).
const PROMOTION_POINTS = [
  'promotionWorkflow.admitPromotion:before',
  'promotionWorkflow.admitPromotion:after',
  'promotionWorkflow.requestTargetLock:before',
  'promotionWorkflow.requestTargetLock:after',
  'promotionWorkflow.runStagingGates:before',
  'promotionWorkflow.runStagingGates:after',
  'promotionWorkflow.requestTargetLock:after#2',
  // With no entry yet for the target, the first call reads the tip and the second pushes from it.
  'promotionWorkflow.promoteCommit:before',
  'promotionWorkflow.promoteCommit:after',
  'promotionWorkflow.promoteCommit:before#2',
  'promotionWorkflow.promoteCommit:after#2',
  'promotionWorkflow.readDeployedVersion:before',
  'promotionWorkflow.readDeployedVersion:after',
  'promotionWorkflow.verifyProduction:before',
  'promotionWorkflow.verifyProduction:after',
  'promotionWorkflow.appendLedgerEntry:before',
  'promotionWorkflow.appendLedgerEntry:after',
];

// A bad deploy: the failing verification, the rollback child's every activity, the promotion's entry.
const ROLLBACK_POINTS = [
  // Killed after reading the tip and after the bad push: the rollback must still restore the tip
  // the push replaced, not the bad commit a retry finds on the branch.
  'promotionWorkflow.promoteCommit:after',
  'promotionWorkflow.promoteCommit:after#2',
  'promotionWorkflow.verifyProduction:after',
  'rollbackWorkflow.planRollback:before',
  'rollbackWorkflow.planRollback:after',
  'rollbackWorkflow.reserveReleaseId:before',
  'rollbackWorkflow.reserveReleaseId:after',
  'rollbackWorkflow.moveReleaseBranch:before',
  'rollbackWorkflow.moveReleaseBranch:after',
  'rollbackWorkflow.verifyProduction:before',
  'rollbackWorkflow.verifyProduction:after',
  'rollbackWorkflow.appendLedgerEntry:before',
  'rollbackWorkflow.appendLedgerEntry:after',
  'promotionWorkflow.appendLedgerEntry:before',
  'promotionWorkflow.appendLedgerEntry:after',
];

describe('a worker SIGKILLed at each step of a promotion still promotes exactly once', () => {
  test.concurrent.each(PROMOTION_POINTS)('%s', (point) => promotedDespite(point));
});

describe('a worker SIGKILLed at each step of a rollback still rolls back exactly once', () => {
  test.concurrent.each(ROLLBACK_POINTS)('%s', (point) => rolledBackDespite(point));
});

describe('a worker SIGKILLed mid-soak: the soak neither restarts nor shortens', () => {
  // Soak runs are the process's second and third verifyProduction (the first is the verification).
  test.concurrent.each(['promotionWorkflow.verifyProduction:after#2', 'promotionWorkflow.verifyProduction:before#3'])(
    '%s',
    (point) => soakedDespite(point),
  );
});

describe('a worker SIGKILLed in a freeze window: the wait holds, then promotes once', () => {
  test.concurrent.each(['promotionWorkflow.checkFreeze:after', 'stage frozen'])('%s', (point) => frozenDespite(point));
});

describe('waits that are no activity', () => {
  test.concurrent('SIGKILL while awaiting approval: approved on the next worker, promoted once', () =>
    injected('process', 'SIGKILL in stage awaiting_approval', async (run) => {
      const t = await createFaultTarget('approval');
      try {
        const first = await t.worker();
        const sha = await t.repo.commit('feature: class B');
        const handle = await t.start(t.request(sha, { changeClass: 'B' }));
        await waitFor('awaiting approval', async () => (await statusOf(handle)).stage === 'awaiting_approval', 60_000);
        await killWorker(first);
        await handle.signal(approveSignal, { approver: 'bob' });
        await t.worker();
        const status = await handle.result();
        await run.check('the approval counted once', () =>
          expect(status.approval.decisions.map((d) => [d.decision, d.approver])).toEqual([['approve', 'bob']]),
        );
        await checkPromotedOnce(t, run, handle, status, sha);
      } finally {
        await t.close();
      }
    }),
  );

  test.concurrent.each(['stage', 'grant'] as const)(
    'SIGKILL while a promotion waits for the lock (%s): both promoted once, in turn',
    (kill) => lockWait(kill),
  );

  test.concurrent.each([
    'targetLockWorkflow.isWorkflowRunning:after',
    'targetLockWorkflow.recordClosedPromotion:before',
    'targetLockWorkflow.recordClosedPromotion:after',
  ])('SIGKILL at %s while the lock writes the entry of a terminated holder', (point) => closedHolder(point));
});

/**
 * Two promotions of one target; the first holds the lock through a slow verification. `stage`:
 * the worker is killed when the second first shows waiting_for_lock. `grant`: it dies right
 * after the grant, at the second promotion's push: the process's third promoteCommit (the first
 * promotion, with no entry yet for the target, read the tip in one call and pushed in another).
 */
async function lockWait(kill: 'stage' | 'grant'): Promise<void> {
  const fault =
    kill === 'stage'
      ? 'SIGKILL in stage waiting_for_lock'
      : 'SIGKILL at the lock grant (promoteCommit:before#3: the second push)';
  await injected('process', fault, async (run) => {
    // Production answers slowly until the second promotion is seen waiting: the first holds the
    // lock through its verification at least that long, whatever the machine's load.
    const t = await createFaultTarget(`lock-${kill}`, { production: { latencyMs: 3_000 } });
    try {
      const first = await t.worker(
        kill === 'grant' ? { RELEASE_PROMOTER_TEST_CRASH_AT: 'promotionWorkflow.promoteCommit:before#3' } : {},
      );
      const sha1 = await t.repo.commit('feature: first');
      const p1 = await t.start(t.request(sha1));
      await waitFor('the first to hold the lock', async () => (await statusOf(p1)).stage === 'verifying', 60_000);
      const sha2 = await t.repo.commit('feature: second');
      const p2 = await t.start(t.request(sha2));
      await waitFor(
        'the second to wait for the lock',
        async () => (await statusOf(p2)).stage === 'waiting_for_lock',
        60_000,
      );
      t.production.configure({ latencyMs: 0 });
      if (kill === 'stage') {
        await killWorker(first);
      } else {
        const death = await exited(first);
        await run.check('the worker died at the second push', () =>
          expect(death.stderr).toContain('crash point promotionWorkflow.promoteCommit:before#3 reached'),
        );
      }
      await t.worker();
      const [s1, s2] = await Promise.all([p1.result(), p2.result()]);
      await run.check('both promoted', () => expect([s1.stage, s2.stage]).toEqual(['promoted', 'promoted']));
      await run.check('each commit pushed once, the first before the second', async () => {
        const moves = (await t.repo.reflog('release')).map((line) => line.split(' ')[0]);
        expect(moves.filter((m) => m === sha1 || m === sha2)).toEqual([sha2, sha1]); // reflog: newest first
      });
      const entries = t.entries();
      await run.check('one entry each, in promotion order', () =>
        expect(entries.map((e) => e.releaseId)).toEqual([s1.releaseId, s2.releaseId]),
      );
      await run.check('the second was granted after the first released', () =>
        expect(s2.timeline.find((e) => e.stage === 'promoting')!.at >= s1.timeline.at(-1)!.at).toBe(true),
      );
    } finally {
      await t.close();
    }
  });
}

/**
 * A promotion terminated while it holds the lock (mid-verification, after its push): the lock
 * finds its holder closed and writes the holder's `fail` entry; the worker dies at `point`.
 */
async function closedHolder(point: string): Promise<void> {
  await injected('process', `SIGKILL at ${point} (holder terminated)`, async (run) => {
    const t = await createFaultTarget('closed', { production: { latencyMs: 1_500 } });
    try {
      const first = await t.worker({ RELEASE_PROMOTER_TEST_CRASH_AT: point });
      const sha = await t.repo.commit('feature: its workflow is terminated');
      const handle = await t.start(t.request(sha));
      await waitFor('the holder to verify', async () => (await statusOf(handle)).stage === 'verifying', 60_000);
      await handle.terminate('an operator stopped it');
      const death = await exited(first);
      await run.check('the worker died at the crash point', () =>
        expect(death.stderr).toContain(`crash point ${point} reached: SIGKILL`),
      );
      await t.worker();
      const lock = t.client.workflow.getHandle(lockWorkflowId(t.repo.bare, 'release'));
      await waitFor(
        'the lock to free the target',
        async () => (await lock.query(lockStateQuery)).holder === undefined,
        120_000,
      );
      const entries = t.entries();
      await run.check("one entry for the terminated holder, the lock's PromotionClosed fail", () => {
        const own = entriesOf(entries, { workflowId: handle.workflowId });
        expect(own.map((e) => fieldText(e, 'result'))).toEqual(['fail']);
        expect(fieldText(own[0]!, 'notes')).toMatch(/^PromotionClosed: /);
      });
      await run.check('no other entry', () => expect(entries).toHaveLength(1));
      await run.check('the commit was pushed once and stays', async () => {
        expect(await t.pushesOf(sha)).toBe(1);
        expect(await t.repo.tip('release')).toBe(sha);
      });
    } finally {
      await t.close();
    }
  });
}
