// The worker's metrics endpoint: a real worker process with METRICS_ADDRESS, real promotions on
// the test dev server, scraped over HTTP; and the endpoint itself against a real upstream.
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { request } from 'undici';
import { freeLoopbackPort } from '../src/free-port';
import { registry, serveMetrics } from '../src/metrics';
import { failureTypeOf } from '../src/failures';
import { promotionWorkflow } from '../src/workflows';
import { lockWorkflowId } from '../src/workflows/messages';
import { createSampleRepo } from '../sample/repo';
import { startSampleService } from '../sample/service';
import { uniqueId } from './helpers';
import { killWorker, runningWorkers, startWorker } from './worker-process';

async function scrape(url: string): Promise<{ status: number; type: string; text: string }> {
  const res = await request(url);
  return { status: res.statusCode, type: String(res.headers['content-type']), text: await res.body.text() };
}

/** The value of one sample line, e.g. `release_promoter_branch_pushes_total 1`. */
function sample(text: string, nameAndLabels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${nameAndLabels} `));
  return line === undefined ? undefined : Number(line.slice(nameAndLabels.length + 1));
}

describe('serveMetrics', () => {
  const servers: http.Server[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
  });

  async function listen(handler: http.RequestListener): Promise<string> {
    const server = http.createServer(handler);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/metrics`;
  }

  test('serves our metrics followed by the upstream Temporal exporter, on GET /metrics only', async () => {
    const upstream = await listen((_req, res) =>
      res.end('# TYPE temporal_worker_start counter\ntemporal_worker_start 1\n'),
    );
    const port = await freeLoopbackPort();
    servers.push(await serveMetrics(`127.0.0.1:${port}`, upstream));

    const res = await scrape(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.type).toBe(registry.contentType);
    expect(res.text).toContain('# TYPE release_promoter_ledger_entries_total counter');
    expect(res.text).toContain('release_promoter_worker_process_cpu_seconds_total');
    expect(sample(res.text, 'temporal_worker_start')).toBe(1);
    expect(res.text.indexOf('release_promoter_ledger_entries_total')).toBeLessThan(
      res.text.indexOf('temporal_worker_start'),
    );

    expect((await scrape(`http://127.0.0.1:${port}/`)).status).toBe(404);
  });

  test('a scrape still answers with ours when the Temporal exporter is down, and says so', async () => {
    const port = await freeLoopbackPort();
    const gone = `http://127.0.0.1:${await freeLoopbackPort()}/metrics`;
    servers.push(await serveMetrics(`127.0.0.1:${port}`, gone));
    const res = await scrape(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.text).toContain('release_promoter_branch_pushes_total');
    expect(res.text).toMatch(/^# Temporal SDK metrics unavailable: .*ECONNREFUSED/m);
  });

  test('an address already in use is an error naming METRICS_ADDRESS', async () => {
    const taken = await listen((_req, res) => res.end());
    const port = Number(new URL(taken).port);
    await expect(serveMetrics(`127.0.0.1:${port}`, taken)).rejects.toThrow(
      `METRICS_ADDRESS 127.0.0.1:${port}: cannot listen`,
    );
  });
});

