// Promotions that share a staging service never fail each other (SPEC §5): they take turns on
// the service, the next run waits for the window the last burst spent, and a probe that still
// meets a spent window (someone else's traffic) waits it out. Real worker, real dev server, real
// sample services whose one rate window (20 chat requests per second) is shared by every caller.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { PromotionStatus } from '../src/domain';
import { freeLoopbackPort } from '../src/free-port';
import { fieldText, parseLedger } from '../src/ledger/format';
import { stagingTurnWorkflowId, statusQuery } from '../src/workflows/messages';
import { createSampleRepo } from '../sample/repo';
import { LoggedRequest, SampleService, startSampleService } from '../sample/service';
import { createHarness, failureOf, Harness, recordHistory, waitFor } from './helpers';

const statusOf = (handle: WorkflowHandle) => handle.query(statusQuery) as Promise<PromotionStatus>;

/** One run's probes on the service: first arrival to last answer. */
function span(requests: LoggedRequest[]): { start: number; end: number } {
  return { start: Math.min(...requests.map((r) => r.at)), end: Math.max(...requests.map((r) => r.doneAt ?? r.at)) };
}

describe('on a staging service without a registry (the service is the normalized base)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  test('two promotions back to back both pass: the second waits for the window the first burst spent instead of being throttled', async () => {
    const first = await h.start(h.request(await h.repo.commit('feature: first of two')));
    // The second starts the moment the first's burst has spent the window.
    await waitFor('the first promotion past its staging gates', async () => (await statusOf(first)).gates.length > 0);
    const second = await h.start(h.request(await h.repo.commit('feature: second of two')));
    const [a, b] = [await first.result(), await second.result()];
    await recordHistory(second, 'promotion-waited-for-staging');

    expect(a.stage).toBe('promoted');
    expect(b.stage).toBe('promoted');
    expect(b.gates.every((g) => g.pass)).toBe(true);
    // The turn came after the spent window (1 s by default): no probe of the second met a 429.
    expect(b.gates.filter((g) => g.throttled)).toEqual([]);
    expect(b.timeline.map((t) => t.stage).slice(0, 3)).toEqual(['validating', 'waiting_for_staging', 'staging_gates']);
    expect(b.stagingTurn?.service).toBe(`http://127.0.0.1:${h.staging.port}`);
    // The first run's 35 probes come first; the second run began at least a cooldown after them.
    expect(h.staging.requests).toHaveLength(70);
    const firstRun = span(h.staging.requests.slice(0, 35));
    const secondRun = span(h.staging.requests.slice(35));
    expect(secondRun.start - firstRun.end).toBeGreaterThanOrEqual(h.config.gates.defaults.burstCooldownMs - 50);
  });

  test('a window spent by someone else is waited out: the promotion passes and the ledger says how long it waited', async () => {
    // Not a promotion: traffic the turn knows nothing about fills the window just before the gates.
    const staging = await startSampleService({ name: 'busy-staging', rateLimit: { limit: 20, windowMs: 3_000 } });
    try {
      const sha = await h.repo.commit('feature: staging is busy');
      const answers = await Promise.all(
        Array.from({ length: 20 }, () =>
          fetch(`${staging.url}/api/chat`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: '{"message":"someone else"}',
          }),
        ),
      );
      expect(answers.every((a) => a.status === 200)).toBe(true);
      const handle = await h.start(h.request(sha, { stagingBase: staging.url }));
      const status: PromotionStatus = await handle.result();
      expect(status.stage).toBe('promoted');
      const throttled = status.gates.filter((g) => g.throttled);
      expect(throttled.length).toBeGreaterThanOrEqual(1);
      for (const gate of throttled) expect(gate.pass).toBe(true);
      const entry = parseLedger(await h.ledger()).entries.find((e) => e.releaseId === status.releaseId);
      const lines = entry?.fields.get('gates_run')?.value as string[];
      expect(
        lines.some((line) =>
          /^[a-z_]+: pass \(200, \d+ ms, after \d+ x 429 rate-limited, waited \d+\.\d s\)$/.test(line),
        ),
      ).toBe(true);
    } finally {
      await staging.close();
    }
  });
});

describe('a staging service that throttles forever', () => {
  let h: Harness;
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'throttle-forever-'));
    const gates = path.join(tmp, 'gates.json');
    await writeFile(gates, JSON.stringify({ defaults: { rateLimitWaitMs: 1_500 } }));
    h = await createHarness({ staging: { rateLimit: { limit: 0, windowMs: 60_000 } }, env: { GATES_CONFIG: gates } });
  });
  afterAll(async () => {
    await h?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  test('fails its gates within the bound with a message that says staging is busy, not broken', async () => {
    const handle = await h.start(h.request(await h.repo.commit('feature: never gets a turn on chat')));
    const { type, message, status } = await failureOf(handle);
    expect(type).toBe('StagingGatesFailed');
    expect(status.stage).toBe('gates_failed');
    expect(message).toContain('chat_happy kept throttling');
    expect(message).toContain('staging is busy (rate-limited), not broken');
    expect(message).not.toContain('fix staging');
    const throttled = status.gates.filter((g) => !g.pass);
    expect(throttled.map((g) => g.name)).toEqual(['chat_happy', 'cost_gate_chat']);
    for (const gate of throttled) expect(gate.throttled?.waitedMs).toBeLessThanOrEqual(1_500);
    expect(await h.repo.tip('release')).not.toBe(status.commitSha);
    const entry = parseLedger(await h.ledger()).entries.find((e) => e.releaseId === status.releaseId);
    expect(fieldText(entry!, 'result')).toBe('fail');
    expect(fieldText(entry!, 'notes')).toContain('kept throttling');
  });
});

