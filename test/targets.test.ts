// A target is the canonical repo + branch (SPEC §6 "Targets"): however a request spells a repo,
// one real repo has one lock, and every ledger entry names it by its canonical spelling.
// Asserted from outside evidence: the bare repo's reflog, the production service's request log,
// the lock workflows the server knows and the ledger bytes.
import { mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { PromotionStatus } from '../src/domain';
import { fieldText, parseLedger } from '../src/ledger/format';
import { freeLoopbackPort } from '../src/free-port';
import { lockWorkflowId, statusQuery } from '../src/workflows/messages';
import { BROKEN_SERVICE, createSampleRepo, type SampleRepo } from '../sample/repo';
import { LoggedRequest, SampleService, startSampleService } from '../sample/service';
import { createHarness, failureOf, Harness, waitFor } from './helpers';

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

describe('with an environment registry that spells the repo otherwise', () => {
  let r: Harness;
  let sample: SampleRepo;
  let tmp: string;
  let registeredBare: string;
  beforeAll(async () => {
    // The registry must exist before the worker starts, so the ports and the repo come first.
    tmp = await mkdtemp(path.join(os.tmpdir(), 'targets-registry-'));
    sample = await createSampleRepo(path.join(tmp, 'repo'));
    registeredBare = await realpath(sample.bare);
    const [stagingPort, productionPort] = [await freeLoopbackPort(), await freeLoopbackPort()];
    const configFile = path.join(tmp, 'environments.json');
    const environment = {
      repo: `file://${sample.bare}/../${path.basename(sample.bare)}`,
      stagingBase: `http://127.0.0.1:${stagingPort}`,
      productionBase: `http://127.0.0.1:${productionPort}`,
    };
    await writeFile(configFile, JSON.stringify({ environments: { production: environment } }));
    r = await createHarness({
      staging: { port: stagingPort },
      production: { port: productionPort, follow: { gitDir: sample.bare, branch: 'release' } },
      env: { ENVIRONMENTS_CONFIG: configFile },
    });
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
