// Test harness: a real worker on the shared dev server, real sample services on 127.0.0.1,
// a real bare git repo and a real ledger file in a temp dir.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { WorkflowFailedError, WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Runtime, DefaultLogger, Worker } from '@temporalio/worker';
import { createActivities } from '../src/activities';
import { freeLoopbackPort } from '../src/free-port';
import { Config, loadConfig } from '../src/config';
import type { PromotionStatus } from '../src/domain';
import type { LedgerFiles } from '../src/ledger/files';
import { parseLedger, type ParsedEntry } from '../src/ledger/format';
import { promotionWorkflow } from '../src/workflows';
import { statusQuery } from '../src/workflows/messages';
import { promotionStartMetadata, type PromotionStartFields } from '../src/workflows/summaries';
import { createSampleRepo, SampleRepo } from '../sample/repo';
import { SampleOptions, SampleService, startSampleService } from '../sample/service';

let runtimeQuieted = false;
function quietRuntime(): void {
  if (runtimeQuieted) return;
  runtimeQuieted = true;
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // already installed by an earlier file in this process
  }
}

export function workflowBundle(): { code: string } {
  const file = process.env.TEMPORAL_TEST_BUNDLE;
  if (!file)
    throw new Error('TEMPORAL_TEST_BUNDLE is unset: run the tests through jest (globalSetup bundles the workflows)');
  return { code: readFileSync(file, 'utf8') };
}

export interface Harness {
  env: TestWorkflowEnvironment;
  tmp: string;
  repo: SampleRepo;
  staging: SampleService;
  production: SampleService;
  config: Config;
  taskQueue: string;
  ledgerPath: string;
  /** A request for the sample target; `overrides` replace or add fields. */
  request(commitSha: string, overrides?: Record<string, unknown>): Record<string, unknown>;
  start(input: unknown, workflowId?: string): Promise<WorkflowHandle<typeof promotionWorkflow>>;
  ledger(): Promise<string>;
  close(): Promise<void>;
}

/** A class A request by alice for a sample target (repo, staging, production); `overrides` replace or add fields. */
export function sampleRequest(
  target: { repo: SampleRepo; staging: SampleService; production: SampleService },
  commitSha: string,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    commitSha,
    changeClass: 'A',
    operator: 'alice',
    repo: target.repo.bare,
    stagingBase: target.staging.url,
    productionBase: target.production.url,
    ...overrides,
  };
}

let sequence = 0;
export function uniqueId(prefix: string): string {
  sequence++;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${sequence}`;
}

export async function createHarness(
  options: {
    staging?: SampleOptions;
    production?: SampleOptions;
    env?: Record<string, string>;
    ledgerFiles?: LedgerFiles;
    /** Worker processes already poll this task queue, appending to this ledger (the cluster tier): no worker in this process. */
    workers?: { taskQueue: string; ledgerPath: string };
  } = {},
): Promise<Harness> {
  quietRuntime();
  const address = process.env.TEMPORAL_TEST_ADDRESS;
  if (!address)
    throw new Error('TEMPORAL_TEST_ADDRESS is unset: run the tests through jest (globalSetup starts the dev server)');
  const env = await TestWorkflowEnvironment.createFromExistingServer({ address });
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'release-promoter-test-'));
  const repo = await createSampleRepo(tmp);
  // The sample's own limiter (one 1 s window for every caller): promotions on this staging take turns.
  const staging = await startSampleService({ name: 'staging', ...options.staging });
  const production = await startSampleService({
    name: 'production',
    follow: { gitDir: repo.bare, branch: 'release' },
    ...options.production,
  });
  const taskQueue = options.workers?.taskQueue ?? uniqueId('tq');
  const ledgerPath = options.workers?.ledgerPath ?? path.join(tmp, 'RELEASE_LOG.md');
  let config: Config;
  try {
    config = loadConfig({
      ...process.env,
      TEMPORAL_ADDRESS: address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      RELEASE_LEDGER_PATH: ledgerPath,
      GIT_CACHE_DIR: path.join(tmp, 'git-cache'),
      GATES_CONFIG: '',
      ENVIRONMENTS_CONFIG: '',
      ...options.env,
    });
  } catch (err) {
    await Promise.all([staging.close(), production.close(), env.teardown()]);
    throw err;
  }
  const worker = options.workers
    ? undefined
    : await Worker.create({
        connection: env.nativeConnection,
        taskQueue,
        workflowBundle: workflowBundle(),
        activities: createActivities({ ...config, lockCheckIntervalMs: 1_000 }, env.client, {
          ledgerFiles: options.ledgerFiles,
        }),
      });
  const running = worker?.run();
  return {
    env,
    tmp,
    repo,
    staging,
    production,
    config,
    taskQueue,
    ledgerPath,
    request: (commitSha, overrides = {}) => sampleRequest({ repo, staging, production }, commitSha, overrides),
    start: (input, workflowId = uniqueId('promotion')) =>
      env.client.workflow.start(promotionWorkflow, {
        taskQueue,
        workflowId,
        args: [input as never],
        ...promotionStartMetadata(input as PromotionStartFields),
      }),
    ledger: async () => {
      try {
        return await readFile(ledgerPath, 'utf8');
      } catch {
        return '';
      }
    },
    close: async () => {
      // Lock workflows this worker started (a staging turn still cooling, say) would outlive it
      // on a task queue nobody polls; a later harness whose sample service reuses the port would
      // queue behind them forever.
      for await (const wf of env.client.workflow.list({
        query: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'`,
      })) {
        await env.client.workflow
          .getHandle(wf.workflowId)
          .terminate('test harness closed')
          .catch(() => undefined);
      }
      worker?.shutdown();
      await running;
      await staging.close();
      await production.close();
      await env.teardown();
      await rm(tmp, { recursive: true, force: true });
    },
  };
}

