// Release safety on the real dev server (SPEC §9): staging must run the commit before its gates
// (stagingDeployWait), and a soak reruns the production checks after verification, rolling back
// on a failing run and giving way to a manual rollback at once.
import type { RollbackStatus } from '../src/domain';
import { fieldText, parseLedger } from '../src/ledger/format';
import { rollbackWorkflow } from '../src/workflows';
import { statusQuery } from '../src/workflows/messages';
import {
  createHarness,
  entryOf,
  failureOf,
  Harness,
  promoteGood,
  recordHistory,
  uniqueId,
  waitFor,
  waitForStage,
} from './helpers';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

const stagingWait = (timeout: string) => ({ stagingDeployWait: { path: '/health', field: 'version', timeout } });

describe('stagingDeployWait', () => {
  afterEach(() => h.staging.configure({ version: undefined }));

  test('staging on another commit is refused: StagingNotOnCommit, no gate run, a fail entry, release unmoved', async () => {
    const before = await h.repo.tip('release');
    const sha = await h.repo.commit('feature: never deployed to staging');
    h.staging.configure({ version: 'f'.repeat(40) });
    const gateCalls = () => h.staging.requests.filter((r) => r.path !== '/health').length;
    const callsBefore = gateCalls();
    const { type, message, status } = await failureOf(await h.start(h.request(sha, stagingWait('2s'))));

    expect(type).toBe('StagingNotOnCommit');
    expect(message).toContain(`reported ${'f'.repeat(40)} at /health (version), not ${sha}`);
    expect(status.stage).toBe('gates_failed');
    expect(status.gates).toEqual([]);
    expect(status.stagingDeployWait?.lastSeen).toBe('f'.repeat(40));
    expect(gateCalls()).toBe(callsBefore);
    expect(await h.repo.tip('release')).toBe(before);
    const entry = await entryOf(h, status.releaseId);
    expect(fieldText(entry, 'result')).toBe('fail');
    expect(fieldText(entry, 'staging_gate_result')).toBe('not run');
    expect(fieldText(entry, 'notes')).toContain('StagingNotOnCommit');
  });

  test('a promotion waits for staging to deploy its commit, then runs the gates against it', async () => {
    const sha = await h.repo.commit('feature: deploying to staging');
    h.staging.configure({ version: 'unknown' });
    const startedAt = Date.now();
    const handle = await h.start(h.request(sha, stagingWait('60s')));
    const waiting = await waitFor('staging read at least once', async () => {
      const status = await handle.query(statusQuery);
      return status.stagingDeployWait?.lastSeen === 'unknown' ? status : undefined;
    });
    expect(waiting.stage).toBe('waiting_for_staging');
    expect(waiting.gates).toEqual([]);
    const deployedAt = Date.now();
    h.staging.configure({ version: sha });
    const status = await handle.result();
    await recordHistory(handle, 'promotion-staging-deploy-wait');

    expect(status.stage).toBe('promoted');
    expect(status.stagingDeployWait?.lastSeen).toBe(sha);
    // No gate ran before staging reported the commit (the wait reads /health only); they all ran after.
    const gateRequests = h.staging.requests.filter((r) => r.at >= startedAt && r.path !== '/health');
    expect(gateRequests.filter((r) => r.at < deployedAt)).toEqual([]);
    expect(gateRequests.map((r) => r.path)).toEqual(expect.arrayContaining(['/db/health', '/api/chat']));
    expect(status.gates.every((g) => g.pass)).toBe(true);
    expect(await h.repo.tip('release')).toBe(sha);
  });
});

