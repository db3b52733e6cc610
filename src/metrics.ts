// The worker's own Prometheus metrics (prom-client), served with Temporal's SDK metrics on one
// endpoint: METRICS_ADDRESS. Counted in activities, where the side effect is known to have
// happened once: a ledger entry really appended, a push that really moved a branch.
import http from 'node:http';
import { ApplicationFailure } from '@temporalio/common';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { request } from 'undici';
import type { GateResult } from './domain';
import type { LedgerRecord } from './ledger/entry';

export const registry = new Registry();

const ledgerEntries = new Counter({
  name: 'release_promoter_ledger_entries_total',
  help: 'Ledger entries appended (one per release), by kind, environment and result. A retry that finds its entry already written is not counted.',
  labelNames: ['kind', 'environment', 'result'] as const,
  registers: [registry],
});

const gateProbes = new Counter({
  name: 'release_promoter_gate_probes_total',
  help: 'Gates run, by gate, stage (staging or production) and result.',
  labelNames: ['gate', 'stage', 'result'] as const,
  registers: [registry],
});

const gateSeconds = new Histogram({
  name: 'release_promoter_gate_duration_seconds',
  help: 'How long each gate took, including its connection retries.',
  labelNames: ['gate', 'stage'] as const,
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
  registers: [registry],
});

const branchPushes = new Counter({
  name: 'release_promoter_branch_pushes_total',
  help: 'Pushes that moved a release branch (promotions and rollbacks). A retry after a push that landed is not counted.',
  registers: [registry],
});

const refusals = new Counter({
  name: 'release_promoter_refusals_total',
  help: 'Activities that ended in a non-retryable failure, by activity and failure type (e.g. admitPromotion / CommitNotOnSourceBranch, promoteCommit / ReleaseBranchDrifted).',
  labelNames: ['activity', 'type'] as const,
  registers: [registry],
});

const ledgerAppendFailures = new Counter({
  name: 'release_promoter_ledger_append_failures_total',
  help: 'Failed attempts to append a ledger entry, by failure type. A promotion keeps retrying its last entry in stage recording, holding its target: a rising count needs someone to look at the ledger.',
  labelNames: ['type'] as const,
  registers: [registry],
});

export function countLedgerAppendFailure(err: unknown): void {
  ledgerAppendFailures.inc({
    type: err instanceof ApplicationFailure ? (err.type ?? 'ApplicationFailure') : ((err as Error)?.name ?? 'Error'),
  });
}

export function countGates(results: readonly GateResult[], stage: 'staging' | 'production'): void {
  for (const gate of results) {
    gateProbes.inc({ gate: gate.name, stage, result: gate.pass ? 'pass' : 'fail' });
    gateSeconds.observe({ gate: gate.name, stage }, gate.latencyMs / 1000);
  }
}

export function countLedgerEntry(record: LedgerRecord, appended: boolean): void {
  if (appended) ledgerEntries.inc({ kind: record.type, environment: record.environment, result: record.result });
}

export function countPush(pushed: boolean): void {
  if (pushed) branchPushes.inc();
}

export function countRefusal(activity: string, err: unknown): void {
  if (err instanceof ApplicationFailure && err.nonRetryable)
    refusals.inc({ activity, type: err.type ?? 'ApplicationFailure' });
}

/**
 * Serves GET /metrics on `address` (host:port): this process's metrics, then Temporal's, read
 * from the SDK's own exporter at `temporalMetricsUrl` on each scrape. When that exporter does not
 * answer, ours are still served, with a comment saying so: a scrape never fails for it.
 */
export async function serveMetrics(address: string, temporalMetricsUrl: string): Promise<http.Server> {
  if (!registry.getSingleMetric('release_promoter_worker_process_cpu_seconds_total'))
    collectDefaultMetrics({ register: registry, prefix: 'release_promoter_worker_' });
  const { host, port } = splitHostPort(address);
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: scrape GET /metrics\n');
      return;
    }
    void Promise.all([registry.metrics(), temporalMetrics(temporalMetricsUrl)]).then(
      ([ours, temporal]) => res.writeHead(200, { 'content-type': registry.contentType }).end(`${ours}\n${temporal}`),
      (err: Error) =>
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`collecting metrics failed: ${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`METRICS_ADDRESS ${address}: cannot listen (${err.message})`)));
    server.listen(port, host, () => resolve());
  });
  return server;
}

async function temporalMetrics(url: string): Promise<string> {
  try {
    const res = await request(url, { headersTimeout: 2_000, bodyTimeout: 2_000 });
    const text = await res.body.text();
    return res.statusCode === 200 ? text : `# Temporal SDK metrics unavailable: ${url} answered ${res.statusCode}\n`;
  } catch (err) {
    return `# Temporal SDK metrics unavailable: ${(err as Error).message}\n`;
  }
}

/** "0.0.0.0:9464" → host and port; "[::1]:9464" → "::1". */
export function splitHostPort(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(address.slice(at + 1)) };
}
