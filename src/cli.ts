// `release-promoter <command>`: the project's CLI over the Temporal client, the gate runner and
// the ledger. Identity comes from RELEASE_PROMOTER_IDENTITY (default: the OS user).
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { Command, CommanderError, Option } from '@commander-js/extra-typings';
import { Client, WorkflowFailedError, WorkflowHandle, WorkflowUpdateFailedError } from '@temporalio/client';
import Table from 'cli-table3';
import pc from 'picocolors';
import { newProbeAgent, runGates } from './activities/gates';
import { canonicalRepo, readBranchTip } from './activities/git';
import { Config, ConfigError, loadConfig } from './config';
import { failureMessageOf } from './failures';
import { parseBaseUrl, type GateResult, type LockSpot, type PromotionStatus, type RollbackStatus } from './domain';
import { describeThrottling } from './gates/throttle';
import { productionGateNames, stagingGateNames } from './gates/catalog';
import { fieldText, parseLedger } from './ledger/format';
import { lastKnownGood, ledgerIndex } from './ledger/ledger-index';
import { verifyLedger } from './ledger/verify';
import { liveView } from './live-view';
import { connectClient } from './worker';
import { promotionWorkflow, rollbackWorkflow } from './workflows';
import { decideUpdate, statusQuery } from './workflows/messages';
import { parsePromotionRequest } from './workflows/request';

function identity(): string {
  return process.env.RELEASE_PROMOTER_IDENTITY || os.userInfo().username;
}

function config(): Config {
  return loadConfig();
}

async function withClient<T>(work: (client: Client, cfg: Config) => Promise<T>): Promise<T> {
  const cfg = config();
  const connection = await connectClient(cfg);
  try {
    return await work(new Client({ connection, namespace: cfg.temporal.namespace }), cfg);
  } finally {
    await connection.close();
  }
}

function print(json: boolean, value: unknown, human: () => void): void {
  if (json) process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  else human();
}

function gateTable(results: GateResult[]): string {
  const table = new Table({ head: ['gate', 'result', 'status', 'latency', 'tries', 'detail'], style: { head: [], border: [] }, colWidths: [24, 8, 8, 9, 7, 60], wordWrap: true });
  for (const r of results) table.push([r.name, r.pass ? pc.green('pass') : pc.red('fail'), r.status ?? '—', `${r.latencyMs} ms`, r.attempts, r.throttled ? `${describeThrottling(r.throttled)}; ${r.detail}` : r.detail]);
  return table.toString();
}

/** "approval pending (1/2 approvals)": only approvals count towards the minimum. */
function approvalLine(approval: PromotionStatus['approval']): string {
  return `approval ${approval.state} (${approval.decisions.filter((d) => d.decision === 'approve').length}/${approval.minApprovals} approvals)`;
}

/** "6/6 passed" or "4/6 passed; failed: db_health 503, chat_happy no answer" */
function gateSummary(results: GateResult[]): string {
  const failed = results.filter((r) => !r.pass).map((r) => `${r.name} ${r.status ?? 'no answer'}`);
  const passed = `${results.length - failed.length}/${results.length} passed`;
  return failed.length ? `${passed}; ${pc.red(`failed: ${failed.join(', ')}`)}` : pc.green(passed);
}

/** "waiting for staging service http://…:8080: 2nd in line, promotion-… runs now" */
function waitingLine(what: string, spot: LockSpot): string {
  const place = spot.position ? `#${spot.position} in line` : 'asking for a turn';
  const who = spot.holder ? `, ${spot.holder} holds it` : spot.availableAt ? `, free once the last run's rate window ends at ${spot.availableAt}` : '';
  return pc.yellow(`waiting for ${what}: ${place}${who}`);
}