/** Where a registry harness's probes go: the sample repo and the two services' bases, known before the worker starts. */
export interface RegistryTarget {
  repo: string;
  stagingBase: string;
  productionBase: string;
}

/**
 * A harness whose worker reads an environment registry (ENVIRONMENTS_CONFIG): the registry must
 * exist before the worker starts, so the repo and the services' ports come first, and `environments`
 * builds the registry's entries from them.
 */
export async function createRegistryHarness(
  environments: (target: RegistryTarget) => Record<string, unknown>,
): Promise<{ h: Harness; repo: SampleRepo; close(): Promise<void> }> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'registry-harness-'));
  const repo = await createSampleRepo(path.join(tmp, 'repo'));
  const [stagingPort, productionPort] = [await freeLoopbackPort(), await freeLoopbackPort()];
  const target = {
    repo: repo.bare,
    stagingBase: `http://127.0.0.1:${stagingPort}`,
    productionBase: `http://127.0.0.1:${productionPort}`,
  };
  const configFile = path.join(tmp, 'environments.json');
  await writeFile(configFile, JSON.stringify({ environments: environments(target) }, null, 2));
  const h = await createHarness({
    staging: { port: stagingPort },
    production: { port: productionPort, follow: { gitDir: repo.bare, branch: 'release' } },
    env: { ENVIRONMENTS_CONFIG: configFile },
  });
  return {
    h,
    repo,
    close: async () => {
      await h.close();
      await rm(tmp, { recursive: true, force: true });
    },
  };
}

/** The ledger entry of a release id in the harness's ledger; throws when there is none. */
export async function entryOf(h: Pick<Harness, 'ledger'>, releaseId: string | undefined): Promise<ParsedEntry> {
  const entry = parseLedger(await h.ledger()).entries.find((e) => e.releaseId === releaseId);
  if (!entry) throw new Error(`no ledger entry ${releaseId}`);
  return entry;
}

/** Promotes a new good commit of the sample, so `release` and the ledger agree on it; returns its sha. */
export async function promoteGood(h: Pick<Harness, 'repo' | 'start' | 'request'>, message: string): Promise<string> {
  const sha = await h.repo.commit(message);
  const status = await (await h.start(h.request(sha))).result();
  expect(status.stage).toBe('promoted');
  return sha;
}

/** The failure a workflow ended with: its `type` and final status (details[0]). */
export async function failureOf(
  handle: WorkflowHandle,
): Promise<{ type?: string; message: string; status: PromotionStatus }> {
  try {
    await handle.result();
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      const cause = err.cause as { type?: string; message: string; details?: unknown[] } | undefined;
      return {
        type: cause?.type,
        message: cause?.message ?? err.message,
        status: cause?.details?.[0] as PromotionStatus,
      };
    }
    throw err;
  }
  throw new Error(`workflow ${handle.workflowId} completed; a failure was expected`);
}

/** Keeps a finished workflow's history under test/histories/ when RECORD_HISTORIES=1 (for the replay test). */
export async function recordHistory(handle: WorkflowHandle, name: string): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  // The CLI writes canonical proto-JSON, the format historyFromJSON reads back.
  const json = execFileSync(
    process.env.TEMPORAL_CLI_RESOLVED as string,
    [
      'workflow',
      'show',
      '--workflow-id',
      handle.workflowId,
      '--output',
      'json',
      '--address',
      process.env.TEMPORAL_TEST_ADDRESS as string,
    ],
    { encoding: 'utf8' },
  );
  // The workflow id is part of the name: replay needs it (child workflow ids derive from it).
  await writeFile(path.join(__dirname, 'histories', `${name}__${handle.workflowId}.json`), json);
}

/** History as text with every payload decoded (payload data arrive base64-encoded or as bytes). */
export function historyText(history: unknown): string {
  return JSON.stringify(history, function (this: Record<string, unknown>, key, value) {
    const raw = this[key];
    if (raw instanceof Uint8Array) return Buffer.from(raw).toString('utf8');
    if (key === 'data' && typeof raw === 'string') return Buffer.from(raw, 'base64').toString('utf8');
    return value;
  });
}

/** Entries' release ids in the ledger text, in file order. */
export function releaseIds(ledger: string): string[] {
  return [...ledger.matchAll(/^- release_id: (\S+)$/gm)].map((m) => m[1] as string);
}

/** Polls `probe` until it returns something other than undefined/false. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** Polls the workflow's status query until it shows `stage` (a query before the first task fails: retried). */
export async function waitForStage(
  handle: Pick<WorkflowHandle, 'query' | 'workflowId'>,
  stage: PromotionStatus['stage'],
): Promise<PromotionStatus> {
  return waitFor(`${handle.workflowId} to reach stage ${stage}`, async () => {
    const status = await handle.query(statusQuery).catch(() => undefined);
    return status?.stage === stage ? status : undefined;
  });
}
