// `npm run demo`: the embedded default end to end. Starts (or reuses) a Temporal dev server with
// SQLite under .data/, a worker process, a sample git remote and two sample chat services
// (staging, and production serving whatever `release` points at), then runs a promotion
// started from the Temporal CLI and prints its outcome and ledger entry.
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import pc from 'picocolors';
import type { PromotionStatus } from '../src/domain';
import { prebuiltState } from '../src/build-digest';
import { parseLedger } from '../src/ledger/format';
import { verifyLedger } from '../src/ledger/verify';
import { connectClient } from '../src/connection';
import { DEV_SERVER_LIMITS, resolveTemporalCli } from '../src/temporal-cli';
import { localServerEnv, resolveConnection } from '../src/temporal-profile';
import { WORKER_NODE_ARGS, WORKER_V8_FLAGS } from '../src/worker-command';
import { statusQuery } from '../src/workflows/messages';
import { BROKEN_SERVICE, createSampleRepo } from '../sample/repo';
import { startSampleService } from '../sample/service';

const root = path.resolve(__dirname, '..');
const keep = process.argv.includes('--keep');
// By default the demo approves its class B promotion itself (--auto-approve, for scripts and CI);
// --wait-for-approval leaves that to you, with the commands printed.
const waitForHuman = process.argv.includes('--wait-for-approval') && !process.argv.includes('--auto-approve');
const address = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
const uiPort = Number(process.env.DEMO_UI_PORT ?? 8233);
const taskQueue = process.env.TEMPORAL_TASK_QUEUE ?? 'release-promotion';
// Where the dev server's SQLite file and the demo's repo, ledger and caches go (the bench uses its own).
const dataDir = path.resolve(process.env.DEMO_DATA_DIR ?? path.join(root, '.data'));
// The demo's processes (its client, its worker, the pasted commands) reach its server through a
// Temporal profile of their own, so a temporal.toml of yours (a Cloud default profile) stays out of it.
const work = path.join(dataDir, 'demo');
const temporalConfigFile = path.join(work, 'temporal.toml');
const TEMPORAL_PROFILE = 'demo';
const children: ChildProcess[] = [];
// Ctrl-C: with --keep the end of the wait; earlier, the end of the demo, children stopped either way.
let keeping = false;
const interrupted = new Promise<void>((resolve) =>
  process.once('SIGINT', () => {
    resolve();
    if (!keeping) {
      say(pc.yellow('\ninterrupted: stopping the worker and the server'));
      void stopChildren().then(() => process.exit(130));
    }
  }),
);

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 30_000 }, (err, stdout, stderr) =>
      err
        ? reject(new Error(`${path.basename(file)} ${args[0]} ${args[1] ?? ''}: ${stderr || err.message}`))
        : resolve(stdout),
    );
  });
}

