// `npm run bench [-- --quick] [-- --latency 50]`: release-promoter side by side with the seed's
// shell gates, and at scale (SPEC §8), on the dev server and on the PostgreSQL cluster tier (./cluster.ts).
// Starts its own servers, worker processes and sample services; prints one table and writes the
// same figures to bench/results.json.
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, WorkflowFailedError } from '@temporalio/client';
import Table from 'cli-table3';
import { generateLedger } from './generate-ledger';
import { verifyLedger } from '../src/ledger/verify';
import type { PromotionStatus } from '../src/domain';
import { freeLoopbackPort } from '../src/free-port';
import { connectClient } from '../src/connection';
import { headlessDevServerArgs, resolveTemporalCli } from '../src/temporal-cli';
import { localServerEnv, resolveConnection } from '../src/temporal-profile';
import { prebuiltState } from '../src/build-digest';
import { WORKER_NODE_ARGS, WORKER_V8_FLAGS } from '../src/worker-command';
import { createSampleRepo, SampleRepo } from '../sample/repo';
import { SampleService, startSampleService } from '../sample/service';
import { gitLedgerBench } from './git-ledger';
import { clusterUnavailable, MeasuredServer, onCluster } from './cluster';

const root = path.resolve(__dirname, '..');
const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const latencyMs = Number(argv[argv.indexOf('--latency') + 1] ?? 50) || 50;
const RUNS = quick ? 5 : 10;
const SCALE_DEFAULT = quick ? [50] : [50, 200];
const LEDGER_SIZES = quick ? [10_000, 100_000] : [10_000, 100_000];
const APPENDS_PER_PROCESS = quick ? 100 : 300;
const GIT_APPENDS_PER_PROCESS = quick ? 25 : 100;
const RATE_WINDOW_MS = 500;
// --only side,scale,cluster,shared,ledger,startup runs a subset (for profiling one part); the default runs everything.
const only = argv.includes('--only') ? new Set((argv[argv.indexOf('--only') + 1] ?? '').split(',')) : undefined;
const wants = (part: string) => !only || only.has(part);
const scaleOverride = argv.includes('--n') ? [Number(argv[argv.indexOf('--n') + 1])] : undefined;
const workersOverride = argv.includes('--workers') ? [Number(argv[argv.indexOf('--workers') + 1])] : undefined;

const children: ChildProcess[] = [];
// Every process of the bench reaches its dev server through a Temporal profile of its own (set by
// startServer), so the caller's temporal.toml and variables stay out of the measurement.
let serverEnv: Record<string, string> = {};
const log = (line: string) => process.stderr.write(`${line}\n`);

function run(
  file: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; ms: number; stdout: string }> {
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(file, args, { env: { ...process.env, ...serverEnv, ...env }, maxBuffer: 16 << 20 }, (err, stdout) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, ms: performance.now() - started, stdout });
    });
  });
}

const median = (xs: number[]) => quantile(xs, 0.5);
function quantile(xs: number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const at = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[at] as number;
}

/** CPU seconds a process used so far, itself plus its reaped children (/proc/<pid>/stat). */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /, '')
      .split(' ');
    // After the ")": state is field 3, so utime/stime/cutime/cstime (14–17) sit at 11–14.
    return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0) / 100;
  } catch {
    return NaN;
  }
}

/** The pids whose parent is `pid` (a worker's git runner). */
function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function peakRssMiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
    return Math.round(kb / 1024);
  } catch {
    return NaN;
  }
}