/** The status as text; `compact` gives each gate set one line (the live view of `watch`). */
function describeStatus(status: PromotionStatus | RollbackStatus, compact = false): string {
  const gates = (title: string, results: GateResult[]) => (compact ? [`${title}: ${gateSummary(results)}`] : [`${title}:`, gateTable(results)]);
  const lines = [`${pc.bold(status.workflowId)}  ${status.releaseId ?? '(no release id)'}  stage ${pc.cyan(status.stage)}`];
  if ('commitSha' in status) lines.push(`commit ${status.commitSha}  class ${status.changeClass}  environment ${status.environment}  operator ${status.operator}`);
  if (status.stage === 'waiting_for_staging' && 'stagingTurn' in status && status.stagingTurn) lines.push(waitingLine(`staging service ${status.stagingTurn.service}`, status.stagingTurn));
  if (status.stage === 'waiting_for_lock' && status.lock) lines.push(waitingLine(`target ${status.lock.target}`, status.lock));
  if ('gates' in status && status.gates.length) lines.push(...gates('staging gates', status.gates));
  if ('approval' in status && status.approval.required) lines.push(approvalLine(status.approval));
  if ('prodVerification' in status && status.prodVerification.length) lines.push(...gates('production verification', status.prodVerification));
  if ('verification' in status && status.verification.length) lines.push(...gates('post-rollback verification', status.verification));
  if ('rollback' in status && status.rollback) lines.push(`rollback ${status.rollback.releaseId ?? status.rollback.workflowId}: ${status.rollback.result ?? 'running'}`);
  if (status.failure) lines.push(pc.red(`${status.failure.type}: ${status.failure.message}`));
  if (status.ledgerChainHead) lines.push(`ledger chain head ${status.ledgerChainHead}`);
  return lines.join('\n');
}

/**
 * Waits for the outcome. On a terminal the status is redrawn in place while it runs;
 * otherwise (a pipe, a CI log) one line per stage change. Exit code 0 only when promoted /
 * rolled back.
 */
async function follow(handle: WorkflowHandle, json: boolean): Promise<number> {
  let last = '';
  let inFlight: Promise<void> = Promise.resolve();
  const live = !json && process.stderr.isTTY ? liveView(process.stderr) : undefined;
  const started = Date.now();
  const timer = setInterval(() => {
    inFlight = handle
      .query(statusQuery)
      .then((s: PromotionStatus | RollbackStatus) => {
        const seconds = Math.round((Date.now() - started) / 1000);
        if (live) live.show(`${pc.dim(`watching for ${seconds} s; Ctrl-C stops watching, not the ${'commitSha' in s ? 'promotion' : 'rollback'}`)}\n${describeStatus(s, true)}`);
        else if (s.stage !== last && !json) process.stderr.write(`${new Date().toISOString()} ${s.stage}\n`);
        last = s.stage;
      })
      .catch(() => undefined);
  }, 500);
  // The live block is gone before the outcome is printed below it.
  const outcome = await handle.result().then(
    (status: PromotionStatus | RollbackStatus) => ({ status }),
    (err: unknown) => ({ err }),
  );
  clearInterval(timer);
  await inFlight;
  live?.clear();
  if ('status' in outcome) {
    const { status } = outcome;
    print(json, status, () => console.log(describeStatus(status)));
    return status.stage === 'promoted' || status.stage === 'rolled_back' ? 0 : 1;
  }
  const { err } = outcome;
  if (!(err instanceof WorkflowFailedError)) throw err;
  const cause = err.cause as { type?: string; message?: string; details?: unknown[] } | undefined;
  const status = cause?.details?.[0] as PromotionStatus | undefined;
  print(json, { failure: { type: cause?.type, message: cause?.message }, status }, () => {
    if (status) console.log(describeStatus(status));
    else console.log(pc.red(`${cause?.type ?? 'failed'}: ${cause?.message ?? err.message}`));
  });
  return 1;
}

// Usage errors exit 2, so a script can tell a bad command line from a failed check (exit 1).
const program = new Command()
  .name('release-promoter')
  .description('Promote releases with staging gates, approval, verification and automatic rollback on Temporal.')
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(pc.red(text)) });