/** One argument as a shell reads it: bare when safe, else single-quoted. */
function shellQuote(arg: string): string {
  return /^[\w/.:@%+=,-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** A command to paste: `  $ command` (the comment, dimmed, after `#`; `# exit N` when it is not 0). */
function sayCommand(command: string, comment?: string): void {
  say(`  $ ${command}${comment ? `   ${pc.dim(`# ${comment}`)}` : ''}`);
}

/** Paths inside the clone relative to it (`npx release-promoter` runs from there), others absolute. */
function shown(p: string): string {
  const rel = path.relative(root, p);
  return rel.startsWith('..') || path.isAbsolute(rel) ? p : rel;
}

const BLOCK_START = '# --- release-promoter demo environment: paste into another shell ---';
const BLOCK_END = '# --- end of the demo environment ---';

/** The shell lines that give another shell what the demo runs with (cd first: `npx release-promoter` resolves the clone's bin). */
function pasteEnv(options: {
  cli: string;
  ledgerPath?: string;
  gitCacheDir?: string;
  repo?: string;
  stagingBase?: string;
  productionBase?: string;
}): string[] {
  const lines = [`cd ${shellQuote(root)}`];
  // The binary ensure-temporal.sh resolved (TEMPORAL_CLI_PATH, PATH, or .tools/): on PATH when it is
  // called `temporal`, else a function of that name.
  if (path.basename(options.cli) === 'temporal')
    lines.push(`export PATH=${shellQuote(path.dirname(options.cli))}:"$PATH"   # the temporal CLI`);
  else lines.push(`temporal() { ${shellQuote(options.cli)} "$@"; }   # the temporal CLI`);
  lines.push(
    `export TEMPORAL_CONFIG_FILE=${shellQuote(temporalConfigFile)} TEMPORAL_PROFILE=${TEMPORAL_PROFILE}   # the demo server's profile`,
  );
  lines.push(`export TEMPORAL_ADDRESS=${shellQuote(address)}`);
  if (process.env.TEMPORAL_TASK_QUEUE) lines.push(`export TEMPORAL_TASK_QUEUE=${shellQuote(taskQueue)}`);
  if (options.ledgerPath) lines.push(`export RELEASE_LEDGER_PATH=${shellQuote(options.ledgerPath)}`);
  if (options.gitCacheDir) lines.push(`export GIT_CACHE_DIR=${shellQuote(options.gitCacheDir)}`);
  if (options.repo && options.stagingBase && options.productionBase)
    lines.push(
      `export DEMO_REPO=${shellQuote(options.repo)} STAGING_BASE=${shellQuote(options.stagingBase)} PRODUCTION_BASE=${shellQuote(options.productionBase)}`,
    );
  lines.push('export RELEASE_PROMOTER_IDENTITY=bob   # approve and reject need a name: --as, or this');
  return lines;
}

function printBlock(lines: string[]): void {
  say(`  ${BLOCK_START}`);
  for (const line of lines) say(`  ${line}`);
  say(`  ${BLOCK_END}`);
}

async function tryConnect(env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Connection | undefined> {
  const temporal = resolveConnection(env);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let connection: Connection | undefined;
    try {
      connection = await connectClient(temporal, { connectTimeoutMs: 1_000 });
      await connection.workflowService.getSystemInfo({});
      return connection;
    } catch {
      await connection?.close().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return undefined;
}

async function startServer(cli: string, env: NodeJS.ProcessEnv): Promise<Connection> {
  const existing = await tryConnect(env, 500);
  if (existing) {
    say(`${pc.dim('•')} reusing the Temporal server already at ${address}`);
    return existing;
  }
  const [host, port] = address.split(':') as [string, string];
  await mkdir(dataDir, { recursive: true });
  const server = spawn(
    cli,
    [
      'server',
      'start-dev',
      '--ip',
      host,
      '--port',
      port,
      '--ui-port',
      String(uiPort),
      '--ui-disable-news-fetch',
      '--db-filename',
      path.join(dataDir, 'temporal.db'),
      // WAL: the dev server's SQLite writes stop being the bottleneck.
      '--sqlite-pragma',
      'journal_mode=wal',
      '--sqlite-pragma',
      'synchronous=normal',
      '--log-level',
      'error',
      ...DEV_SERVER_LIMITS,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  children.push(server);
  say(
    `${pc.dim('•')} started temporal server start-dev on ${address} (SQLite ${shown(path.join(dataDir, 'temporal.db'))}, UI http://localhost:${uiPort})`,
  );
  const connection = await tryConnect(env, 30_000);
  if (!connection) throw new Error(`the dev server did not answer on ${address} within 30 s`);
  return connection;
}

function startWorker(env: Record<string, string>): ChildProcess {
  // The compiled worker when dist/ is what src/ says (it polls in a second or two); after an edit
  // the sources through tsx, which bundle the workflows first (slower, and said so).
  const fresh = prebuiltState() === 'fresh';
  if (!fresh) say(pc.yellow('• src/ changed since `npm run build`: the worker runs from sources (slower start)'));
  const args = fresh
    ? [...WORKER_V8_FLAGS, path.join(root, 'dist', 'worker.js')]
    : [...WORKER_NODE_ARGS, path.join(root, 'src', 'worker.ts')];
  // One process (node itself, with tsx's require hook if any), so a signal reaches the worker.
  const worker = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  worker.stderr?.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
      process.stderr.write(`${pc.dim(`[worker] ${line}`)}\n`);
  });
  children.push(worker);
  return worker;
}

async function watch(
  client: Client,
  workflowId: string,
): Promise<{ status: PromotionStatus; failure?: { type?: string; message: string } }> {
  const handle = client.workflow.getHandle(workflowId);
  let lastStage = '';
  let inFlight: Promise<void> = Promise.resolve();
  let busy = false;
  const poller = setInterval(() => {
    if (busy) return; // one query at a time, so the last one awaited is the only one
    busy = true;
    inFlight = handle
      .query(statusQuery)
      .then((s) => {
        if (s.stage !== lastStage) {
          lastStage = s.stage;
          say(`  ${pc.cyan(s.stage.padEnd(16))} ${s.releaseId ?? ''}`);
        }
      })
      .catch(() => undefined)
      .finally(() => {
        busy = false;
      });
  }, 150);
  try {
    const status = (await handle.result()) as PromotionStatus;
    return { status };
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      const cause = err.cause as { type?: string; message: string; details?: unknown[] };
      return { status: cause.details?.[0] as PromotionStatus, failure: { type: cause.type, message: cause.message } };
    }
    throw err;
  } finally {
    clearInterval(poller);
    await inFlight; // never leave a query retrying on a connection about to close
  }
}

function printEntry(ledger: string, releaseId: string | undefined): void {
  const entry = parseLedger(ledger).entries.find((e) => e.releaseId === releaseId);
  if (!entry) return say(pc.yellow('  (no ledger entry)'));
  const lines = ledger.split('\n');
  say(pc.dim('  ```'));
  for (let i = entry.line - 1; i < (entry.chainLine ?? entry.line); i++) say(`  ${lines[i]}`);
  say(pc.dim('  ```'));
}

/** Class B waits for a human: show the exact commands, then (unless told to wait) approve as the demo approver. */
async function approve(cli: string, client: Client, workflowId: string): Promise<void> {
  const handle = client.workflow.getHandle(workflowId);
  for (let i = 0; i < 600; i++) {
    const status = await handle.query(statusQuery).catch(() => undefined);
    if (status?.stage === 'awaiting_approval') break;
    if (status && !['validating', 'waiting_for_staging', 'staging_gates'].includes(status.stage)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (waitForHuman) {
    say(`  ${pc.yellow('awaiting_approval')}: class B needs someone other than the operator. In another shell, paste:`);
    printBlock(pasteEnv({ cli }));
    say(`  then any one of:`);
    sayCommand(
      `temporal workflow signal --workflow-id ${workflowId} --name approve --input '{"approver":"bob","comment":"ship it"}'`,
    );
    sayCommand(
      `temporal workflow update execute --workflow-id ${workflowId} --name decide --input '{"decision":"approve","approver":"bob"}'`,
    );
    sayCommand(`npx release-promoter approve ${workflowId}`);
    say(`  ${pc.dim('--wait-for-approval: waiting for one of those (the promotion times out after 30m)')}`);
    return;
  }
  say(
    `  ${pc.yellow('awaiting_approval')}: class B needs someone other than the operator; the demo approves as demo-approver (--wait-for-approval leaves it to you)`,
  );
  const args = [
    'workflow',
    'update',
    'execute',
    '--output',
    'json',
    '--address',
    address,
    '--workflow-id',
    workflowId,
    '--name',
    'decide',
    '--input',
    JSON.stringify({ decision: 'approve', approver: 'demo-approver', comment: 'approved by npm run demo' }),
  ];
  say(pc.dim(`  ran: temporal ${args.map(shellQuote).join(' ')}`));
  const answer = JSON.parse(await run(cli, args)) as { result?: { counted?: boolean; approval?: { state?: string } } };
  say(
    `  ${pc.green('approved')} as demo-approver with temporal workflow update execute: counted=${answer.result?.counted}, approval ${answer.result?.approval?.state}`,
  );
}

async function promote(
  cli: string,
  client: Client,
  input: Record<string, unknown>,
  label: string,
): Promise<PromotionStatus> {
  const workflowId = `promotion-${String(input.environment ?? 'production')}-${String(input.commitSha).slice(0, 7)}-${Date.now().toString(36)}`;
  const args = [
    'workflow',
    'start',
    '--address',
    address,
    '--task-queue',
    taskQueue,
    '--type',
    'promotionWorkflow',
    '--workflow-id',
    workflowId,
    '--input',
    JSON.stringify(input),
  ];
  say(`\n${pc.bold(label)}`);
  say(pc.dim(`  ran: temporal ${args.map(shellQuote).join(' ')}`));
  await run(cli, args);
  if (input.changeClass === 'B') await approve(cli, client, workflowId);
  const { status, failure } = await watch(client, workflowId);
  if (failure)
    say(`  ${pc.red('✗')} ${failure.type}: ${failure.message}${status.rollback ? ` (stage ${status.stage})` : ''}`);
  else
    say(
      `  ${pc.green('✓')} promoted ${status.commitSha.slice(0, 12)} as ${status.releaseId}; chain head ${status.ledgerChainHead?.slice(0, 16)}…`,
    );
  return status;
}

async function main(): Promise<void> {
  const started = Date.now();
  const cli = resolveTemporalCli();
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const temporalEnv = await localServerEnv(temporalConfigFile, TEMPORAL_PROFILE, address);
  const ledgerPath = path.join(work, 'RELEASE_LOG.md');
  const gitCacheDir = path.join(work, 'git-cache');

  const connection = await startServer(cli, { ...process.env, ...temporalEnv });
  const client = new Client({ connection });
  const repo = await createSampleRepo(work);
  // Staging deploys main's tip as it lands; production serves release's.
  const staging = await startSampleService({
    name: 'staging',
    latencyMs: 20,
    follow: { gitDir: repo.bare, branch: 'main', environment: 'staging' },
  });
  const production = await startSampleService({
    name: 'production',
    latencyMs: 20,
    follow: { gitDir: repo.bare, branch: 'release' },
  });
  say(`${pc.dim('•')} sample repo ${repo.bare} (main and release at ${repo.base.slice(0, 7)})`);
  say(`${pc.dim('•')} staging ${staging.url} (serves main's tip), production ${production.url} (serves release's tip)`);
  startWorker({
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'ERROR',
    // The demo's client and UI link use the profile's namespace, default; so does its worker.
    ...temporalEnv,
    TEMPORAL_TASK_QUEUE: taskQueue,
    RELEASE_LEDGER_PATH: ledgerPath,
    GIT_CACHE_DIR: gitCacheDir,
  });

  const good = await repo.commit('feature: friendlier chat answers');
  const status = await promote(
    cli,
    client,
    {
      commitSha: good.slice(0, 12),
      changeClass: 'B',
      approval: { timeout: '30m' },
      operator: 'demo-operator',
      repo: repo.bare,
      stagingBase: staging.url,
      productionBase: production.url,
      stagingDeployWait: { path: '/health', field: 'version', timeout: '30s' },
      deployWait: { path: '/health', field: 'version', timeout: '30s' },
      soak: '4s',
      soakInterval: '2s',
      notes: 'demo: a good change',
    },
    'Promotion 1: a good change (class B: needs approval)',
  );
  printEntry(await readFile(ledgerPath, 'utf8'), status.releaseId);

  // A commit that passes staging but breaks production (its service.json takes the db down).
  const bad = await repo.commit('feature: new db driver', { 'service.json': BROKEN_SERVICE });
  const badStatus = await promote(
    cli,
    client,
    {
      commitSha: bad.slice(0, 12),
      changeClass: 'A',
      operator: 'demo-operator',
      repo: repo.bare,
      stagingBase: staging.url,
      productionBase: production.url,
      stagingDeployWait: { path: '/health', field: 'version', timeout: '30s' },
      deployWait: { path: '/health', field: 'version', timeout: '30s' },
      notes: 'demo: passes staging, breaks production',
    },
    'Promotion 2: a bad deploy',
  );
  const ledger = await readFile(ledgerPath, 'utf8');
  say(`  release is back on ${String(await repo.tip('release')).slice(0, 12)} (the last known good)`);
  printEntry(ledger, badStatus.rollback?.releaseId);
  printEntry(ledger, badStatus.releaseId);

  say(`\n${pc.bold('Auditing the ledger')}`);
  const report = verifyLedger(ledger, status.ledgerChainHead && badStatus.ledgerChainHead);
  sayCommand(`npx release-promoter ledger verify ${shellQuote(shown(ledgerPath))} --head ${badStatus.ledgerChainHead}`);
  say(
    `  ${report.ok ? pc.green('ok') : pc.red('FAIL')}: ${report.entries} entries, ${report.chained} chained, head ${report.head.slice(0, 16)}…`,
  );
  const tamperedPath = `${ledgerPath}.tampered`;
  await writeFile(tamperedPath, ledger.replace('operator: demo-operator', 'operator: mallory'));
  const tampered = verifyLedger(await readFile(tamperedPath, 'utf8'));
  sayCommand(`npx release-promoter ledger verify ${shellQuote(shown(tamperedPath))}`, 'exit 1: one operator edited');
  say(
    `  ${tampered.ok ? pc.green('ok') : pc.red('FAIL')} line ${tampered.problem?.line}: ${tampered.problem?.message}`,
  );

  say(`\n${pc.bold('Where to look')}`);
  say(`  ledger      ${ledgerPath}`);
  sayCommand(`npx release-promoter ledger show ${shellQuote(shown(ledgerPath))}`);
  say(pc.dim(`  demo wall time ${((Date.now() - started) / 1000).toFixed(1)} s`));

  if (keep) {
    keeping = true;
    // A commit for you to promote, and the commands a newcomer wants next: each works as
    // pasted after the block (test/pasted-commands.test.ts runs them).
    const next = await repo.commit('feature: yours to promote');
    const nextId = `promotion-production-${next.slice(0, 7)}-yours`;
    say(`\n${pc.bold('--keep: everything stays up until Ctrl-C')}`);
    say(`  Temporal UI http://localhost:${uiPort}/namespaces/default/workflows`);
    say(`  In another shell, paste this block, then any of the commands after it:`);
    printBlock(
      pasteEnv({
        cli,
        ledgerPath,
        gitCacheDir,
        repo: repo.bare,
        stagingBase: staging.url,
        productionBase: production.url,
      }),
    );
    sayCommand(`temporal workflow list --query "WorkflowType='promotionWorkflow'"`, 'the demo promotions');
    sayCommand(`temporal workflow query --workflow-id ${status.workflowId} --type status`);
    sayCommand('npx release-promoter list');
    sayCommand(`npx release-promoter status ${status.workflowId}`);
    sayCommand('npx release-promoter history --environment production');
    sayCommand('npx release-promoter ledger show');
    sayCommand('npx release-promoter ledger verify "$RELEASE_LEDGER_PATH"');
    say(
      `  ${pc.dim(`A new commit on main, ${next.slice(0, 12)}, is yours to promote (class B: alice starts it, bob approves):`)}`,
    );
    sayCommand(
      `npx release-promoter start --commit ${next.slice(0, 12)} --class B --as alice --repo "$DEMO_REPO" --staging-base "$STAGING_BASE" --production-base "$PRODUCTION_BASE" --deploy-wait-path /health --deploy-wait-field version --deploy-wait-timeout 30s --workflow-id ${nextId}`,
    );
    sayCommand(`npx release-promoter approve ${nextId} --comment "ship it"`, 'as bob (RELEASE_PROMOTER_IDENTITY)');
    sayCommand(`npx release-promoter watch ${nextId}`, 'until it is promoted');
    sayCommand(
      'npx release-promoter rollback --environment production --repo "$DEMO_REPO" --production-base "$PRODUCTION_BASE" --trigger "trying rollback"',
      'back to the last known good',
    );
    say(pc.dim('  Ctrl-C here stops the server, worker and services.'));
    await interrupted;
  } else {
    say(
      pc.dim(
        '  The worker and services stop now (the server too, if the demo started it); `npm run demo -- --keep` keeps them up and prints the commands to try next.',
      ),
    );
  }
  await staging.close();
  await production.close();
  await connection.close();
  process.exitCode =
    status.stage === 'promoted' && badStatus.stage === 'rolled_back' && report.ok && !tampered.ok ? 0 : 1;
}

/** Stops the worker before the server it talks to, each with SIGINT, SIGKILL after 10 s. */
async function stopChildren(): Promise<void> {
  for (const child of children.reverse()) {
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGINT');
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
    });
  }
}

main()
  .catch((err) => {
    console.error(pc.red(`demo failed: ${(err as Error).message}`));
    process.exitCode = 1;
  })
  .finally(() => {
    void stopChildren();
  });
