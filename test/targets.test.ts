// A target is the canonical repo + branch (SPEC §6 "Targets"): however a request spells a repo,
// one real repo has one lock, and every ledger entry names it by its canonical spelling.
// Asserted from outside evidence: the bare repo's reflog, the production service's request log,
// the lock workflows the server knows and the ledger bytes.
import { mkdtemp, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { createActivities } from '../src/activities';
import type { PromotionStatus } from '../src/domain';
import { fieldText, parseLedger } from '../src/ledger/format';
import { freeLoopbackPort } from '../src/free-port';
import { rollbackWorkflow } from '../src/workflows';
import { lockWorkflowId, statusQuery } from '../src/workflows/messages';
import { BROKEN_SERVICE, createSampleRepo, type SampleRepo } from '../sample/repo';
import { LoggedRequest, SampleService, startSampleService } from '../sample/service';
import { createHarness, failureOf, Harness, uniqueId, waitFor } from './helpers';

let h: Harness;
let canonical: string;
beforeAll(async () => {
  h = await createHarness();
  canonical = await realpath(h.repo.bare);
});
afterAll(async () => {
  await h?.close();
});

const statusOf = (handle: WorkflowHandle) => handle.query(statusQuery) as Promise<PromotionStatus>;

/** Every lock workflow id this harness's worker ran (all runs), as the server lists them. */
async function lockWorkflowIds(): Promise<string[]> {
  const ids = new Set<string>();
  for await (const wf of h.env.client.workflow.list({
    query: `TaskQueue = '${h.taskQueue}' AND WorkflowType = 'targetLockWorkflow'`,
  })) {
    if (wf.workflowId.startsWith('release-lock:')) ids.add(wf.workflowId);
  }
  return [...ids].sort();
}

/** The workflow ids that asked a lock workflow for the lock, over all its runs. */
async function lockRequesters(workflowId: string): Promise<Set<string>> {
  const requesters = new Set<string>();
  for await (const run of h.env.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    const history = await h.env.client.workflow.getHandle(workflowId, run.runId).fetchHistory();
    for (const event of history.events ?? []) {
      const signal = event.workflowExecutionSignaledEventAttributes;
      if (signal?.signalName !== 'acquireLock') continue;
      requesters.add(
        defaultPayloadConverter.fromPayload<{ workflowId: string }>(signal.input?.payloads?.[0] as Payload).workflowId,
      );
    }
  }
  return requesters;
}

/** First probe's arrival to last probe's answer (the service answers `latencyMs` after logging). */
function window(requests: LoggedRequest[], latencyMs: number): { start: number; end: number } {
  return { start: Math.min(...requests.map((r) => r.at)), end: Math.max(...requests.map((r) => r.at)) + latencyMs };
}

test('promotions of one bare repo spelled as a path, a file:// URL, with ".." and through a symlink share one lock and never move the branch at once', async () => {
  const PROD_LATENCY = 1_500;
  const alias = path.join(h.tmp, 'alias.git');
  await symlink(h.repo.bare, alias);
  const spellings = [h.repo.bare, `file://${h.repo.bare}`, `${h.repo.bare}/../${path.basename(h.repo.bare)}`, alias];
  // Each promotion gets its own staging service, slower for each: they reach the lock in commit
  // order (so none is a downgrade) while the one before still holds it.
  const stagings: SampleService[] = [];
  for (const latencyMs of [100, 500, 900, 1_300])
    stagings.push(await startSampleService({ name: 'staging', latencyMs }));
  h.production.configure({ latencyMs: PROD_LATENCY });
  try {
    const commits: string[] = [];
    for (const spelling of spellings) commits.push(await h.repo.commit(`feature: via ${spelling}`));
    const reflogBefore = await h.repo.reflog('release');
    const requestsBefore = h.production.requests.length;

    // acceptDrift: the drift check cannot stand in for the lock; only one lock per real target can.
    const handles = await Promise.all(
      commits.map((sha, i) =>
        h.start(h.request(sha, { repo: spellings[i], stagingBase: stagings[i]!.url, acceptDrift: true })),
      ),
    );
    const ids = handles.map((handle) => handle.workflowId);
    const results = Promise.all(handles.map((handle) => handle.result()));
    let finished = false;
    void results.finally(() => (finished = true)).catch(() => undefined);

    // While they run: a waiter names, as its holder, a promotion that spelled the repo otherwise.
    const waiting: Array<{ self: number; holder: number }> = [];
    while (!finished) {
      for (const [i, handle] of handles.entries()) {
        const status = await statusOf(handle);
        if (status.stage === 'waiting_for_lock' && status.lock?.holder)
          waiting.push({ self: i, holder: ids.indexOf(status.lock.holder) });
      }
      await delay(50);
    }
    const statuses = await results;
    expect(statuses.map((s) => s.stage)).toEqual(['promoted', 'promoted', 'promoted', 'promoted']);
    expect(waiting.some((w) => w.holder !== -1 && w.holder !== w.self)).toBe(true);

    // One lock: every status names the canonical target, and its one lock workflow served all four.
    expect(statuses.map((s) => s.lock?.target)).toEqual(spellings.map(() => `${canonical}#release`));
    const lockId = lockWorkflowId(canonical, 'release');
    expect(
      await waitFor(
        'the lock workflow to be listed',
        async () => (await lockWorkflowIds()).includes(lockId) && lockWorkflowIds(),
      ),
    ).toEqual([lockId]);
    expect(await lockRequesters(lockId)).toEqual(new Set(ids));

    // The bare repo saw four pushes, one per promotion, in order.
    const reflogNow = await h.repo.reflog('release');
    expect(reflogNow.slice(0, reflogNow.length - reflogBefore.length)).toEqual(
      [...commits].reverse().map((sha) => `${sha} push`),
    );
    expect(await h.repo.tip('release')).toBe(commits[3]);

    // Production (which serves the release tip) saw each promotion's four probes as one block,
    // each block after the previous one's last answer: no push landed during a verification.
    const requests = h.production.requests.slice(requestsBefore);
    expect(requests.map((r) => r.version)).toEqual(commits.flatMap((sha) => [sha, sha, sha, sha]));
    const blocks = commits.map((sha) => requests.filter((r) => r.version === sha));
    for (let i = 1; i < blocks.length; i++) {
      expect(window(blocks[i]!, PROD_LATENCY).start).toBeGreaterThanOrEqual(
        window(blocks[i - 1]!, PROD_LATENCY).end - 5,
      );
    }

    // Every entry names the target by its canonical repo, right after the template's keys.
    const entries = parseLedger(await h.ledger()).entries.filter((e) =>
      statuses.some((s) => s.releaseId === e.releaseId),
    );
    expect(entries).toHaveLength(4);
    for (const entry of entries) {
      expect(fieldText(entry, 'repo')).toBe(canonical);
      expect(entry.keys[entry.keys.indexOf('cost_control_evidence') + 1]).toBe('repo');
    }
  } finally {
    h.production.configure({ latencyMs: 0 });
    for (const s of stagings) await s.close();
  }
}, 120_000);

test('a rolled-back promotion and its rollback both record the canonical repo, though the request spelled it as a file:// URL', async () => {
  const bad = await h.repo.commit('feature: breaks production', { 'service.json': BROKEN_SERVICE });
  const failure = await failureOf(
    await h.start(h.request(bad, { repo: `file://${h.repo.bare}/../${path.basename(h.repo.bare)}` })),
  );
  expect(failure.type).toBe('ProductionVerificationFailed');
  expect(failure.status.stage).toBe('rolled_back');
  const entries = parseLedger(await h.ledger()).entries;
  const promotion = entries.find((e) => e.releaseId === failure.status.releaseId);
  const rollback = entries.find((e) => e.releaseId === failure.status.rollback?.releaseId);
  expect(promotion && fieldText(promotion, 'repo')).toBe(canonical);
  expect(rollback && fieldText(rollback, 'repo')).toBe(canonical);
  expect(rollback && rollback.keys[rollback.keys.indexOf('evidence_refs') + 1]).toBe('repo');
}, 60_000);

test('bases are probed and recorded in their canonical form: lowercased scheme, no trailing slash', async () => {
  const sha = await h.repo.commit('feature: spelled bases');
  const before = h.staging.requests.length;
  const status = await (
    await h.start(
      h.request(sha, { stagingBase: `${h.staging.url.toUpperCase()}//`, productionBase: `${h.production.url}/` }),
    )
  ).result();
  expect(status.stage).toBe('promoted');
  expect(h.staging.requests.length).toBeGreaterThan(before);
  // "GET http://127.0.0.1:port/health": the canonical base, then the gate's path.
  for (const gate of status.gates)
    expect(gate.target.split(' ')[1]).toMatch(new RegExp(`^${h.staging.url.replace(/[.]/g, '\\.')}/[a-z]`));
  const entry = parseLedger(await h.ledger()).entries.find((e) => e.releaseId === status.releaseId);
  expect(entry && fieldText(entry, 'staging_base')).toBe(h.staging.url);
}, 60_000);

/**
 * A harness whose worker registers `production` as `environment` says, on a sample repo of its
 * own. The registry must exist before the worker starts, so the ports and the repo come first.
 */
async function registeredHarness(
  environment: (sample: SampleRepo, bases: { stagingBase: string; productionBase: string }) => Record<string, unknown>,
  env: Record<string, string> = {},
): Promise<{ harness: Harness; sample: SampleRepo; tmp: string }> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'targets-registry-'));
  const sample = await createSampleRepo(path.join(tmp, 'repo'));
  const [stagingPort, productionPort] = [await freeLoopbackPort(), await freeLoopbackPort()];
  const bases = {
    stagingBase: `http://127.0.0.1:${stagingPort}`,
    productionBase: `http://127.0.0.1:${productionPort}`,
  };
  const configFile = path.join(tmp, 'environments.json');
  await writeFile(configFile, JSON.stringify({ environments: { production: environment(sample, bases) } }));
  const harness = await createHarness({
    staging: { port: stagingPort },
    production: { port: productionPort, follow: { gitDir: sample.bare, branch: 'release' } },
    env: { ENVIRONMENTS_CONFIG: configFile, ...env },
  });
  return { harness, sample, tmp };
}

