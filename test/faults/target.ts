// One target of its own for a fault scenario: a bare repo, staging and production sample services,
// a ledger file, a git cache and a task queue in a temp dir, and the facts the invariants read
// from outside the workflows (ledger bytes, the bare repo's reflog).
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection, WorkflowHandle } from '@temporalio/client';
import { parseLedger, ParsedEntry, fieldText } from '../../src/ledger/format';
import { verifyLedger } from '../../src/ledger/verify';
import { promotionWorkflow } from '../../src/workflows';
import { lockWorkflowId, stagingTurnWorkflowId } from '../../src/workflows/messages';
import { createSampleRepo, SampleRepo } from '../../sample/repo';
import { SampleOptions, SampleService, startSampleService } from '../../sample/service';
import { sampleRequest, uniqueId } from '../helpers';
import { killWorker, startWorker, WorkerProcess } from '../worker-process';

export interface FaultTarget {
  tmp: string;
  repo: SampleRepo;
  staging: SampleService;
  production: SampleService;
  taskQueue: string;
  ledgerPath: string;
  gitCacheDir: string;
  client: Client;
  handles: WorkflowHandle[];
  workers: WorkerProcess[];
  request(commitSha: string, overrides?: Record<string, unknown>): Record<string, unknown>;
  start(input: Record<string, unknown>): Promise<WorkflowHandle<typeof promotionWorkflow>>;
  /** A worker process on this target (compiled: the suites start dozens); `env` adds variables. */
  worker(env?: Record<string, string>): Promise<WorkerProcess>;
  entries(): ParsedEntry[];
  /** Reflog lines of `release` that moved it to `sha`: one per push that landed. */
  pushesOf(sha: string): Promise<number>;
  close(): Promise<void>;
}

let connection: Promise<Connection> | undefined;
/** One client connection for the file (closed by `closeFaultClient`). */
export function faultClient(): Promise<Client> {
  const address = process.env.TEMPORAL_TEST_ADDRESS;
  if (!address) throw new Error('TEMPORAL_TEST_ADDRESS is unset: run through npm run test:faults');
  connection ??= Connection.connect({ address });
  return connection.then((c) => new Client({ connection: c }));
}

export async function closeFaultClient(): Promise<void> {
  if (connection) await (await connection).close();
  connection = undefined;
}

export async function createFaultTarget(
  name: string,
  options: { production?: SampleOptions; staging?: SampleOptions } = {},
): Promise<FaultTarget> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), `release-promoter-fault-${name}-`));
  const repo = await createSampleRepo(tmp);
  const staging = await startSampleService({ name: 'staging', ...options.staging });
  const production = await startSampleService({
    name: 'production',
    follow: { gitDir: repo.bare, branch: 'release' },
    ...options.production,
  });
  const client = await faultClient();
  const t: FaultTarget = {
    tmp,
    repo,
    staging,
    production,
    client,
    taskQueue: uniqueId(`fault-${name}`),
    ledgerPath: path.join(tmp, 'RELEASE_LOG.md'),
    gitCacheDir: path.join(tmp, 'git-cache'),
    handles: [],
    workers: [],
    request: (commitSha, overrides = {}) => sampleRequest({ repo, staging, production }, commitSha, overrides),
    start: async (input) => {
      const handle = await client.workflow.start(promotionWorkflow, {
        taskQueue: t.taskQueue,
        workflowId: uniqueId(`fault-${name}`),
        args: [input as never],
      });
      t.handles.push(handle);
      return handle;
    },
    worker: async (env = {}) => {
      const worker = await startWorker(
        { taskQueue: t.taskQueue, ledgerPath: t.ledgerPath, gitCacheDir: t.gitCacheDir },
        env,
        { compiled: true },
      );
      t.workers.push(worker);
      return worker;
    },
    entries: () => {
      let text: string;
      try {
        text = readFileSync(t.ledgerPath, 'utf8');
      } catch {
        return [];
      }
      const parsed = parseLedger(text);
      if (parsed.problems.length > 0) throw new Error(`ledger does not parse: ${JSON.stringify(parsed.problems)}`);
      const verified = verifyLedger(text);
      if (!verified.ok) throw new Error(`ledger does not verify: ${JSON.stringify(verified.problem)}`);
      return parsed.entries;
    },
    pushesOf: async (sha) => (await repo.reflog('release')).filter((line) => line.startsWith(`${sha} `)).length,
    close: async () => {
      for (const worker of t.workers) await killWorker(worker).catch(() => undefined);
      const ids = [
        ...t.handles.map((handle) => handle.workflowId),
        lockWorkflowId(repo.bare, 'release'),
        stagingTurnWorkflowId(staging.url),
      ];
      for (const id of ids)
        await client.workflow
          .getHandle(id)
          .terminate('fault scenario cleanup')
          .catch(() => undefined);
      await staging.close();
      await production.close();
      await rm(tmp, { recursive: true, force: true });
    },
  };
  return t;
}

/** Entries of one release id, and of one workflow (the append's key). */
export function entriesOf(entries: ParsedEntry[], key: { releaseId?: string; workflowId?: string }): ParsedEntry[] {
  return entries.filter(
    (e) =>
      (key.releaseId === undefined || e.releaseId === key.releaseId) &&
      (key.workflowId === undefined || fieldText(e, 'workflow_id') === key.workflowId),
  );
}

/** Resolves once the worker process has exited, with what it printed. */
export function exited(worker: WorkerProcess): Promise<{ signal: NodeJS.Signals | null; stderr: string }> {
  const done = () => ({ signal: worker.proc.signalCode, stderr: worker.stderr() });
  if (worker.proc.exitCode !== null || worker.proc.signalCode !== null) return Promise.resolve(done());
  return new Promise((resolve) => worker.proc.once('exit', () => resolve(done())));
}