describe('a budget block is still a verdict', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({ staging: { requestMaxTokens: 100, rateLimitHeaders: 'retry-after-seconds' } });
  });
  afterAll(async () => {
    await h?.close();
  });

  test('the cost gate fails on its one 429 BUDGET_EXCEEDED and staging is sent to be fixed', async () => {
    const handle = await h.start(h.request(await h.repo.commit('feature: over budget')));
    const { type, message, status } = await failureOf(handle);
    expect(type).toBe('StagingGatesFailed');
    expect(message).toContain('cost_gate_chat returned 429');
    expect(message).toContain('fix staging');
    const cost = status.gates.find((g) => g.name === 'cost_gate_chat');
    expect(cost?.throttled).toBeUndefined();
    expect(cost?.attempts).toBe(1);
    expect(
      h.staging.requests.filter((r) => r.status === 429 && Number(r.headers['content-length']) > 1000),
    ).toHaveLength(1);
  });
});

describe('eight environments registered on one staging service', () => {
  const N = 8;
  let h: Harness;
  let tmp: string;
  let production: SampleService;
  const tag = (i: number) => `turn-tag-${i}-7f3a`;
  const shas: string[] = [];

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'staging-turns-'));
    production = await startSampleService({ name: 'shared-production' });
    const stagingPort = await freeLoopbackPort();
    const environments: Record<string, unknown> = {};
    const tags: Record<string, string> = {};
    for (let i = 0; i < N; i++) {
      const repo = await createSampleRepo(path.join(tmp, `repo-${i}`));
      environments[`env-${i}`] = {
        repo: repo.bare,
        stagingBase: `http://127.0.0.1:${stagingPort}`,
        stagingService: 'chat-staging',
        productionBase: production.url,
        // Each environment's probes carry its own tag, so the staging log tells the runs apart.
        headersFromEnv: { 'X-Env-Tag': `TURN_TAG_${i}` },
      };
      tags[`TURN_TAG_${i}`] = tag(i);
      shas.push(await repo.commit(`feature for env-${i}`));
    }
    const registry = path.join(tmp, 'environments.json');
    await writeFile(registry, JSON.stringify({ environments }, null, 2));
    h = await createHarness({ staging: { port: stagingPort }, env: { ENVIRONMENTS_CONFIG: registry, ...tags } });
  });
  afterAll(async () => {
    await h?.close();
    await production?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  test('started at once, all eight pass, their gate runs never overlap, and the waiting ones show who runs and their place', async () => {
    const handles = await Promise.all(
      shas.map((sha, i) => h.start({ commitSha: sha, changeClass: 'A', operator: 'alice', environment: `env-${i}` })),
    );

    // While they queue, a waiting one says who runs and where it stands, and the list finds it.
    const waiting = await waitFor(
      'a promotion waiting for its staging turn behind another',
      async () => {
        for (const handle of handles) {
          const status = await statusOf(handle);
          if (status.stage === 'waiting_for_staging' && status.stagingTurn?.position && status.stagingTurn.holder)
            return status;
        }
        return undefined;
      },
      30_000,
      20,
    );
    expect(waiting.stagingTurn?.service).toBe('chat-staging');
    expect(handles.map((hd) => hd.workflowId)).toContain(waiting.stagingTurn?.holder);
    const listed = await waitFor('the waiting promotions in the visibility list', async () => {
      const ids: string[] = [];
      for await (const wf of h.env.client.workflow.list({
        query: `ReleaseStage = 'waiting_for_staging' AND TaskQueue = '${h.taskQueue}'`,
      }))
        ids.push(wf.workflowId);
      return ids.length > 0 ? ids : undefined;
    });
    expect(listed.every((id) => handles.some((hd) => hd.workflowId === id))).toBe(true);

    const outcomes: PromotionStatus[] = await Promise.all(handles.map((hd) => hd.result()));
    expect(outcomes.map((o) => o.stage)).toEqual(Array(N).fill('promoted'));
    expect(outcomes.every((o) => o.stagingTurn?.service === 'chat-staging')).toBe(true);
    // Every one asked for its turn; seven of them got it only after another's run.
    expect(outcomes.filter((o) => o.timeline.some((t) => t.stage === 'waiting_for_staging')).length).toBe(N);

    const runs = Array.from({ length: N }, (_, i) =>
      span(h.staging.requests.filter((r) => r.headers['x-env-tag'] === tag(i))),
    ).sort((a, b) => a.start - b.start);
    for (const run of runs) expect(run.end).toBeGreaterThan(run.start);
    for (let i = 1; i < runs.length; i++) expect(runs[i]!.start).toBeGreaterThanOrEqual(runs[i - 1]!.end);
    // Each run met a fresh window: nobody's probe was throttled.
    expect(outcomes.flatMap((o) => o.gates).filter((g) => g.throttled)).toEqual([]);

    // The service's turn workflow ends once the last spent window has passed.
    const turn = h.env.client.workflow.getHandle(stagingTurnWorkflowId('chat-staging'));
    await waitFor(
      'the staging turn workflow to end after its cooldown',
      async () => (await turn.describe()).status.name === 'COMPLETED',
    );
    await recordHistory(turn, 'staging-turn-eight-runs');
  });
});
