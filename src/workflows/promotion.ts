// promotionWorkflow: the story of one promotion, from request to ledger entry (SPEC §3).
import { ApplicationFailure, RetryPolicy } from '@temporalio/common';
import { CancellationScope, isCancellation, proxyActivities, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { PromotionRecord } from '../activities/ledger';
import type { GateResult, PromotionPlan, PromotionStatus, Stage } from '../domain';
import { failure, FailureType, failureMessageOf, failureTypeOf } from '../failures';
import { workflowNow } from './clock';
import { ChangeClassKey, CommitShaKey, ReleaseEnvironmentKey, ReleaseIdKey, ReleaseStageKey, statusQuery } from './messages';
import { parsePromotionRequest } from './request';

// Bounded retries everywhere: a held lock must never wait forever on an unreachable repo or target.
const retry: RetryPolicy = { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5 };
const { planPromotion, reserveReleaseId, readBranchTip, moveReleaseBranch, appendLedgerEntry } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry,
});
// Gates get their own budget: a slow target costs probe timeouts, not git's.
const { runStagingGates, verifyProduction } = proxyActivities<Activities>({ startToCloseTimeout: '10 minutes', retry });

/** Runs one promotion. Completes with the final status when promoted; otherwise fails with a typed, non-retryable failure whose details[0] is the final status. */
export async function promotionWorkflow(input: unknown): Promise<PromotionStatus> {
  const status = newStatus(input);
  setHandler(statusQuery, () => status);

  enter(status, 'validating');
  const plan = await validate(status, input);
  status.releaseId = await reserve(status, plan);
  enter(status, 'staging_gates');

  try {
    status.gates = await runStagingGates(plan);
    if (!allPassed(status.gates)) {
      throw await failed(status, plan, 'gates_failed', 'StagingGatesFailed', `${describeFailures(status.gates)} on staging ${plan.stagingBase}; fix staging and start a new promotion`);
    }

    enter(status, 'promoting');
    const lastKnownGood = await readBranchTip({ repo: plan.repo, branch: plan.toBranch });
    status.lastKnownGood = lastKnownGood ?? undefined;
    await pushCommit(status, plan, lastKnownGood);

    enter(status, 'verifying');
    status.prodVerification = await verifyProduction(plan);
    if (!allPassed(status.prodVerification)) {
      throw await failed(status, plan, 'verification_failed', 'ProductionVerificationFailed', `${describeFailures(status.prodVerification)} on production ${plan.productionBase}; ${plan.toBranch} still points at ${plan.commitSha}: roll back to ${lastKnownGood ?? '(none)'} with rollbackWorkflow`);
    }

    enter(status, 'promoted');
    await record(status, plan, 'pass');
    return status;
  } catch (err) {
    if (typeof err === 'object' && err !== null && recorded.has(err)) throw err;
    // Anything else (cancellation, an activity out of retries) still ends with exactly one entry.
    const cancelled = isCancellation(err);
    const message = cancelled ? 'the promotion was cancelled' : failureMessageOf(err);
    const ending = await CancellationScope.nonCancellable(() => failed(status, plan, cancelled ? 'cancelled' : 'failed', failureTypeOf(err) ?? (cancelled ? 'Cancelled' : 'PromotionFailed'), message));
    throw cancelled ? err : ending;
  }
}

/** Failures whose ledger entry is already written. */
const recorded = new WeakSet<object>();

async function validate(status: PromotionStatus, input: unknown): Promise<PromotionPlan> {
  try {
    const request = parsePromotionRequest(input);
    const plan = await planPromotion(request);
    status.commitSha = plan.commitSha;
    status.environment = plan.environment;
    status.approval = { ...status.approval, required: plan.approval.required, state: plan.approval.required ? 'pending' : 'not_required', minApprovals: plan.approval.minApprovals, approvers: plan.approval.approvers };
    upsertSearchAttributes([
      { key: CommitShaKey, value: plan.commitSha },
      { key: ChangeClassKey, value: plan.changeClass },
      { key: ReleaseEnvironmentKey, value: plan.environment },
    ]);
    return plan;
  } catch (err) {
    throw refuse(status, err);
  }
}

async function reserve(status: PromotionStatus, plan: PromotionPlan): Promise<string> {
  try {
    const releaseId = await reserveReleaseId({ workflowId: workflowInfo().workflowId, kind: 'rc', at: workflowNow(), requested: plan.releaseId });
    upsertSearchAttributes([{ key: ReleaseIdKey, value: releaseId }]);
    return releaseId;
  } catch (err) {
    throw refuse(status, err);
  }
}