describe('a worker started with METRICS_ADDRESS and LOG_LEVEL=INFO', () => {
  let env: TestWorkflowEnvironment;
  let tmp: string;
  beforeAll(async () => {
    const address = process.env.TEMPORAL_TEST_ADDRESS;
    if (!address)
      throw new Error('TEMPORAL_TEST_ADDRESS is unset: run the tests through jest (globalSetup starts the dev server)');
    env = await TestWorkflowEnvironment.createFromExistingServer({ address });
    tmp = await mkdtemp(path.join(os.tmpdir(), 'release-promoter-metrics-'));
  });
  afterAll(async () => {
    for (const worker of runningWorkers()) await killWorker(worker).catch(() => undefined);
    await env?.teardown();
    await rm(tmp, { recursive: true, force: true });
  });

  test('counts what really happened: one entry, one push, every gate, and a refusal by type, beside Temporal’s own metrics', async () => {
    const repo = await createSampleRepo(tmp);
    const staging = await startSampleService({ name: 'staging' });
    const production = await startSampleService({ name: 'production' });
    const taskQueue = uniqueId('metrics-tq');
    const port = await freeLoopbackPort();
    const metricsUrl = `http://127.0.0.1:${port}/metrics`;
    const handles: string[] = [];
    try {
      const worker = await startWorker(
        { taskQueue, ledgerPath: path.join(tmp, 'RELEASE_LOG.md'), gitCacheDir: path.join(tmp, 'git-cache') },
        { METRICS_ADDRESS: `127.0.0.1:${port}`, LOG_LEVEL: 'INFO' },
      );
      const before = await scrape(metricsUrl);
      expect(sample(before.text, 'release_promoter_branch_pushes_total')).toBe(0);

      const sha = await repo.commit('feature: counted');
      const base = {
        changeClass: 'A',
        operator: 'alice',
        repo: repo.bare,
        stagingBase: staging.url,
        productionBase: production.url,
      };
      const passing = await env.client.workflow.start(promotionWorkflow, {
        taskQueue,
        workflowId: uniqueId('metrics-pass'),
        args: [{ ...base, commitSha: sha } as never],
      });
      handles.push(passing.workflowId);
      expect((await passing.result()).stage).toBe('promoted');

      // A sha that names no commit: refused while admitting, before anything is written.
      const refused = await env.client.workflow.start(promotionWorkflow, {
        taskQueue,
        workflowId: uniqueId('metrics-refused'),
        args: [{ ...base, commitSha: 'abcdef1234567' } as never],
      });
      handles.push(refused.workflowId);
      const failure = await refused.result().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      expect(failureTypeOf(failure)).toBe('CommitNotOnSourceBranch');

      const after = await scrape(metricsUrl);
      expect(after.status).toBe(200);
      expect(
        sample(
          after.text,
          'release_promoter_ledger_entries_total{kind="promotion",environment="production",result="pass"}',
        ),
      ).toBe(1);
      expect(sample(after.text, 'release_promoter_branch_pushes_total')).toBe(1);
      for (const gate of ['health', 'db_health', 'chat_happy', 'chat_415', 'cost_gate_chat', 'burst_429']) {
        expect([
          gate,
          sample(after.text, `release_promoter_gate_probes_total{gate="${gate}",stage="staging",result="pass"}`),
        ]).toEqual([gate, 1]);
      }
      for (const gate of ['health', 'db_health', 'chat_happy', 'chat_415']) {
        expect([
          gate,
          sample(after.text, `release_promoter_gate_probes_total{gate="${gate}",stage="production",result="pass"}`),
        ]).toEqual([gate, 1]);
      }
      expect(sample(after.text, 'release_promoter_gate_duration_seconds_count{gate="health",stage="staging"}')).toBe(1);
      expect(
        sample(after.text, 'release_promoter_refusals_total{activity="admitPromotion",type="CommitNotOnSourceBranch"}'),
      ).toBe(1);
      // Temporal's SDK metrics, re-exported on the same endpoint.
      expect(after.text).toMatch(/^temporal_\w+/m);

      // Its log is JSON lines (pino), apart from the one-line banner for whoever started it.
      const logLines = worker
        .stderr()
        .split('\n')
        .filter((line) => line.startsWith('{'));
      expect(logLines.length).toBeGreaterThan(0);
      expect(logLines.map((line) => (JSON.parse(line) as { level: string }).level)).toContain('info');
    } finally {
      for (const id of [...handles, lockWorkflowId(repo.bare, 'release')])
        await env.client.workflow
          .getHandle(id)
          .terminate('test cleanup')
          .catch(() => undefined);
      await staging.close();
      await production.close();
    }
  }, 120_000);
});