program
  .command('start')
  .description('start a promotion of a commit (promotionWorkflow)')
  .requiredOption('--commit <sha>', 'commit to promote (7–40 hex)')
  .addOption(new Option('--class <class>', 'change class').choices(['A', 'B']).makeOptionMandatory())
  .option('--environment <name>', 'environment', 'production')
  .option('--repo <remote>', 'git remote (without a registry)')
  .option('--from-branch <branch>')
  .option('--to-branch <branch>')
  .option('--staging-base <url>')
  .option('--production-base <url>')
  .option('--optional-gates <names>', 'comma-separated optional gates')
  .option('--expect-budget-block', 'the cost gate expects 429 BUDGET_EXCEEDED')
  .option('--approval-required', 'wait for approval even for class A')
  .option('--accept-drift')
  .option('--allow-downgrade')
  .option('--notes <text>')
  .option('--workflow-id <id>')
  .option('--wait', 'follow the promotion until it ends')
  .option('--json')
  .action(async (o) => {
    const request = {
      commitSha: o.commit,
      changeClass: o.class,
      operator: identity(),
      environment: o.environment,
      repo: o.repo,
      fromBranch: o.fromBranch,
      toBranch: o.toBranch,
      stagingBase: o.stagingBase,
      productionBase: o.productionBase,
      optionalGates: o.optionalGates ? o.optionalGates.split(',').filter(Boolean) : undefined,
      expectBudgetBlock: o.expectBudgetBlock,
      approval: o.approvalRequired ? { required: true } : undefined,
      acceptDrift: o.acceptDrift,
      allowDowngrade: o.allowDowngrade,
      notes: o.notes,
    };
    const input: unknown = JSON.parse(JSON.stringify(request));
    // The workflow parses the same schema first thing; a typo is cheaper to report here, before
    // a workflow exists. (Whether the repo, branches and commit exist only the worker can tell.)
    try {
      parsePromotionRequest(input);
    } catch (err) {
      throw new ConfigError(failureMessageOf(err));
    }
    process.exitCode = await withClient(async (client, cfg) => {
      const workflowId = o.workflowId ?? `promotion-${o.environment}-${o.commit.slice(0, 7)}-${Date.now().toString(36)}`;
      const handle = await client.workflow.start(promotionWorkflow, { taskQueue: cfg.taskQueue, workflowId, args: [input as never] });
      if (o.wait) return follow(handle, !!o.json);
      // Started is not admitted: wait (briefly) for the worker's verdict on repo, branches and commit.
      const admitted = await pastValidation(handle);
      if (admitted?.stage === 'invalid') return follow(handle, !!o.json);
      print(!!o.json, { workflowId, runId: handle.firstExecutionRunId, releaseId: admitted?.releaseId, stage: admitted?.stage }, () =>
        console.log(admitted ? `started ${workflowId}: ${admitted.releaseId ?? ''} admitted, now ${admitted.stage}` : `started ${workflowId}; no worker has checked it yet (see: release-promoter status ${workflowId})`),
      );
      return 0;
    });
  });

/** The status once the promotion has left `validating`, or undefined when no answer came within 15 s. */
async function pastValidation(handle: WorkflowHandle): Promise<PromotionStatus | undefined> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const status = (await handle.query(statusQuery).catch(() => undefined)) as PromotionStatus | undefined;
    if (status && status.stage !== 'validating') return status;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return undefined;
}