async function startServer(cli: string, dir: string): Promise<{ address: string; version: string; pid: number }> {
  const port = await freeLoopbackPort();
  const server = spawn(
    cli,
    headlessDevServerArgs(port, path.join(dir, 'bench.db'), [
      '--sqlite-pragma',
      'journal_mode=wal',
      '--sqlite-pragma',
      'synchronous=normal',
    ]),
    // The server's shutdown chatter ("context canceled") is not the bench's business.
    { stdio: ['ignore', 'ignore', 'ignore'] },
  );
  children.push(server);
  const address = `127.0.0.1:${port}`;
  serverEnv = await localServerEnv(path.join(dir, 'temporal.toml'), 'bench', address);
  const temporal = resolveConnection({ ...process.env, ...serverEnv });
  for (let i = 0; i < 120; i++) {
    try {
      const connection = await connectClient(temporal, { connectTimeoutMs: 1000 });
      await connection.workflowService.getSystemInfo({});
      await connection.close();
      const version = (await run(cli, ['--version'])).stdout.trim();
      return { address, version, pid: server.pid as number };
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error('dev server did not start');
}

/** A real worker process, started as `npm run worker` (or, compiled, as the image) starts it (one process, so /proc shows its memory). */
async function startWorker(env: Record<string, string>, compiled = false): Promise<ChildProcess> {
  // BENCH_CPU_PROF=<dir> writes each worker's CPU profile there when it stops.
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : [];
  // BENCH_WORKER_FLAGS="--max-semi-space-size=2 …" tries node/V8 flags on the workers only.
  const extra = process.env.BENCH_WORKER_FLAGS?.split(/\s+/).filter(Boolean) ?? [];
  const worker = spawn(
    process.execPath,
    [
      ...profile,
      ...extra,
      ...(compiled
        ? [...WORKER_V8_FLAGS, path.join(root, 'dist', 'worker.js')]
        : [...WORKER_NODE_ARGS, path.join(root, 'src', 'worker.ts')]),
    ],
    {
      cwd: root,
      env: { ...process.env, ...serverEnv, LOG_LEVEL: 'ERROR', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  children.push(worker);
  await new Promise<void>((resolve, reject) => {
    let text = '';
    worker.stderr?.on('data', (c: Buffer) => {
      text += c.toString();
      if (text.includes('polling')) resolve();
    });
    worker.once('exit', (code) => reject(new Error(`worker exited ${code}: ${text}`)));
  });
  return worker;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGINT');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  });
}

async function promote(
  client: Client,
  taskQueue: string,
  input: Record<string, unknown>,
  workflowId: string,
): Promise<{ ms: number; status: PromotionStatus }> {
  const started = performance.now();
  const handle = await client.workflow.start('promotionWorkflow', { taskQueue, workflowId, args: [input] });
  try {
    const status = (await handle.result()) as PromotionStatus;
    return { ms: performance.now() - started, status };
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      const status = (err.cause as { details?: unknown[] }).details?.[0] as PromotionStatus;
      throw new Error(`${workflowId} failed: ${err.cause?.message} (stage ${status?.stage})`, { cause: err });
    }
    throw err;
  }
}

function stageMs(status: PromotionStatus, stage: string): number {
  const i = status.timeline.findIndex((t) => t.stage === stage);
  const next = status.timeline[i + 1];
  if (i < 0 || !next) return NaN;
  return Date.parse(next.at) - Date.parse(status.timeline[i]!.at);
}

interface Results {
  machine: Record<string, unknown>;
  settings: Record<string, unknown>;
  sideBySide: Record<string, number>;
  scale: Array<Record<string, number>>;
  /** The scale rows on the PostgreSQL cluster tier, and the keys the README names (cluster50PerSecond, cluster50P99Ms). */
  cluster: Array<Record<string, number>>;
  clusterSkipped?: string;
  shared: Record<string, number>;
  ledger: Record<string, number>;
  startup: Record<string, number>;
  targets: Record<string, { value: number; target: string; holds: boolean }>;
}

interface BenchContext {
  dir: string;
  address: string;
  serverPid: number;
  client: Client;
  results: Results;
}

/** 1–2. One target, side by side with the seed-style script, alternating A/B so machine drift cancels. */
async function sideBySide({ dir, address, client, results }: BenchContext): Promise<void> {
  log(`side by side: ${RUNS} runs each, ${latencyMs} ms added latency`);
  const repo = await createSampleRepo(path.join(dir, 'one'));
  // A rate-limit window long enough to hold the script's whole chat sequence even when its 30
  // background curls start slowly (a 100 ms window let a loaded machine spread the burst over
  // two windows: no 429, and the baseline failed), and short enough to expire between runs.
  const staging = await startSampleService({
    name: 'staging',
    latencyMs,
    rateLimit: { limit: 20, windowMs: RATE_WINDOW_MS },
  });
  const production = await startSampleService({
    name: 'production',
    latencyMs,
    follow: { gitDir: repo.bare, branch: 'release' },
  });
  const worker = await startWorker({
    TEMPORAL_ADDRESS: address,
    TEMPORAL_TASK_QUEUE: 'bench-one',
    RELEASE_LEDGER_PATH: path.join(dir, 'one', 'RELEASE_LOG.md'),
    GIT_CACHE_DIR: path.join(dir, 'one', 'cache'),
  });
  const script = path.join(root, 'bench', 'baseline', 'promotion_gate.sh');
  const request = (commitSha: string) => ({
    commitSha,
    changeClass: 'A',
    operator: 'bench',
    repo: repo.bare,
    stagingBase: staging.url,
    productionBase: production.url,
  });
  const shellStaging: number[] = [];
  const shellBoth: number[] = [];
  const stageDurations: number[] = [];
  const endToEnd: number[] = [];
  // Warm-up: the first workflow pays for the worker's caches and the git cache clone.
  await promote(client, 'bench-one', request(await repo.commit('warm-up')), `bench-warm-${Date.now()}`);
  await new Promise((r) => setTimeout(r, RATE_WINDOW_MS + 20));
  for (let i = 0; i < RUNS; i++) {
    const a = await run('bash', [script], { MODE: 'staging', BASE: staging.url });
    if (a.code !== 0) throw new Error(`the baseline script failed: ${a.stdout}`);
    const p = await run('bash', [script], { MODE: 'production', BASE: production.url });
    shellStaging.push(a.ms);
    shellBoth.push(a.ms + p.ms);
    await new Promise((r) => setTimeout(r, RATE_WINDOW_MS + 20)); // the burst's rate-limit window
    const b = await promote(
      client,
      'bench-one',
      request(await repo.commit(`bench change ${i}`)),
      `bench-one-${i}-${Date.now()}`,
    );
    stageDurations.push(stageMs(b.status, 'staging_gates'));
    if (process.env.BENCH_STAGES)
      log(
        `staging stage ${stageMs(b.status, 'staging_gates')} ms; gates ${b.status.gates.map((g) => `${g.name} ${g.latencyMs}`).join(', ')}; timeline ${b.status.timeline.map((t) => `${t.stage}@${t.at.slice(17, 23)}`).join(' ')}`,
      );
    endToEnd.push(b.ms);
    await new Promise((r) => setTimeout(r, RATE_WINDOW_MS + 20));
  }
  await stop(worker);
  await staging.close();
  await production.close();
  Object.assign(results.sideBySide, {
    shellStagingMedianMs: Math.round(median(shellStaging)),
    stagingStageMedianMs: Math.round(median(stageDurations)),
    stagingRatio: median(stageDurations) / median(shellStaging),
    shellStagingPlusProductionMedianMs: Math.round(median(shellBoth)),
    promotionEndToEndMedianMs: Math.round(median(endToEnd)),
    endToEndRatio: median(endToEnd) / median(shellBoth),
  });
}

/** Targets that share nothing: each its own repo, staging service and production service. */
async function distinctTargets(
  dir: string,
  n: number,
): Promise<Array<{ repo: SampleRepo; staging: SampleService; production: SampleService; sha: string }>> {
  const targets = [];
  for (let i = 0; i < n; i++) {
    const repo = await createSampleRepo(path.join(dir, `t${i}`));
    const [staging, production] = [
      await startSampleService({ name: `staging-${i}`, latencyMs }),
      await startSampleService({ name: `production-${i}`, latencyMs }),
    ];
    targets.push({ repo, staging, production, sha: await repo.commit(`change ${i}`) });
  }
  return targets;
}

/**
 * 3. N concurrent promotions on distinct targets: nothing shared but the worker and the server
 * (the dev server, or the cluster's).
 */
async function scale(
  dir: string,
  { env: connectionEnv, pids: serverPids, client }: MeasuredServer,
  workers: number,
  n: number,
): Promise<Record<string, number>> {
  log(`scale: ${n} concurrent promotions, ${workers} worker(s) on ${connectionEnv.TEMPORAL_ADDRESS}`);
  const scaleDir = path.join(dir, `scale-${workers}-${n}`);
  await mkdir(scaleDir, { recursive: true });
  const targets = await distinctTargets(scaleDir, n);
  const taskQueue = `bench-scale-${workers}-${n}`;
  const env = {
    ...connectionEnv,
    TEMPORAL_TASK_QUEUE: taskQueue,
    RELEASE_LEDGER_PATH: path.join(scaleDir, 'RELEASE_LOG.md'),
    GIT_CACHE_DIR: path.join(scaleDir, 'cache'),
  };
  const procs: ChildProcess[] = [];
  for (let w = 0; w < workers; w++) procs.push(await startWorker(env));
  // Where the CPU goes: the server (the dev server, or temporal-server and PostgreSQL with its
  // backends), the workers, their git runners, and this process (the sample services and the client).
  const cpu = () => ({
    server: serverPids.flatMap((pid) => [pid, ...childPids(pid)]).reduce((sum, pid) => sum + cpuSeconds(pid), 0),
    worker: procs.reduce((sum, p) => sum + cpuSeconds(p.pid as number), 0),
    git: procs.flatMap((p) => childPids(p.pid as number)).reduce((sum, pid) => sum + cpuSeconds(pid), 0),
    bench: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
  });
  const cpu0 = cpu();
  const t0 = performance.now();
  // Every promotion settles before an error is thrown: the caller closes the client's connection
  // next, and a call still retrying on a closed channel would crash the bench with no word of why.
  const settled = await Promise.allSettled(
    targets.map((t, i) =>
      promote(
        client,
        taskQueue,
        {
          commitSha: t.sha,
          changeClass: 'A',
          operator: 'bench',
          environment: `env-${i}`,
          repo: t.repo.bare,
          stagingBase: t.staging.url,
          productionBase: t.production.url,
        },
        `bench-scale-${workers}-${n}-${i}-${Date.now()}`,
      ),
    ),
  );
  const wallS = (performance.now() - t0) / 1000;
  const failures = settled.flatMap((o) => (o.status === 'rejected' ? [o.reason as Error] : []));
  if (failures.length > 0)
    throw new Error(`${failures.length} of ${n} promotions failed; the first: ${failures[0]!.message}`, {
      cause: failures[0],
    });
  const outcomes = settled.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  const latencies = outcomes.map((o) => o.ms);
  const rss = procs.map((p) => peakRssMiB(p.pid as number));
  const cpu1 = cpu();
  const cpuS = (key: keyof typeof cpu0) => Number((cpu1[key] - cpu0[key]).toFixed(1));
  if (process.env.BENCH_STAGES) log(stageBreakdown(outcomes.map((o) => o.status)));
  for (const p of procs) await stop(p);
  for (const t of targets) await Promise.all([t.staging.close(), t.production.close()]);
  // With every core busy, n promotions cannot finish sooner than all their CPU divided by the
  // cores: the floor under p99 that no scheduling or worker option can go below.
  const cpuFloorS = Number(
    ((cpuS('server') + cpuS('worker') + cpuS('git') + cpuS('bench')) / os.cpus().length).toFixed(1),
  );
  await rm(scaleDir, { recursive: true, force: true });
  return {
    workers,
    n,
    p50Ms: Math.round(quantile(latencies, 0.5)),
    p99Ms: Math.round(quantile(latencies, 0.99)),
    perSecond: Number((n / wallS).toFixed(1)),
    peakRssMiB: Math.max(...rss),
    wallS: Number(wallS.toFixed(1)),
    cpuServerS: cpuS('server'),
    cpuWorkerS: cpuS('worker'),
    cpuGitS: cpuS('git'),
    cpuBenchS: cpuS('bench'),
    cpuFloorS,
  };
}

/** 3b. The same N concurrent promotions on the PostgreSQL cluster tier, started and stopped around them. */
async function clusterScale({ dir, results }: BenchContext, workers: number, n: number): Promise<void> {
  const unavailable = clusterUnavailable();
  if (unavailable) {
    results.clusterSkipped = unavailable;
    log(`cluster: skipped, ${unavailable}`);
    return;
  }
  const clusterDir = path.join(dir, 'on-cluster');
  await mkdir(clusterDir, { recursive: true });
  const { version, measured } = await onCluster(clusterDir, log, (server) => scale(clusterDir, server, workers, n));
  results.machine.clusterTemporal = `temporal-server ${version} on PostgreSQL`;
  results.cluster.push({
    ...measured,
    [`cluster${n}PerSecond`]: measured.perSecond!,
    [`cluster${n}P99Ms`]: measured.p99Ms!,
  });
}

/** What sharing the staging service cost a promotion: its wait for the turn plus its probes' throttled waits. */
function addedWaitMs(status: PromotionStatus): number {
  const turn = stageMs(status, 'waiting_for_staging');
  return (Number.isNaN(turn) ? 0 : turn) + status.gates.reduce((sum, g) => sum + (g.throttled?.waitedMs ?? 0), 0);
}

/**
 * 5. One staging service shared, as the seed's governed chat API is: one rate window (20 chat
 * requests per second) for every caller. 20 promotions back to back, then 8 environments at once.
 */
async function sharedStaging({ dir, address, client, results }: BenchContext): Promise<void> {
  const sharedDir = path.join(dir, 'shared');
  const staging = await startSampleService({ name: 'shared-staging', latencyMs });
  const taskQueue = 'bench-shared';
  const worker = await startWorker({
    TEMPORAL_ADDRESS: address,
    TEMPORAL_TASK_QUEUE: taskQueue,
    RELEASE_LEDGER_PATH: path.join(sharedDir, 'RELEASE_LOG.md'),
    GIT_CACHE_DIR: path.join(sharedDir, 'cache'),
  });
  const passed = (outcomes: Array<{ status: PromotionStatus } | Error>) =>
    outcomes.filter((o) => !(o instanceof Error) && o.status.stage === 'promoted').length;
  const attempt = (input: Record<string, unknown>, id: string) =>
    promote(client, taskQueue, input, id).catch((err: Error) => err);

  const BACK_TO_BACK = 20;
  log(`shared staging: ${BACK_TO_BACK} promotions back to back`);
  const repo = await createSampleRepo(path.join(sharedDir, 'one'));
  const production = await startSampleService({
    name: 'shared-production',
    latencyMs,
    follow: { gitDir: repo.bare, branch: 'release' },
  });
  const sequential: Array<{ ms: number; status: PromotionStatus } | Error> = [];
  for (let i = 0; i < BACK_TO_BACK; i++) {
    const input = {
      commitSha: await repo.commit(`back to back ${i}`),
      changeClass: 'A',
      operator: 'bench',
      repo: repo.bare,
      stagingBase: staging.url,
      productionBase: production.url,
    };
    sequential.push(await attempt(input, `bench-shared-seq-${i}-${Date.now()}`));
  }
  const seqDone = sequential.filter((o): o is { ms: number; status: PromotionStatus } => !(o instanceof Error));
  if (process.env.BENCH_STAGES)
    for (const o of seqDone.slice(0, 5))
      log(`timeline ${o.status.timeline.map((t) => `${t.stage}@${t.at.slice(17, 23)}`).join(' ')}`);
  await production.close();

  const CONCURRENT = 8;
  log(`shared staging: ${CONCURRENT} environments at once`);
  const targets = [];
  for (let i = 0; i < CONCURRENT; i++) {
    const r = await createSampleRepo(path.join(sharedDir, `env-${i}`));
    targets.push({
      repo: r,
      production: await startSampleService({ name: `production-${i}`, latencyMs }),
      sha: await r.commit(`env ${i} change`),
    });
  }
  await new Promise((r) => setTimeout(r, 1_100)); // the last back-to-back burst's window
  const t0 = performance.now();
  const concurrent = await Promise.all(
    targets.map((t, i) =>
      attempt(
        {
          commitSha: t.sha,
          changeClass: 'A',
          operator: 'bench',
          environment: `env-${i}`,
          repo: t.repo.bare,
          stagingBase: staging.url,
          productionBase: t.production.url,
        },
        `bench-shared-par-${i}-${Date.now()}`,
      ),
    ),
  );
  const wallMs = performance.now() - t0;
  await stop(worker);
  await staging.close();
  for (const t of targets) await t.production.close();

  const stagingStageMs = median(seqDone.map((o) => stageMs(o.status, 'staging_gates')));
  const failures = [...sequential, ...concurrent].filter((o): o is Error => o instanceof Error);
  for (const f of failures.slice(0, 3)) log(`  failed: ${f.message}`);
  Object.assign(results.shared, {
    backToBack: BACK_TO_BACK,
    backToBackPassed: passed(sequential),
    backToBackAddedWaitMedianMs: Math.round(median(seqDone.map((o) => addedWaitMs(o.status)))),
    backToBackStagingStageMedianMs: Math.round(stagingStageMs),
    concurrent: CONCURRENT,
    concurrentPassed: passed(concurrent),
    concurrentWallMs: Math.round(wallMs),
    concurrentVsStagingStages: Number((wallMs / (CONCURRENT * stagingStageMs)).toFixed(2)),
  });
}

/** Where the time of concurrent promotions goes, stage by stage (BENCH_STAGES=1). */
function stageBreakdown(statuses: PromotionStatus[]): string {
  const stages = ['validating', 'staging_gates', 'waiting_for_lock', 'promoting', 'verifying'];
  return stages
    .map(
      (stage) =>
        `${stage}: p50 ${Math.round(
          quantile(
            statuses.map((s) => stageMs(s, stage)),
            0.5,
          ),
        )} ms, p99 ${Math.round(
          quantile(
            statuses.map((s) => stageMs(s, stage)),
            0.99,
          ),
        )} ms`,
    )
    .join('\n');
}

/** 4. `ledger verify` on generated ledgers; appends per second from two processes. */
async function ledgerBench({ dir, results }: BenchContext): Promise<void> {
  for (const size of LEDGER_SIZES) {
    log(`ledger verify: ${size} entries`);
    const file = path.join(dir, `ledger-${size}.md`);
    await writeFile(file, generateLedger(size));
    const text = readFileSync(file, 'utf8');
    const t0 = performance.now();
    const report = verifyLedger(text);
    const ms = performance.now() - t0;
    if (!report.ok) throw new Error(`generated ledger does not verify: ${report.problem?.message}`);
    results.ledger[`verify${size / 1000}kMs`] = Math.round(ms);
    const cliRun = await run(process.execPath, [
      path.join(root, 'bin', 'release-promoter.js'),
      'ledger',
      'verify',
      file,
    ]);
    results.ledger[`verify${size / 1000}kCliMs`] = Math.round(cliRun.ms);
  }
  log(`ledger appends: 2 processes x ${APPENDS_PER_PROCESS}`);
  const appendFile = path.join(dir, 'appends.md');
  const appender = path.join(root, 'bench', 'append-worker.ts');
  const t0 = performance.now();
  const runs = await Promise.all(
    [0, 1].map((p) =>
      run(process.execPath, ['--require', 'tsx/cjs', appender, appendFile, String(APPENDS_PER_PROCESS), `p${p}`]),
    ),
  );
  const appendWallS = (performance.now() - t0) / 1000;
  if (runs.some((r) => r.code !== 0)) throw new Error(`append workers failed: ${runs.map((r) => r.stdout).join('\n')}`);
  const appended = verifyLedger(readFileSync(appendFile, 'utf8'));
  if (!appended.ok || appended.entries !== 2 * APPENDS_PER_PROCESS)
    throw new Error(`append run left ${appended.entries} entries: ${appended.problem?.message}`);
  // The processes' own timing excludes their start-up (tsx loading), which is not append work.
  const innerS = Math.max(...runs.map((r) => Number(/elapsedMs=(\d+)/.exec(r.stdout)?.[1] ?? NaN))) / 1000;
  results.ledger.appendsPerSecond = Math.round((2 * APPENDS_PER_PROCESS) / innerS);
  results.ledger.appendsPerSecondWithStartup = Math.round((2 * APPENDS_PER_PROCESS) / appendWallS);
  // The git ledger (RELEASE_LEDGER=git:…): each entry is a reservation commit and an entry commit
  // pushed with a lease, two processes racing for one branch.
  log(`git ledger appends: 2 processes x ${GIT_APPENDS_PER_PROCESS}`);
  Object.assign(results.ledger, await gitLedgerBench(path.join(dir, 'git-ledger'), GIT_APPENDS_PER_PROCESS));
}

/** Milliseconds from spawning a worker to its "polling" line. */
async function timeWorkerStart(env: Record<string, string>, compiled: boolean): Promise<number> {
  const t0 = performance.now();
  const worker = await startWorker(env, compiled);
  const ms = performance.now() - t0;
  await stop(worker);
  return ms;
}

/**
 * 5. Start-up, what a person waits for: the CLI (`--help`, a usage error, `status` of a finished
 * promotion) and a worker from spawn to polling, compiled (the image, the demo) and through tsx
 * (`npm run worker`); medians of 5. Then `npm run demo` end to end on a dev server of its own.
 */
async function startup({ dir, address, client, results }: BenchContext): Promise<void> {
  if (prebuiltState() !== 'fresh') throw new Error('dist/ is not built from src/ as it is: run `npm run build` first');
  log('start-up: CLI and worker, 5 runs each; then the demo');
  const bin = path.join(root, 'bin', 'release-promoter.js');
  const env = { TEMPORAL_ADDRESS: address, NO_COLOR: '1', RELEASE_PROMOTER_IDENTITY: 'bench' };
  const cliMs = async (args: string[], expectCode: number) => {
    const ms: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await run(process.execPath, [bin, ...args], env);
      if (r.code !== expectCode) throw new Error(`release-promoter ${args.join(' ')} exited ${r.code}: ${r.stdout}`);
      ms.push(r.ms);
    }
    return Math.round(median(ms));
  };
  results.startup.cliHelpMs = await cliMs(['--help'], 0);
  results.startup.cliUsageErrorMs = await cliMs(['start', '--class', 'A'], 2);
  const repo = await createSampleRepo(path.join(dir, 'startup'));
  const staging = await startSampleService({ name: 'staging', latencyMs: 0 });
  const production = await startSampleService({ name: 'production', latencyMs: 0 });
  const workerEnv = {
    TEMPORAL_ADDRESS: address,
    TEMPORAL_TASK_QUEUE: 'bench-startup',
    RELEASE_LEDGER_PATH: path.join(dir, 'startup', 'RELEASE_LOG.md'),
    GIT_CACHE_DIR: path.join(dir, 'startup', 'cache'),
  };
  for (const compiled of [true, false]) {
    const ms: number[] = [];
    for (let i = 0; i < 5; i++) ms.push(await timeWorkerStart(workerEnv, compiled));
    results.startup[compiled ? 'workerCompiledMs' : 'workerTsxMs'] = Math.round(median(ms));
  }
  const worker = await startWorker(workerEnv, true);
  const workflowId = `bench-startup-${Date.now()}`;
  await promote(
    client,
    'bench-startup',
    {
      commitSha: await repo.commit('start-up'),
      changeClass: 'A',
      operator: 'bench',
      repo: repo.bare,
      stagingBase: staging.url,
      productionBase: production.url,
    },
    workflowId,
  );
  await stop(worker);
  await staging.close();
  await production.close();
  results.startup.cliStatusMs = await cliMs(['status', workflowId], 0);
  // The demo as a newcomer runs it, on a dev server and data directory of its own.
  const demo = await run(process.execPath, ['--require', 'tsx/cjs', path.join(root, 'scripts', 'demo.ts')], {
    TEMPORAL_ADDRESS: `127.0.0.1:${await freeLoopbackPort()}`,
    DEMO_UI_PORT: String(await freeLoopbackPort()),
    DEMO_DATA_DIR: path.join(dir, 'demo'),
    NO_COLOR: '1',
  });
  if (demo.code !== 0) throw new Error(`npm run demo failed:\n${demo.stdout}`);
  results.startup.demoMs = Math.round(demo.ms);
}

async function main(): Promise<void> {
  const started = Date.now();
  const cli = resolveTemporalCli();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'release-promoter-bench-'));
  const { address, version, pid: serverPid } = await startServer(cli, dir);
  const connection = await connectClient(resolveConnection({ ...process.env, ...serverEnv }));
  const client = new Client({ connection });
  const results: Results = {
    machine: {
      cores: os.cpus().length,
      cpu: os.cpus()[0]?.model,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      temporal: version,
      platform: `${os.platform()} ${os.release()}`,
    },
    settings: { quick, latencyMs, runs: RUNS },
    sideBySide: {},
    scale: [],
    cluster: [],
    shared: {},
    ledger: {},
    startup: {},
    targets: {},
  };

  const SCALE = scaleOverride ?? SCALE_DEFAULT;
  const ctx: BenchContext = { dir, address, serverPid, client, results };
  if (wants('side')) await sideBySide(ctx);
  const devServer: MeasuredServer = { env: serverEnv, pids: [serverPid], client };
  for (const workers of wants('scale') ? (workersOverride ?? [1, 2]) : [])
    for (const n of SCALE) results.scale.push(await scale(dir, devServer, workers, n));
  // Two workers, as the cluster tier (test/cluster/) and docker-compose.yml run it; --n and --workers apply here too.
  if (wants('cluster')) await clusterScale(ctx, workersOverride?.[0] ?? 2, scaleOverride?.[0] ?? 50);
  if (wants('shared')) await sharedStaging(ctx);
  if (wants('ledger')) await ledgerBench(ctx);
  if (wants('startup')) await startup(ctx);

  const big = results.scale.filter((s) => s.n === Math.max(...SCALE));
  const worst = (key: string) => Math.max(...big.map((s) => s[key] as number));
  results.targets = {
    stagingRatio: {
      value: results.sideBySide.stagingRatio as number,
      target: '≤ 0.35',
      holds: (results.sideBySide.stagingRatio as number) <= 0.35,
    },
    endToEndRatio: {
      value: results.sideBySide.endToEndRatio as number,
      target: '≤ 1.0',
      holds: (results.sideBySide.endToEndRatio as number) <= 1.0,
    },
    [`scale${Math.max(...SCALE)}P99Ms`]: {
      value: worst('p99Ms'),
      target: '≤ 5000 (at 200)',
      holds: worst('p99Ms') <= 5000,
    },
    [`scale${Math.max(...SCALE)}PeakRssMiB`]: {
      value: worst('peakRssMiB'),
      target: '≤ 350',
      holds: worst('peakRssMiB') <= 350,
    },
    verify100kMs: {
      value: results.ledger.verify100kMs as number,
      target: '≤ 2000',
      holds: (results.ledger.verify100kMs as number) <= 2000,
    },
    appendsPerSecond: {
      value: results.ledger.appendsPerSecond as number,
      target: '≥ 200',
      holds: (results.ledger.appendsPerSecond as number) >= 200,
    },
    ...(results.startup.cliHelpMs === undefined
      ? {}
      : {
          cliHelpMs: { value: results.startup.cliHelpMs, target: '< 300', holds: results.startup.cliHelpMs < 300 },
          cliUsageErrorMs: {
            value: results.startup.cliUsageErrorMs as number,
            target: '< 300',
            holds: (results.startup.cliUsageErrorMs as number) < 300,
          },
          cliStatusMs: {
            value: results.startup.cliStatusMs as number,
            target: '< 1000',
            holds: (results.startup.cliStatusMs as number) < 1000,
          },
          workerCompiledMs: {
            value: results.startup.workerCompiledMs as number,
            target: '< 3000',
            holds: (results.startup.workerCompiledMs as number) < 3000,
          },
        }),
    ...(results.shared.backToBack === undefined
      ? {}
      : {
          sharedBackToBackPassed: {
            value: results.shared.backToBackPassed as number,
            target: `${results.shared.backToBack} of ${results.shared.backToBack}`,
            holds: results.shared.backToBackPassed === results.shared.backToBack,
          },
          sharedConcurrentPassed: {
            value: results.shared.concurrentPassed as number,
            target: `${results.shared.concurrent} of ${results.shared.concurrent}`,
            holds: results.shared.concurrentPassed === results.shared.concurrent,
          },
        }),
  };
  results.settings.wallSeconds = Math.round((Date.now() - started) / 1000);

  await connection.close();
  print(results);
  if (!only) {
    const out = path.join(root, 'bench', quick ? 'results.quick.json' : 'results.json');
    await writeFile(out, `${JSON.stringify(results, null, 2)}\n`);
    log(`wrote ${path.relative(root, out)}`);
  }
  await rm(dir, { recursive: true, force: true });
}

/** One scale measurement's rows; SPEC §8's targets are the dev server's at 200 (it sets none for the cluster). */
function pushScaleRows(table: Table.Table, row: Record<string, number>, server: string, cores: number): void {
  const targeted = server === 'dev server' && row.n === 200;
  table.push([
    `${server}: ${row.n} concurrent, ${row.workers} worker(s): p50 / p99`,
    `${row.p50Ms} / ${row.p99Ms} ms`,
    targeted ? 'p99 ≤ 5000' : '',
    targeted ? (row.p99Ms! <= 5000 ? 'yes' : 'NO') : '',
  ]);
  table.push([
    `  promotions per second, worker peak RSS`,
    `${row.perSecond}/s, ${row.peakRssMiB} MiB`,
    targeted ? 'RSS ≤ 350' : '',
    targeted ? (row.peakRssMiB! <= 350 ? 'yes' : 'NO') : '',
  ]);
  table.push([
    `  CPU s in ${row.wallS} s: ${server} / worker / git / sample services`,
    `${row.cpuServerS} / ${row.cpuWorkerS} / ${row.cpuGitS} / ${row.cpuBenchS}`,
    '',
    '',
  ]);
  const perPromotion = [row.cpuServerS, row.cpuWorkerS, row.cpuGitS, row.cpuBenchS].map((s) =>
    Math.round(((s as number) * 1000) / (row.n as number)),
  );
  table.push([
    `  CPU ms per promotion (same order); all CPU ÷ ${cores} cores`,
    `${perPromotion.join(' / ')} ms; ${row.cpuFloorS} s`,
    '',
    '',
  ]);
}

function print(r: Results): void {
  const table = new Table({ head: ['measure', 'value', 'target', 'holds'], style: { head: [], border: [] } });
  const s = r.sideBySide;
  if (s.stagingRatio !== undefined)
    table.push(
      ['seed shell script, staging (median)', `${s.shellStagingMedianMs} ms`, '', ''],
      ['promotion staging stage (median, from timeline)', `${s.stagingStageMedianMs} ms`, '', ''],
      [
        '  ratio',
        (s.stagingRatio as number).toFixed(2),
        r.targets.stagingRatio!.target,
        r.targets.stagingRatio!.holds ? 'yes' : 'NO',
      ],
      // SPEC §5's three waves run one after another, each at least one added latency long.
      [
        '  floor: 3 waves × added latency, as a ratio',
        `${3 * (r.settings.latencyMs as number)} ms, ${((3 * (r.settings.latencyMs as number)) / (s.shellStagingMedianMs as number)).toFixed(2)}`,
        '',
        '',
      ],
      ['seed shell scripts, staging + production (median)', `${s.shellStagingPlusProductionMedianMs} ms`, '', ''],
      ['promotion end to end (median)', `${s.promotionEndToEndMedianMs} ms`, '', ''],
      [
        '  ratio',
        (s.endToEndRatio as number).toFixed(2),
        r.targets.endToEndRatio!.target,
        r.targets.endToEndRatio!.holds ? 'yes' : 'NO',
      ],
    );
  for (const row of r.scale) pushScaleRows(table, row, 'dev server', r.machine.cores as number);
  for (const row of r.cluster) {
    const n = row.n as number;
    // The keys results.json and the README name, then the same breakdown as the dev server's.
    table.push(
      [`cluster${n}PerSecond (${r.machine.clusterTemporal}, ${row.workers} worker(s))`, `${row.perSecond}/s`, '', ''],
      [`cluster${n}P99Ms`, `${row.p99Ms} ms`, '', ''],
    );
    pushScaleRows(table, row, 'cluster (server + PostgreSQL)', r.machine.cores as number);
  }
  if (r.clusterSkipped) table.push(['cluster tier: skipped', r.clusterSkipped, '', '']);
  const sh = r.shared;
  if (sh.backToBack !== undefined) {
    table.push(
      [
        `one staging service: ${sh.backToBack} promotions back to back, passed`,
        `${sh.backToBackPassed} of ${sh.backToBack}`,
        r.targets.sharedBackToBackPassed!.target,
        r.targets.sharedBackToBackPassed!.holds ? 'yes' : 'NO',
      ],
      ['  median added wait (turn + throttled probes)', `${sh.backToBackAddedWaitMedianMs} ms`, '', ''],
      [
        `one staging service: ${sh.concurrent} environments at once, passed`,
        `${sh.concurrentPassed} of ${sh.concurrent}`,
        r.targets.sharedConcurrentPassed!.target,
        r.targets.sharedConcurrentPassed!.holds ? 'yes' : 'NO',
      ],
      [
        `  wall vs ${sh.concurrent} × one staging stage (${sh.backToBackStagingStageMedianMs} ms)`,
        `${sh.concurrentWallMs} ms = ${sh.concurrentVsStagingStages} ×`,
        '',
        '',
      ],
    );
  }
  for (const [key, value] of Object.entries(r.ledger))
    table.push([
      `ledger ${key}`,
      String(value),
      r.targets[key]?.target ?? '',
      r.targets[key] ? (r.targets[key].holds ? 'yes' : 'NO') : '',
    ]);
  for (const [key, value] of Object.entries(r.startup))
    table.push([
      `start-up ${key}`,
      `${value} ms`,
      r.targets[key]?.target ?? '',
      r.targets[key] ? (r.targets[key].holds ? 'yes' : 'NO') : '',
    ]);
  console.log(table.toString());
  console.log(
    `machine: ${r.machine.cores} cores (${r.machine.cpu}), ${r.machine.memoryGiB} GiB, node ${r.machine.node}, ${r.machine.temporal}; wall ${r.settings.wallSeconds} s`,
  );
}

main()
  .catch((err) => {
    console.error(`bench failed: ${(err as Error).stack ?? err}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const child of children.reverse()) await stop(child);
    // After a failure the sample services may still hold the event loop.
    process.exit();
  });