/** Bad input ends the workflow at once: no release id, no ledger entry, no git change. */
function refuse(status: PromotionStatus, err: unknown): ApplicationFailure {
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

async function pushCommit(status: PromotionStatus, plan: PromotionPlan, lastKnownGood: string | null): Promise<void> {
  try {
    await moveReleaseBranch({
      repo: plan.repo,
      branch: plan.toBranch,
      expectedTip: lastKnownGood,
      targetSha: plan.commitSha,
      sourceBranch: plan.fromBranch,
      allowDowngrade: plan.allowDowngrade,
    });
    status.pushed = true;
  } catch (err) {
    const type = failureTypeOf(err);
    if (type === 'ReleaseBranchMoved' || type === 'DowngradeRefused') {
      throw await failed(status, plan, 'refused', type, failureMessageOf(err));
    }
    throw err;
  }
}

/** Ends the promotion: the terminal stage, the `fail` entry, and the failure to throw. */
async function failed(status: PromotionStatus, plan: PromotionPlan, stage: Stage, type: FailureType | string, message: string): Promise<ApplicationFailure> {
  enter(status, stage);
  status.failure = { type, message };
  await record(status, plan, 'fail');
  const error = ApplicationFailure.create({ type, message, nonRetryable: true, details: [status] });
  recorded.add(error);
  return error;
}

/** Writes the promotion's one ledger entry (idempotent per release id + workflow id). */
async function record(status: PromotionStatus, plan: PromotionPlan, result: 'pass' | 'fail'): Promise<void> {
  const info = workflowInfo();
  const notes = [
    status.failure ? `${status.failure.type}: ${status.failure.message}` : 'promoted; production verification passed',
    status.pushed && !plan.deployWait ? 'deployed version not confirmed (no deployWait)' : '',
    plan.notes ?? '',
  ].filter(Boolean);
  const entry: PromotionRecord = {
    type: 'promotion',
    releaseId: status.releaseId as string,
    workflowId: info.workflowId,
    evidenceRef: `temporal:${info.namespace}/${info.workflowId}/${info.runId}`,
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
    rollbackPlan: plan.rollbackPlan ?? (status.pushed ? `rollbackWorkflow to ${status.lastKnownGood ?? '(no previous tip)'}` : 'nothing was promoted'),
    notes: notes.join(' | ').slice(0, 1000),
    operator: plan.operator,
    evidenceRefs: plan.evidenceRefs,
    approvals: status.approval.decisions
      .filter((d) => d.decision === 'approve')
      .map((d) => `${d.approver}: approved at ${d.at}${d.comment ? ` ${JSON.stringify(d.comment)}` : ''}`),
    extras: [],
  };
  const appended = await appendLedgerEntry(entry, { repo: plan.repo, branch: plan.toBranch });
  status.ledgerChainHead = appended.chainHead;
}

function newStatus(input: unknown): PromotionStatus {
  const raw = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  const text = (value: unknown, fallback = '') => (typeof value === 'string' ? value.slice(0, 64) : fallback);
  return {
    workflowId: workflowInfo().workflowId,
    stage: 'validating',
    commitSha: text(raw.commitSha),
    changeClass: text(raw.changeClass),
    environment: text(raw.environment, 'production'),
    operator: text(raw.operator),
    gates: [],
    approval: { required: false, state: 'not_required', minApprovals: 1, decisions: [], ignored: [] },
    pushed: false,
    prodVerification: [],
    timeline: [],
  };
}

/** Every stage change is visible in the status, the timeline and the search attributes. */
function enter(status: PromotionStatus, stage: Stage): void {
  status.stage = stage;
  status.timeline.push({ stage, at: workflowNow() });
  upsertSearchAttributes([{ key: ReleaseStageKey, value: stage }]);
}

function allPassed(results: GateResult[]): boolean {
  return results.length > 0 && results.every((r) => r.pass);
}

function describeFailures(results: GateResult[]): string {
  return results
    .filter((r) => !r.pass)
    .map((r) => `${r.name} ${r.status === undefined ? 'got no answer' : `returned ${r.status}`}`)
    .join(', ');
}

function stagingGateCommand(plan: PromotionPlan): string {
  const optional = plan.stagingGates.filter((g) => !['health', 'db_health', 'chat_happy', 'chat_415', 'cost_gate_chat', 'burst_429'].includes(g));
  return [
    'release-promoter gates --mode staging --base',
    plan.stagingBase,
    optional.length ? `--gates ${plan.stagingGates.join(',')}` : '',
    plan.expectBudgetBlock ? '--expect-budget-block' : '',
  ]
    .filter(Boolean)
    .join(' ');
}