async function decide(workflowId: string, decision: 'approve' | 'reject', o: { comment?: string; reason?: string; commit?: string; json?: boolean }): Promise<number> {
  return withClient(async (client) => {
    const answer = await client.workflow
      .getHandle(workflowId)
      .executeUpdate(decideUpdate, { args: [{ decision, approver: identity(), comment: o.comment, reason: o.reason, commitSha: o.commit }] })
      .catch((err: unknown) => {
        // The validator's reason ("commitSha: must be 7–40 hex…") is in the cause, not the message.
        if (err instanceof WorkflowUpdateFailedError) throw new Error(`decision refused: ${err.cause?.message ?? err.message}`);
        throw err;
      });
    print(!!o.json, answer, () => {
      if (answer.counted) console.log(`${pc.green('counted')}: ${identity()} ${decision === 'approve' ? 'approved' : 'rejected'}; ${approvalLine(answer.approval)}`);
      else console.log(`${pc.yellow('not counted')}: ${answer.why}`);
    });
    return answer.counted ? 0 : 1;
  });
}

program
  .command('approve')
  .description('approve a waiting promotion as RELEASE_PROMOTER_IDENTITY (the decide update: you learn at once whether it counted)')
  .argument('<workflowId>')
  .option('--comment <text>')
  .option('--commit <sha>', 'only if the promotion is of this commit')
  .option('--json')
  .action(async (workflowId, o) => {
    process.exitCode = await decide(workflowId, 'approve', o);
  });

program
  .command('reject')
  .description("reject a waiting promotion (the operator's own reject withdraws it)")
  .argument('<workflowId>')
  .requiredOption('--reason <text>', 'why')
  .option('--commit <sha>', 'only if the promotion is of this commit')
  .option('--json')
  .action(async (workflowId, o) => {
    process.exitCode = await decide(workflowId, 'reject', o);
  });

program
  .command('status')
  .description("a promotion's or rollback's status")
  .argument('<workflowId>')
  .option('--json')
  .action(async (workflowId, o) => {
    await withClient(async (client) => {
      const status = await client.workflow.getHandle(workflowId).query(statusQuery);
      print(!!o.json, status, () => console.log(describeStatus(status)));
    });
  });

program
  .command('watch')
  .description('follow a promotion or rollback until it ends')
  .argument('<workflowId>')
  .option('--json')
  .action(async (workflowId, o) => {
    process.exitCode = await withClient((client) => follow(client.workflow.getHandle(workflowId), !!o.json));
  });

program
  .command('list')
  .description('promotions and rollbacks, newest first')
  .option('--stage <stage>', 'only this stage (e.g. awaiting_approval)')
  .option('--limit <n>', 'at most n', '20')
  .option('--json')
  .action(async (o) => {
    await withClient(async (client) => {
      const query = [`WorkflowType IN ('promotionWorkflow','rollbackWorkflow')`, o.stage ? `ReleaseStage = '${o.stage.replace(/[^a-z_]/g, '')}'` : ''].filter(Boolean).join(' AND ');
      const rows: Array<Record<string, unknown>> = [];
      for await (const wf of client.workflow.list({ query })) {
        const sa = wf.searchAttributes as Record<string, unknown[] | undefined>;
        rows.push({ workflowId: wf.workflowId, type: wf.type, status: wf.status.name, releaseId: sa.ReleaseId?.[0], stage: sa.ReleaseStage?.[0], commit: sa.CommitSha?.[0], started: wf.startTime.toISOString() });
        if (rows.length >= Number(o.limit)) break;
      }
      print(!!o.json, rows, () => {
        const table = new Table({ head: ['workflow id', 'release id', 'stage', 'commit', 'started'], style: { head: [], border: [] } });
        for (const r of rows) table.push([String(r.workflowId), String(r.releaseId ?? ''), String(r.stage ?? ''), String(r.commit ?? '').slice(0, 12), String(r.started)]);
        console.log(table.toString());
      });
    });
  });

