// promotionWorkflow: the story of one promotion, from request to ledger entry (SPEC §3).
import { ApplicationFailure, type SearchAttributeUpdatePair } from '@temporalio/common';
import {
  allHandlersFinished,
  CancellationScope,
  condition,
  executeChild,
  isCancellation,
  ParentClosePolicy,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { PromotionRecord } from '../activities/ledger';
import type { RefusalDetails } from '../activities/promote';
import type { PromotionPlan, PromotionStatus, Stage } from '../domain';
import { failure, failureDetailsOf, FailureType, failureMessageOf, failureTypeOf } from '../failures';
import { gitActivities, ledgerActivities, probeActivities } from './activity-proxies';
import { workflowNow, workflowTimeMs } from './clock';
import { ChangeClassKey, CommitShaKey, ReleaseEnvironmentKey, ReleaseIdKey, rollbackChildId, stagingTurnWorkflowId, statusQuery } from './messages';
import { parsePromotionRequest } from './request';
import { rollbackWorkflow } from './rollback';
import { allPassed, describeFailures, enter, ledgerAuthor, rawField, stagingFailureMessage } from './stages';
import { ApprovalDesk, registerApprovalDesk } from './approval';
import { Locks, registerLocks, targetLock } from './target-lock';

const { admitPromotion, promoteCommit } = gitActivities;
const { runStagingGates, verifyProduction, readDeployedVersion } = probeActivities;
const { appendLedgerEntry } = ledgerActivities;

/**
 * Runs one promotion. Completes with the final status when promoted; otherwise fails with a
 * typed, non-retryable failure whose details[0] is the final status (SPEC §3 "Endings").
 */
export async function promotionWorkflow(input: unknown): Promise<PromotionStatus> {
  const status = newStatus(input);
  setHandler(statusQuery, () => status);
  const desk = registerApprovalDesk(status);
  const locks = registerLocks();
  try {
    return await promote(status, input, desk, locks);
  } finally {
    // Every decision sent meanwhile gets its answer before the workflow closes.
    await CancellationScope.nonCancellable(() => condition(allHandlersFinished));
  }
}

async function promote(status: PromotionStatus, input: unknown, desk: ApprovalDesk, locks: Locks): Promise<PromotionStatus> {
  enter(status, 'validating');
  const plan = await admit(status, input, desk);
  desk.open(plan);
  const lock = targetLock(locks, { repo: plan.repo, branch: plan.toBranch }, status);

  try {
    await runStagingGatesInTurn(status, plan, locks);
    if (!allPassed(status.gates)) {
      throw await failed(status, plan, 'gates_failed', 'StagingGatesFailed', stagingFailureMessage(status.gates, plan.stagingBase));
    }

    if (plan.approval.required) await awaitApproval(status, plan);

    // From the drift check to the last ledger entry, nobody else touches this target.
    enter(status, 'waiting_for_lock');
    await lock.acquire('promotion');

    enter(status, 'promoting');
    await pushCommit(status, plan);

    if (plan.deployWait && !(await deployObserved(status, plan, plan.deployWait))) {
      throw await rolledBack(status, plan, 'DeployNotObserved', `production never reported ${plan.commitSha} at ${plan.deployWait.path} (${plan.deployWait.field}) within ${plan.deployWait.timeoutMs / 1000} s`);
    }

    enter(status, 'verifying');
    status.prodVerification = await verifyProduction(plan);
    if (!allPassed(status.prodVerification)) {
      throw await rolledBack(status, plan, 'ProductionVerificationFailed', `${describeFailures(status.prodVerification)} on production ${plan.productionBase}`);
    }

    enter(status, 'promoted');
    await record(status, plan, 'pass');
    return status;
  } catch (err) {
    if (typeof err === 'object' && err !== null && recorded.has(err)) throw err;
    // Anything else (cancellation, an activity out of retries) still ends with exactly one
    // entry, and a pushed commit is rolled back first; cancellation must not stop either.
    const cancelled = isCancellation(err);
    const type = failureTypeOf(err) ?? (cancelled ? 'Cancelled' : 'PromotionFailed');
    const message = cancelled ? 'the promotion was cancelled' : failureMessageOf(err);
    const ending = await CancellationScope.nonCancellable(async () => {
      if (status.pushed) await rollBack(status, plan, message);
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
async function runStagingGatesInTurn(status: PromotionStatus, plan: PromotionPlan, locks: Locks): Promise<void> {
  const service = plan.stagingService;
  const turn = locks.lock(stagingTurnWorkflowId(service), `staging:${service}`, (spot) => (status.stagingTurn = { service, ...spot }));
  enter(status, 'waiting_for_staging', admittedAttributes(status, plan));
  let cooldownMs = 0;
  try {
    await turn.acquire('promotion');
    enter(status, 'staging_gates');
    const run = await runStagingGates(plan);
    status.gates = run.gates;
    cooldownMs = run.cooldownMs;
  } finally {
    await turn.release({ cooldownMs });
    status.stagingTurn = { service };
  }
}

/** Waits for enough counted approvals; a rejection, a withdrawal or the timeout ends the promotion. */
async function awaitApproval(status: PromotionStatus, plan: PromotionPlan): Promise<void> {
  enter(status, 'awaiting_approval');
  const decided = await condition(() => status.approval.state !== 'pending', plan.approval.timeoutMs);
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

/** Polls production on durable timers (no long-running activity) until it reports the commit. */
async function deployObserved(status: PromotionStatus, plan: PromotionPlan, wait: NonNullable<PromotionPlan['deployWait']>): Promise<boolean> {
  enter(status, 'awaiting_deploy');
  const deadline = workflowTimeMs() + wait.timeoutMs;
  const intervalMs = Math.min(5_000, Math.max(250, Math.floor(wait.timeoutMs / 20)));
  for (;;) {
    const version = await readDeployedVersion({ base: plan.productionBase, path: wait.path, field: wait.field, environment: plan.environment });
    if (version === plan.commitSha) return true;
    const left = deadline - workflowTimeMs();
    if (left <= 0) return false;
    await sleep(Math.min(intervalMs, left));
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

/** Ends the promotion: the terminal stage, the `fail` entry, and the failure to throw. */
async function failed(status: PromotionStatus, plan: PromotionPlan, stage: Stage, type: string, message: string): Promise<ApplicationFailure> {
  enter(status, stage);
  status.failure = { type, message };
  await record(status, plan, 'fail');
  const error = ApplicationFailure.create({ type, message, nonRetryable: true, details: [status] });
  recorded.add(error);
  return error;
}

/** Writes the promotion's one ledger entry (idempotent per release id + workflow id). */
async function record(status: PromotionStatus, plan: PromotionPlan, result: 'pass' | 'fail'): Promise<void> {
  const notes = [
    status.failure ? `${status.failure.type}: ${status.failure.message}` : 'promoted; production verification passed',
    status.pushed && !plan.deployWait ? 'deployed version not confirmed (no deployWait)' : '',
    plan.notes ?? '',
  ].filter(Boolean);
  const extras: Array<[string, string]> = [];
  if (status.drift) extras.push(['drift', `expected ${status.drift.expected}, found ${status.drift.found ?? '(missing)'}; ${status.drift.accepted ? 'accepted (acceptDrift)' : 'refused'}`]);
  if (status.downgrade) extras.push(['downgrade', `${status.lastKnownGood ?? '(none)'} -> ${plan.commitSha} is not a fast-forward; allowed (allowDowngrade)`]);
  if (status.rollback) extras.push(['rollback_release_id', status.rollback.releaseId ?? '(none)'], ['rollback_result', status.rollback.result ?? 'partial']);
  const entry: PromotionRecord = {
    type: 'promotion',
    releaseId: status.releaseId as string,
    ...ledgerAuthor(),
    commitSha: plan.commitSha,
    environment: plan.environment,
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
  // Under the lock the tip is known where this promotion (or its rollback) just put it.
  const tip = result === 'pass' ? plan.commitSha : status.rollback?.result === 'completed' ? status.lastKnownGood : undefined;
  const appended = await appendLedgerEntry(entry, { repo: plan.repo, branch: plan.toBranch, tip });
  status.ledgerChainHead = appended.chainHead;
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