describe('soak', () => {
  test('a soak that passes: the checks rerun every interval until it ends, recorded in prod_verification', async () => {
    const sha = await h.repo.commit('feature: soaks well');
    const handle = await h.start(h.request(sha, { soak: '3s', soakInterval: '1s' }));
    const soaking = await waitForStage(handle, 'soaking');
    expect(soaking.soak).toMatchObject({ durationMs: 3000, intervalMs: 1000, failures: 0 });
    const status = await handle.result();
    await recordHistory(handle, 'promotion-soaked');

    expect(status.stage).toBe('promoted');
    expect(status.soak).toMatchObject({ runs: 3, failures: 0, leftMs: 0 });
    expect(status.timeline.map((t) => t.stage).slice(-3)).toEqual(['verifying', 'soaking', 'promoted']);
    // The soak's end is the workflow time it was set to, not the last run's.
    const soakedAt = Date.parse(status.timeline.find((t) => t.stage === 'soaking')!.at);
    expect(Date.parse(status.soak!.endsAt) - soakedAt).toBeGreaterThanOrEqual(2_900);
    const entry = await entryOf(h, status.releaseId);
    const verification = entry.fields.get('prod_verification')?.value;
    expect(verification).toEqual(expect.arrayContaining(['soak: 3s every 1s, 3 runs, failures: none']));
    expect(fieldText(entry, 'result')).toBe('pass');
  });

  test('a soak that fails at its third run rolls back like a failed verification', async () => {
    const good = await promoteGood(h, 'feature: before the flaky one');
    const sha = await h.repo.commit('feature: degrades after a while');
    const handle = await h.start(h.request(sha, { soak: '20s', soakInterval: '2s' }));
    await waitFor('two soak runs', async () => ((await handle.query(statusQuery)).soak?.runs === 2 ? true : undefined));
    h.production.configure({ dbDown: true });
    // The database recovers once the promotion rolls back, so the rollback's own checks pass.
    await waitFor(
      'rolling back',
      async () => {
        const stage = (await handle.query(statusQuery).catch(() => undefined))?.stage;
        return stage === 'rolling_back' || stage === 'rolled_back' ? true : undefined;
      },
      30_000,
      20,
    );
    h.production.configure({ dbDown: false });
    const { type, message, status } = await failureOf(handle);

    expect(type).toBe('ProductionVerificationFailed');
    expect(message).toMatch(/db_health.*during soak \(run 3, 20s soak every 2s\)/);
    expect(status.stage).toBe('rolled_back');
    expect(status.soak).toMatchObject({ runs: 3, failures: 1 });
    expect(status.rollback?.result).toBe('completed');
    expect(await h.repo.tip('release')).toBe(good);
    const entry = await entryOf(h, status.releaseId);
    expect(fieldText(entry, 'result')).toBe('fail');
    expect(entry.fields.get('prod_verification')?.value).toEqual(
      expect.arrayContaining([expect.stringMatching(/^soak: 20s every 2s, 3 runs, failures: 1 \(run 3: db_health/)]),
    );
  });

  test('a manual rollback during a soak ends it at once and gets the target', async () => {
    const good = await promoteGood(h, 'feature: good before the soak');
    const sha = await h.repo.commit('feature: soaking when oncall gives up on it');
    const handle = await h.start(h.request(sha, { soak: '10m', soakInterval: '1m' }));
    await waitForStage(handle, 'soaking');
    const rollback = await h.env.client.workflow.start(rollbackWorkflow, {
      taskQueue: h.taskQueue,
      workflowId: uniqueId('rollback'),
      args: [
        {
          repo: h.repo.bare,
          productionBase: h.production.url,
          fromSha: sha,
          toSha: good,
          trigger: 'latency up during soak',
          operator: 'oncall-bob',
        },
      ],
    });
    const { type, message, status } = await failureOf(handle);
    const rolledBack: RollbackStatus = await rollback.result();
    await recordHistory(handle, 'promotion-soak-ended-by-rollback');

    expect(type).toBe('ProductionVerificationFailed');
    expect(message).toContain(`rolled back by ${rolledBack.releaseId} during soak (a manual rollback by oncall-bob`);
    expect(status.stage).toBe('rolled_back');
    expect(status.soak?.endedBy).toMatchObject({ workflowId: rollback.workflowId, releaseId: rolledBack.releaseId });
    // The promotion started no rollback of its own: the manual one moved the branch back.
    expect(status.rollback).toBeUndefined();
    expect(rolledBack.result).toBe('completed');
    expect(await h.repo.tip('release')).toBe(good);
    const entries = parseLedger(await h.ledger()).entries;
    const promotionAt = entries.findIndex((e) => e.releaseId === status.releaseId);
    expect(entries[promotionAt + 1]?.releaseId).toBe(rolledBack.releaseId);
    expect(fieldText(entries[promotionAt]!, 'rollback_plan')).toContain(
      `rolled back by ${rolledBack.releaseId} during soak`,
    );
    expect(fieldText(entries[promotionAt]!, 'branch_tip_after')).toBe(sha);
  });
});