program
  .command('rollback')
  .description('roll an environment back to a known good commit (rollbackWorkflow)')
  .option('--environment <name>', 'environment', 'production')
  .option('--to <sha>', 'commit to go back to (default: the last known good in the ledger)')
  .option('--repo <remote>', 'git remote (without a registry)')
  .option('--to-branch <branch>', 'release branch (without a registry)', 'release')
  .option('--production-base <url>', 'production base URL (without a registry)')
  .option('--trigger <why>', 'why you roll back', 'manual rollback')
  .option('--ledger <path>', 'the release log (default: RELEASE_LEDGER_PATH)')
  .option('--json')
  .action(async (o) => {
    const cfg = config();
    const ledgerPath = o.ledger ?? cfg.ledgerPath;
    const registered = cfg.environments?.[o.environment];
    const repo = o.repo ?? registered?.repo;
    const toBranch = registered?.toBranch ?? o.toBranch;
    if (!repo) throw new ConfigError('--repo is required (no environment registry): the git remote holding the release branch');
    const fromSha = await readBranchTip({ repo, branch: toBranch });
    if (!fromSha) throw new ConfigError(`${toBranch} does not exist in ${repo}`);
    const toSha = o.to ?? (await defaultRollbackTarget(ledgerPath, repo, toBranch, o.environment, fromSha));
    const request = { environment: o.environment, repo: o.repo, toBranch: registered ? undefined : toBranch, fromSha, toSha, productionBase: o.productionBase, trigger: o.trigger, operator: identity() };
    process.exitCode = await withClient(async (client, c) => {
      const handle = await client.workflow.start(rollbackWorkflow, { taskQueue: c.taskQueue, workflowId: `rollback-${o.environment}-${toSha.slice(0, 7)}-${Date.now().toString(36)}`, args: [request] });
      if (!o.json) console.error(`rolling ${toBranch} back from ${fromSha} to ${toSha} (${handle.workflowId})`);
      return follow(handle, !!o.json);
    });
  });

/**
 * A manual rollback's default: the target's last known good (lastKnownGood, the one definition)
 * that differs from where the branch is now. Read only from a ledger that verifies: a torn or
 * edited one could name the wrong commit.
 */
async function defaultRollbackTarget(ledgerPath: string, repo: string, branch: string, environment: string, currentTip: string): Promise<string> {
  const index = await ledgerIndex(ledgerPath).catch((err: unknown) => {
    throw new ConfigError(`cannot read the ledger ${ledgerPath} (${(err as Error).message}); pass --to <sha>`);
  });
  if (index.problem) {
    throw new ConfigError(`the ledger ${ledgerPath} does not verify at line ${index.problem.line}: ${index.problem.message}; its last known good cannot be trusted. Run release-promoter ledger verify ${ledgerPath}, or pass --to <sha>`);
  }
  const good = lastKnownGood(index, await canonicalRepo(repo, 'InvalidRollbackRequest'), branch, environment, { unlike: currentTip });
  if (!good) throw new ConfigError(`no last known good for ${repo} ${branch} (${environment}) in ${ledgerPath}; pass --to <sha>`);
  return good.tip;
}

program
  .command('gates')
  .description('run the gates outside Temporal (the drop-in for promotion_gate.sh); exit 0 only when all pass')
  .addOption(new Option('--mode <mode>', 'staging runs the staging set, production the smoke checks').choices(['staging', 'production']).makeOptionMandatory())
  .requiredOption('--base <url>', 'target base URL')
  .option('--gates <names>', 'comma-separated gate names (default: the mode’s set)')
  .option('--expect-budget-block', 'the cost gate expects 429 BUDGET_EXCEEDED')
  .option('--json')
  .action(async (o) => {
    // The same rule as a promotion's bases: a base that is not a URL (or reads as another host)
    // is a usage error, not six failed gates; the canonical form is what gets probed.
    const base = parseBaseUrl(o.base);
    if (!base.ok) throw new ConfigError(`--base: ${base.message}`);
    const cfg = config();
    const names = o.gates ? o.gates.split(',').filter(Boolean) : o.mode === 'staging' ? stagingGateNames(cfg.gates, []) : productionGateNames(cfg.gates);
    const unknown = names.filter((n) => !cfg.gates.gates[n]);
    if (unknown.length) throw new ConfigError(`--gates: unknown gate(s) ${unknown.join(', ')}; known: ${Object.keys(cfg.gates.gates).join(', ')}`);
    const dispatcher = newProbeAgent();
    try {
      const results = await runGates(names, { base: base.value, mode: o.mode as 'staging' | 'production', expectBudgetBlock: !!o.expectBudgetBlock, catalog: cfg.gates, dispatcher });
      print(!!o.json, results, () => console.log(gateTable(results)));
      process.exitCode = results.every((r) => r.pass) ? 0 : 1;
    } finally {
      await dispatcher.close();
    }
  });

