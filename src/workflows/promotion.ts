// promotionWorkflow: the story of one promotion, from request to ledger entry (SPEC §3).
import { ApplicationFailure, type SearchAttributeUpdatePair } from '@temporalio/common';
import {
  allHandlersFinished,
  CancellationScope,
  condition,
  ContinueAsNew,
  executeChild,
  isCancellation,
  ParentClosePolicy,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { PromotionRecord } from '../activities/ledger';
import type { RefusalDetails } from '../activities/promote';
import type { PromotionPlan, PromotionStatus, Stage } from '../domain';
import { failure, failureDetailsOf, FailureType, failureMessageOf, failureTypeOf } from '../failures';
import { gitActivities, probeActivities } from './activity-proxies';
import { writeLastEntry } from './last-entry';
import { workflowNow, workflowTimeMs } from './clock';
import { ChangeClassKey, CommitShaKey, ReleaseEnvironmentKey, ReleaseIdKey, rollbackChildId, stagingTurnWorkflowId, statusQuery } from './messages';
import { parsePromotionRequest } from './request';
import { rollbackWorkflow } from './rollback';
import { allPassed, describeFailures, enter, ledgerAuthor, rawField, stagingFailureMessage } from './stages';
import { ApprovalDesk, registerApprovalDesk } from './approval';
import { Locks, LockSnapshot, registerLocks, targetLock } from './target-lock';
import { Wait, waitOrContinue } from './continue';

const { admitPromotion, promoteCommit } = gitActivities;
const { runStagingGates, verifyProduction, readDeployedVersion } = probeActivities;

/**
 * Runs one promotion. Completes with the final status when promoted; otherwise fails with a
 * typed, non-retryable failure whose details[0] is the final status (SPEC §3 "Endings").
 */
export async function promotionWorkflow(input: unknown): Promise<PromotionStatus> {
  const carried = carriedFrom(input);
  const status = carried?.status ?? newStatus(input);
  setHandler(statusQuery, () => status);
  const desk = registerApprovalDesk(status);
  const locks = registerLocks(carried?.locks);
  try {
    return await promote(status, input, desk, locks, carried);
  } finally {
    // Every decision sent meanwhile gets its answer before the workflow closes.
    await CancellationScope.nonCancellable(() => condition(allHandlersFinished));
  }
}

async function promote(status: PromotionStatus, input: unknown, desk: ApprovalDesk, locks: Locks, carried?: PromotionCarry): Promise<PromotionStatus> {
  // A continued run (the history grew long in a wait) picks up where the last one stood: every
  // step below checks the status for what is already done.
  if (!carried) enter(status, 'validating');
  const plan = carried?.plan ?? (await admit(status, input, desk));
  desk.open(plan);
  const lock = targetLock(locks, { repo: plan.repo, branch: plan.toBranch }, status);
  const deadlines = carried?.deadlines ?? {};
  const wait = waitOrContinue((): { continued: PromotionCarry } => ({ continued: { status, plan, locks: locks.handOver(), deadlines } }));
  let verified = false;

  try {
    if (status.gates.length === 0) await runStagingGatesInTurn(status, plan, locks, wait);
    if (!allPassed(status.gates)) {
      throw await failed(status, plan, 'gates_failed', 'StagingGatesFailed', stagingFailureMessage(status.gates, plan.stagingBase));
    }

    if (plan.approval.required) await awaitApproval(status, plan, wait, deadlines);

    // From the drift check to the last ledger entry, nobody else touches this target.
    if (!lock.held()) {
      enterOnce(status, 'waiting_for_lock');
      // Should this workflow be terminated while it holds the target, the lock writes its entry.
      await lock.acquire('promotion', { record: promotionEntry(status, plan, 'fail'), repo: plan.repo, branch: plan.toBranch }, wait);
    }

    if (!status.pushed) {
      enter(status, 'promoting');
      await pushCommit(status, plan);
    }

    if (plan.deployWait && !(await deployObserved(status, plan, plan.deployWait, wait, deadlines))) {
      throw await rolledBack(status, plan, 'DeployNotObserved', `production never reported ${plan.commitSha} at ${plan.deployWait.path} (${plan.deployWait.field}) within ${plan.deployWait.timeoutMs / 1000} s`);
    }

    enter(status, 'verifying');
    status.prodVerification = await verifyProduction(plan);
    if (!allPassed(status.prodVerification)) {
      throw await rolledBack(status, plan, 'ProductionVerificationFailed', `${describeFailures(status.prodVerification)} on production ${plan.productionBase}`);
    }

    verified = true;
    await record(status, plan, 'pass', 'promoted');
    return status;
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err;
    if (typeof err === 'object' && err !== null && recorded.has(err)) throw err;
    // Anything else (cancellation, an activity out of retries) still ends with exactly one
    // entry, and a pushed commit is rolled back first; cancellation must not stop either. A
    // release that passed verification is never undone because its entry could not be written.
    const cancelled = isCancellation(err);
    const type = failureTypeOf(err) ?? (cancelled ? 'Cancelled' : 'PromotionFailed');
    const message = cancelled ? 'the promotion was cancelled' : failureMessageOf(err);
    const ending = await CancellationScope.nonCancellable(async () => {
      if (status.pushed && !verified) await rollBack(status, plan, message);
      return failed(status, plan, cancelled ? 'cancelled' : status.rollback ? rollbackStage(status) : 'failed', type, message);
    });
    throw cancelled ? err : ending;
  } finally {
    await lock.release();
  }
}

/**
 * The staging gates, one run per staging service at a time (SPEC §5): the burst and the cost
 * gate spend what every caller of the service shares, so runs take turns, and the next run
 * starts only once the window this run's burst spent has passed.
 */
async function runStagingGatesInTurn(status: PromotionStatus, plan: PromotionPlan, locks: Locks, wait: Wait): Promise<void> {
  const service = plan.stagingService;
  const turn = locks.lock(stagingTurnWorkflowId(service), `staging:${service}`, (spot) => (status.stagingTurn = { service, ...spot }));
  enterOnce(status, 'waiting_for_staging', admittedAttributes(status, plan));
  let cooldownMs = 0;
  try {
    await turn.acquire('promotion', undefined, wait);
    enter(status, 'staging_gates');
    const run = await runStagingGates(plan);
    status.gates = run.gates;
    cooldownMs = run.cooldownMs;
  } finally {
    await turn.release({ cooldownMs });
  }
  status.stagingTurn = { service };
}

/** Waits for enough counted approvals; a rejection, a withdrawal or the timeout ends the promotion. */
async function awaitApproval(status: PromotionStatus, plan: PromotionPlan, wait: Wait, deadlines: Deadlines): Promise<void> {
  enterOnce(status, 'awaiting_approval');
  deadlines.approvalMs ??= workflowTimeMs() + plan.approval.timeoutMs;
  const decided = await wait(() => status.approval.state !== 'pending', Math.max(1, deadlines.approvalMs - workflowTimeMs()));
  if (!decided) {
    status.approval.state = 'expired';
    throw await failed(status, plan, 'approval_expired', 'ApprovalTimedOut', `no decision within ${humanDuration(plan.approval.timeoutMs)}; nothing was promoted. Start a new promotion when approvers are available`);
  }
  if (status.approval.state === 'rejected') {
    const last = status.approval.decisions.filter((d) => d.decision === 'reject').at(-1);
    const who = last?.approver === plan.operator ? `withdrawn by its operator ${plan.operator}` : `rejected by ${last?.approver ?? 'an approver'}`;
    throw await failed(status, plan, 'rejected', 'ApprovalRejected', `${who}: ${last?.reason ?? '(no reason)'}; nothing was promoted`);
  }
}

function humanDuration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000]] as const) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms / 1000}s`;
}

/** Failures whose ledger entry is already written. */
const recorded = new WeakSet<object>();

/** Validates the request and the commit, and reserves the release id (steps 1–2). */
async function admit(status: PromotionStatus, input: unknown, desk: ApprovalDesk): Promise<PromotionPlan> {
  try {
    const request = parsePromotionRequest(input);
    const { plan, releaseId } = await admitPromotion(request, { workflowId: workflowInfo().workflowId, at: workflowNow() });
    status.releaseId = releaseId;
    return admitted(status, plan);
  } catch (err) {
    throw refuse(status, err, desk);
  }
}

/** What validation teaches the status. */
function admitted(status: PromotionStatus, plan: PromotionPlan): PromotionPlan {
  status.commitSha = plan.commitSha;
  status.environment = plan.environment;
  status.approval = { ...status.approval, required: plan.approval.required, state: plan.approval.required ? 'pending' : 'not_required', minApprovals: plan.approval.minApprovals, approvers: plan.approval.approvers };
  return plan;
}

/** The search attributes validation teaches, upserted with the next stage change. */
function admittedAttributes(status: PromotionStatus, plan: PromotionPlan): SearchAttributeUpdatePair[] {
  return [
    { key: ReleaseIdKey, value: status.releaseId as string },
    { key: CommitShaKey, value: plan.commitSha },
    { key: ChangeClassKey, value: plan.changeClass },
    { key: ReleaseEnvironmentKey, value: plan.environment },
  ];
}

/** Bad input ends the workflow at once: no release id, no ledger entry, no git change. */
function refuse(status: PromotionStatus, err: unknown, desk: ApprovalDesk): ApplicationFailure {
  desk.close();
  const type = failureTypeOf(err);
  if (type !== 'InvalidPromotionRequest' && type !== 'ChangeClassForbidden' && type !== 'CommitNotOnSourceBranch') {
    // Not a verdict on the input (e.g. git unreachable after every retry): surface it as is.
    enter(status, 'failed');
    status.failure = { type: type ?? 'PromotionFailed', message: failureMessageOf(err) };
    throw err;
  }
  enter(status, 'invalid');
  status.failure = { type, message: failureMessageOf(err) };
  return failure(type, status.failure.message, status);
}

/** Drift check, downgrade check and push, as one activity under the lock (see activities/promote.ts). */
async function pushCommit(status: PromotionStatus, plan: PromotionPlan): Promise<void> {
  try {
    const moved = await promoteCommit({
      repo: plan.repo,
      branch: plan.toBranch,
      environment: plan.environment,
      targetSha: plan.commitSha,
      sourceBranch: plan.fromBranch,
      allowDowngrade: plan.allowDowngrade,
      acceptDrift: plan.acceptDrift,
    });
    status.lastKnownGood = moved.lastKnownGood ?? undefined;
    status.drift = moved.drift;
    status.pushed = true;
    status.downgrade = moved.downgrade;
  } catch (err) {
    throw await refusedAtPush(status, plan, err);
  }
}

/** A refusal at the push (drift, downgrade, a moved branch) ends the promotion with its entry; other errors pass. */
async function refusedAtPush(status: PromotionStatus, plan: PromotionPlan, err: unknown): Promise<unknown> {
  const type = failureTypeOf(err);
  if (type !== 'ReleaseBranchDrifted' && type !== 'DowngradeRefused' && type !== 'ReleaseBranchMoved') return err;
  const refusal = failureDetailsOf(err) as RefusalDetails | undefined;
  if (refusal) {
    status.lastKnownGood = refusal.lastKnownGood ?? undefined;
    status.drift = refusal.drift;
  }
  return failed(status, plan, type === 'ReleaseBranchDrifted' ? 'drifted' : 'refused', type, failureMessageOf(err));
}

/**
 * Polls production on durable timers (no long-running activity) until it reports the commit:
 * quickly at first, then every 30 s at most, so a long deploy costs few events.
 */
async function deployObserved(status: PromotionStatus, plan: PromotionPlan, deploy: NonNullable<PromotionPlan['deployWait']>, wait: Wait, deadlines: Deadlines): Promise<boolean> {
  enterOnce(status, 'awaiting_deploy');
  deadlines.deployMs ??= workflowTimeMs() + deploy.timeoutMs;
  let intervalMs = Math.min(5_000, Math.max(250, Math.floor(deploy.timeoutMs / 20)));
  for (;;) {
    const version = await readDeployedVersion({ base: plan.productionBase, path: deploy.path, field: deploy.field, environment: plan.environment });
    if (version === plan.commitSha) return true;
    const left = deadlines.deployMs - workflowTimeMs();
    if (left <= 0) return false;
    await wait(() => false, Math.min(intervalMs, left));
    intervalMs = Math.min(30_000, Math.round(intervalMs * 1.5));
  }
}

/** Compensation: the rollback child restores the last known good, then the fail entry names it. */
async function rolledBack(status: PromotionStatus, plan: PromotionPlan, type: FailureType, message: string): Promise<ApplicationFailure> {
  await rollBack(status, plan, `${type}: ${message}`);
  const outcome = status.rollback?.result === 'completed' ? `rolled back to ${status.lastKnownGood} by ${status.rollback.releaseId}` : `rollback ${status.rollback?.releaseId ?? ''} is PARTIAL: check ${plan.toBranch} and production now`;
  return failed(status, plan, rollbackStage(status), type, `${message}; ${outcome}`);
}

async function rollBack(status: PromotionStatus, plan: PromotionPlan, trigger: string): Promise<void> {
  enter(status, 'rolling_back');
  const info = workflowInfo();
  const workflowId = rollbackChildId(info.workflowId);
  status.rollback = { workflowId };
  if (!status.lastKnownGood) {
    // The branch did not exist before this promotion: there is nothing to go back to.
    status.rollback.result = 'partial';
    return;
  }
  try {
    const result = await executeChild(rollbackWorkflow, {
      workflowId,
      args: [
        {
          environment: plan.environment,
          repo: plan.repo,
          toBranch: plan.toBranch,
          fromSha: plan.commitSha,
          toSha: status.lastKnownGood,
          productionBase: plan.productionBase,
          trigger: trigger.slice(0, 500),
          operator: plan.operator,
          promotionReleaseId: status.releaseId,
        },
      ],
      // The rollback must finish even if this promotion is cancelled or terminated meanwhile.
      parentClosePolicy: ParentClosePolicy.ABANDON,
    });
    status.rollback = { workflowId, releaseId: result.releaseId, result: result.result };
  } catch (err) {
    status.rollback = { workflowId, result: 'partial' };
    status.failure = { type: failureTypeOf(err) ?? 'RollbackFailed', message: `rollback did not finish: ${failureMessageOf(err)}` };
  }
}

function rollbackStage(status: PromotionStatus): Stage {
  return status.rollback?.result === 'completed' ? 'rolled_back' : 'rollback_partial';
}

/** Ends the promotion: the `fail` entry, the terminal stage, and the failure to throw. */
async function failed(status: PromotionStatus, plan: PromotionPlan, stage: Stage, type: string, message: string): Promise<ApplicationFailure> {
  status.failure = { type, message };
  await record(status, plan, 'fail', stage);
  const error = ApplicationFailure.create({ type, message, nonRetryable: true, details: [status] });
  recorded.add(error);
  return error;
}

/** Writes the promotion's one ledger entry (idempotent per release id + workflow id), then enters its terminal stage. */
async function record(status: PromotionStatus, plan: PromotionPlan, result: 'pass' | 'fail', stage: Stage): Promise<void> {
  // Under the lock the tip is known where this promotion (or its rollback) just put it.
  const tip = result === 'pass' ? plan.commitSha : status.rollback?.result === 'completed' ? status.lastKnownGood : undefined;
  const appended = await writeLastEntry(status, stage, promotionEntry(status, plan, result), { repo: plan.repo, branch: plan.toBranch, tip });
  status.ledgerChainHead = appended.chainHead;
}

/** The promotion's entry as things stand. */
function promotionEntry(status: PromotionStatus, plan: PromotionPlan, result: 'pass' | 'fail'): PromotionRecord {
  const notes = [
    status.failure ? `${status.failure.type}: ${status.failure.message}` : 'promoted; production verification passed',
    status.pushed && !plan.deployWait ? 'deployed version not confirmed (no deployWait)' : '',
    plan.notes ?? '',
  ].filter(Boolean);
  const extras: Array<[string, string]> = [];
  if (status.drift) extras.push(['drift', `expected ${status.drift.expected}, found ${status.drift.found ?? '(missing)'}; ${status.drift.accepted ? 'accepted (acceptDrift)' : 'refused'}`]);
  if (status.downgrade) extras.push(['downgrade', `${status.lastKnownGood ?? '(none)'} -> ${plan.commitSha} is not a fast-forward; allowed (allowDowngrade)`]);
  if (status.rollback) extras.push(['rollback_release_id', status.rollback.releaseId ?? '(none)'], ['rollback_result', status.rollback.result ?? 'partial']);
  return {
    type: 'promotion',
    releaseId: status.releaseId as string,
    ...ledgerAuthor(),
    commitSha: plan.commitSha,
    environment: plan.environment,
    repo: plan.repo,
    fromBranch: plan.fromBranch,
    toBranch: plan.toBranch,
    stagingBase: plan.stagingBase,
    stagingGateCommand: stagingGateCommand(plan),
    stagingGateResult: status.gates.length === 0 ? 'not run' : allPassed(status.gates) ? 'pass' : 'fail',
    gatesRun: status.gates,
    changeClass: plan.changeClass,
    prodVerification: status.prodVerification,
    result,
    rollbackPlan:
      plan.rollbackPlan ??
      (status.rollback ? `rolled back by ${status.rollback.releaseId ?? '(no id)'} (${status.rollback.result ?? 'partial'})` : status.pushed ? `rollbackWorkflow to ${status.lastKnownGood ?? '(no previous tip)'}` : 'nothing was promoted'),
    notes: notes.join(' | ').slice(0, 1000),
    operator: plan.operator,
    evidenceRefs: plan.evidenceRefs,
    approvals: status.approval.decisions
      .filter((d) => d.decision === 'approve')
      .map((d) => `${d.approver}: approved at ${d.at}${d.comment ? ` ${JSON.stringify(d.comment)}` : ''}`),
    extras,
  };
}

/** What a promotion hands to its next run when it continues as new (same workflow id). */
interface PromotionCarry {
  status: PromotionStatus;
  plan: PromotionPlan;
  locks: LockSnapshot;
  deadlines: Deadlines;
}

/** Workflow-time deadlines of the waits, so a continued run neither restarts nor shortens them. */
interface Deadlines {
  approvalMs?: number;
  deployMs?: number;
}

/**
 * The carried state, only in a run the server started by continue-as-new: a caller who may
 * start workflows cannot hand a fresh run a state that skips the gates.
 */
function carriedFrom(input: unknown): PromotionCarry | undefined {
  if (!workflowInfo().continuedFromExecutionRunId) return undefined;
  return (input as { continued?: PromotionCarry } | undefined)?.continued;
}

/** Enters `stage` unless a continued run is already in it. */
function enterOnce(status: PromotionStatus, stage: Stage, also?: SearchAttributeUpdatePair[]): void {
  if (status.stage !== stage) enter(status, stage, also);
}

function newStatus(input: unknown): PromotionStatus {
  const field = rawField(input);
  return {
    workflowId: workflowInfo().workflowId,
    stage: 'validating',
    commitSha: field('commitSha'),
    changeClass: field('changeClass'),
    environment: field('environment', 'production'),
    operator: field('operator'),
    gates: [],
    approval: { required: false, state: 'not_required', minApprovals: 1, decisions: [], ignored: [] },
    pushed: false,
    prodVerification: [],
    timeline: [],
  };
}

/** The CLI command that runs the same gates outside Temporal (what the seed's log called the gate command). */
function stagingGateCommand(plan: PromotionPlan): string {
  return [
    'release-promoter gates --mode staging --base',
    plan.stagingBase,
    plan.optionalGates.length ? `--gates ${plan.stagingGates.join(',')}` : '',
    plan.expectBudgetBlock ? '--expect-budget-block' : '',
  ]
    .filter(Boolean)
    .join(' ');
}