describe('with an environment registry that spells the repo otherwise', () => {
  let r: Harness;
  let sample: SampleRepo;
  let tmp: string;
  let registeredBare: string;
  beforeAll(async () => {
    ({
      harness: r,
      sample,
      tmp,
    } = await registeredHarness((repo, bases) => ({
      repo: `file://${repo.bare}/../${path.basename(repo.bare)}`,
      ...bases,
    })));
    registeredBare = await realpath(sample.bare);
  });
  afterAll(async () => {
    await r?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  test("a request naming the same repo by its plain path is accepted, and a failed promotion's compensating rollback (given the canonical repo) is too", async () => {
    const bad = await sample.commit('feature: breaks production', { 'service.json': BROKEN_SERVICE });
    const failure = await failureOf(
      await r.start({ commitSha: bad, changeClass: 'A', operator: 'alice', repo: sample.bare }),
    );
    expect(failure.type).toBe('ProductionVerificationFailed');
    // The child rollback is started with the parent's canonical repo; the registry has its own spelling.
    expect(failure.status.stage).toBe('rolled_back');
    expect(failure.status.rollback?.result).toBe('completed');
    expect(await sample.tip('release')).toBe(sample.base);
    const entries = parseLedger(await r.ledger()).entries;
    expect(entries.map((e) => fieldText(e, 'repo'))).toEqual([registeredBare, registeredBare]);
  }, 60_000);
});

describe('with a registry that sets the branches, a deploy wait and a secret header', () => {
  const TOKEN = 'targets-gate-token-9f3c2a71';
  const deployWait = { path: '/health', field: 'version', timeout: '30s' };
  let r: Harness;
  let sample: SampleRepo;
  let tmp: string;
  /** A repo and a service the registry does not know. */
  let foreignRepo: SampleRepo;
  let foreign: SampleService;
  beforeAll(async () => {
    ({
      harness: r,
      sample,
      tmp,
    } = await registeredHarness(
      (repo, bases) => ({
        repo: repo.bare,
        fromBranch: 'main',
        toBranch: 'release',
        ...bases,
        deployWait,
        headersFromEnv: { 'X-Gate-Token': 'TARGETS_GATE_TOKEN' },
      }),
      { TARGETS_GATE_TOKEN: TOKEN },
    ));
    // Branches a request could name instead of the registered ones, were it allowed to.
    await sample.forcePush('hotfix', sample.base);
    await sample.forcePush('canary', sample.base);
    foreignRepo = await createSampleRepo(path.join(tmp, 'foreign'));
    foreign = await startSampleService({ name: 'foreign' });
  });
  afterAll(async () => {
    await foreign?.close();
    await r?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  /** Each request as its path and the secret header it carried, sorted (the checks run concurrently). */
  const seen = (requests: LoggedRequest[]): string[] =>
    requests.map((q) => `${q.path} ${q.headers['x-gate-token'] ?? '(no header)'}`).sort();

  /** What a refused request must leave as it was: the ledger, every branch, and every service's request log. */
  async function untouched(): Promise<Record<string, unknown>> {
    return {
      ledger: await r.ledger(),
      reservations: await readFile(`${r.ledgerPath}.reservations`, 'utf8').catch(() => '(none)'),
      branches: await Promise.all([
        ...['release', 'hotfix', 'canary', 'main'].map((branch) => sample.tip(branch)),
        foreignRepo.tip('release'),
      ]),
      probes: [r.staging.requests.length, r.production.requests.length, foreign.requests.length],
    };
  }

  test.each([
    ['deployWait', { ...deployWait, timeout: '5s' }],
    ['fromBranch', 'hotfix'],
    ['toBranch', 'canary'],
  ])(
    'a promotion request giving another %s is refused naming the field: stage invalid, no entry, no branch moved, nothing probed',
    async (field, value) => {
      const sha = await sample.commit(`feature: another ${field}`);
      await sample.forcePush('hotfix', sha); // so the commit is on the branch a fromBranch override names
      const before = await untouched();
      const failure = await failureOf(
        await r.start({ commitSha: sha, changeClass: 'A', operator: 'alice', [field]: value }),
      );
      expect(failure.type).toBe('InvalidPromotionRequest');
      expect(failure.message).toMatch(new RegExp(`^${field}: .* differs from the value registered for production`));
      expect(failure.message).toContain(`omit ${field}`);
      expect(failure.status.stage).toBe('invalid');
      expect(failure.status.releaseId).toBeUndefined();
      expect(await untouched()).toEqual(before);
    },
  );

  test('a request repeating the registered branches and deploy wait is promoted, and every probe to the registered bases carries the secret header, deploy-wait polls and a registered rollback included', async () => {
    const previous = (await sample.tip('release')) as string;
    const sha = await sample.commit('feature: registered values repeated');
    const [stagingBefore, productionBefore] = [r.staging.requests.length, r.production.requests.length];
    const outcome: PromotionStatus = await (
      await r.start({
        commitSha: sha,
        changeClass: 'A',
        operator: 'alice',
        fromBranch: 'main',
        toBranch: 'release',
        deployWait,
      })
    ).result();
    expect(outcome.stage).toBe('promoted');
    expect(outcome.timeline.map((t) => t.stage)).toContain('awaiting_deploy');
    expect(await sample.tip('release')).toBe(sha);
    const staging = r.staging.requests.slice(stagingBefore);
    const production = r.production.requests.slice(productionBefore);
    expect(staging.length).toBeGreaterThanOrEqual(35);
    expect(staging.filter((q) => q.headers['x-gate-token'] !== TOKEN)).toEqual([]);
    // The deploy wait's polls of /health (at least one saw the commit) and the four checks.
    expect(production.filter((q) => q.path === '/health' && q.version === sha).length).toBeGreaterThanOrEqual(2);
    expect(production.filter((q) => q.headers['x-gate-token'] !== TOKEN)).toEqual([]);

    // A rollback naming only the environment takes the registry's repo, branch and base, header included.
    const rollbackBefore = r.production.requests.length;
    const rolledBack = await (
      await r.env.client.workflow.start(rollbackWorkflow, {
        taskQueue: r.taskQueue,
        workflowId: uniqueId('rollback'),
        args: [
          { environment: 'production', fromSha: sha, toSha: previous, trigger: 'registry rollback', operator: 'bob' },
        ],
      })
    ).result();
    expect([rolledBack.stage, rolledBack.result]).toEqual(['rolled_back', 'completed']);
    expect(await sample.tip('release')).toBe(previous);
    expect(seen(r.production.requests.slice(rollbackBefore))).toEqual(
      ['/api/chat', '/api/chat', '/db/health', '/health'].map((where) => `${where} ${TOKEN}`),
    );
  }, 60_000);

  test.each([
    ['repo', () => ({ repo: foreignRepo.bare }), () => foreignRepo],
    ['productionBase', () => ({ productionBase: foreign.url }), () => sample],
  ])(
    'a rollback of the registered environment naming another %s is refused naming the field: no branch moves, nothing is probed or recorded',
    async (field, overrides, target) => {
      // A rollback that went ahead would move this repo's release from its tip to a new commit.
      const fromSha = (await target().tip('release')) as string;
      const toSha = await target().commit(`feature: a rollback target (${field})`);
      const before = await untouched();
      const handle = await r.env.client.workflow.start(rollbackWorkflow, {
        taskQueue: r.taskQueue,
        workflowId: uniqueId('rollback'),
        args: [
          { environment: 'production', fromSha, toSha, trigger: 'foreign target', operator: 'bob', ...overrides() },
        ],
      });
      const failure = await failureOf(handle);
      expect(failure.type).toBe('InvalidRollbackRequest');
      expect(failure.message).toMatch(new RegExp(`^${field}: .* differs from the value registered for production`));
      expect(failure.status.stage).toBe('invalid');
      expect(failure.status.releaseId).toBeUndefined();
      expect(await untouched()).toEqual(before);
    },
  );

  test('the probe activities send the secret header to the registered production base and not to another base they are given', async () => {
    const activities = createActivities(r.config, r.env.client);
    const [registeredBefore, foreignBefore] = [r.production.requests.length, foreign.requests.length];
    await activities.verifyProduction({ environment: 'production', productionBase: r.production.url });
    await activities.verifyProduction({ environment: 'production', productionBase: foreign.url });
    await activities.readDeployedVersion({
      environment: 'production',
      base: foreign.url,
      path: deployWait.path,
      field: deployWait.field,
    });
    expect(seen(r.production.requests.slice(registeredBefore))).toEqual(
      ['/api/chat', '/api/chat', '/db/health', '/health'].map((where) => `${where} ${TOKEN}`),
    );
    expect(seen(foreign.requests.slice(foreignBefore))).toEqual(
      ['/api/chat', '/api/chat', '/db/health', '/health', '/health'].map((where) => `${where} (no header)`),
    );
  });
});