const ledger = program.command('ledger').description('the release log');

ledger
  .command('verify')
  .description('check every entry, unique ids and the hash chain; exit 1 at the first problem')
  .argument('[path]', 'ledger file (default: RELEASE_LEDGER_PATH or RELEASE_LOG.md)')
  .option('--head <hex>', 'the chain head the file must end at (catches truncation)')
  .option('--json')
  .action(async (file, o) => {
    const ledgerPath = file ?? config().ledgerPath;
    const report = verifyLedger(await readFile(ledgerPath, 'utf8'), o.head?.replace(/^sha256:/, ''));
    print(!!o.json, { path: ledgerPath, ...report }, () => {
      if (report.ok) console.log(`${pc.green('ok')} ${ledgerPath}: ${report.entries} entries, ${report.chained} chained, head ${report.head}`);
      else console.log(`${pc.red('FAIL')} ${ledgerPath}:${report.problem?.line}: ${report.problem?.message}`);
    });
    process.exitCode = report.ok ? 0 : 1;
  });

ledger
  .command('show')
  .description('the entries as a table')
  .argument('[path]', 'ledger file (default: RELEASE_LEDGER_PATH or RELEASE_LOG.md)')
  .option('--environment <name>')
  .option('--last <n>', 'only the last n entries')
  .option('--json')
  .action(async (file, o) => {
    const ledgerPath = file ?? config().ledgerPath;
    let entries = parseLedger(await readFile(ledgerPath, 'utf8')).entries.filter((e) => !o.environment || fieldText(e, 'environment') === o.environment);
    if (o.last !== undefined) {
      const n = Number(o.last);
      if (!Number.isInteger(n) || n < 1) throw new ConfigError(`--last: must be a whole number of at least 1 (got ${JSON.stringify(o.last)})`);
      entries = entries.slice(-n);
    }
    const rows = entries.map((e) => ({
      releaseId: e.releaseId,
      type: fieldText(e, 'type'),
      environment: fieldText(e, 'environment'),
      commit: fieldText(e, 'commit_sha') ?? (fieldText(e, 'from_sha') ? `${fieldText(e, 'from_sha')?.slice(0, 7)} → ${fieldText(e, 'to_sha')?.slice(0, 7) ?? '?'}` : ''),
      result: fieldText(e, 'result'),
      operator: fieldText(e, 'operator'),
      notes: fieldText(e, 'notes'),
    }));
    print(!!o.json, rows, () => {
      const table = new Table({ head: ['release id', 'type', 'env', 'commit', 'result', 'operator', 'notes'], style: { head: [], border: [] }, colWidths: [20, 11, 12, 18, 11, 16, 50], wordWrap: true });
      for (const r of rows) table.push([r.releaseId, r.type ?? '', r.environment ?? '', (r.commit ?? '').slice(0, 16), r.result === 'pass' || r.result === 'completed' ? pc.green(r.result) : pc.red(r.result ?? ''), r.operator ?? '', r.notes ?? '']);
      console.log(table.toString());
    });
  });

export async function main(argv = process.argv): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exit code 0; commander already printed the rest.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    const message = err instanceof ConfigError ? err.message : err instanceof Error ? err.message : String(err);
    console.error(pc.red(`release-promoter: ${message}`));
    process.exitCode = 2;
  }
}

if (require.main === module) void main();
