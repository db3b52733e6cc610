// The steps of a promotion (SPEC §3), each a function the story in promotion.ts calls in order.
// A step returns what it learnt or throws a typed failure; promotion-endings.ts turns that
// failure into the ending. Each step also checks whether a continued run already did it.
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import { workflowInfo } from '@temporalio/workflow';
import type { RefusalDetails } from '../activities/promote';
import type { PromotionPlan, PromotionStatus, Stage } from '../domain';
import { failure, failureDetailsOf, failureMessageOf, failureTypeOf } from '../failures';
import { allPassed, describeFailures, stagingFailureMessage } from '../gates/results';
import { gitActivities, probeActivities } from './activity-proxies';
import { ApprovalDesk } from './approval';
import { workflowNow, workflowTimeMs } from './clock';
import { Wait } from './continue';
import { refreshDetails } from './current-details';
import { ChangeClassKey, CommitShaKey, ReleaseEnvironmentKey, ReleaseIdKey, stagingTurnWorkflowId } from './messages';
import { parsePromotionRequest } from './request';
import { enter } from './stages';
import { summaries } from './summaries';
import { Locks } from './lock/lock-client';

const { admitPromotion, promoteCommit } = gitActivities;
const { runStagingGates, verifyProduction, readDeployedVersion } = probeActivities;

/** Workflow-time deadlines of the waits, so a continued run neither restarts nor shortens them. */
export interface Deadlines {
  approvalMs?: number;
  deployMs?: number;
}

/** Enters `stage` unless a continued run is already in it. */
export function enterOnce(status: PromotionStatus, stage: Stage, also?: SearchAttributeUpdatePair[]): void {
  if (status.stage !== stage) enter(status, stage, also);
}

/**
 * Steps 1–2: validates the request and the commit, and reserves the release id. Bad input ends
 * the workflow here, in stage `invalid`: no release id, no ledger entry, no git change.
 */
export async function admit(status: PromotionStatus, input: unknown, desk: ApprovalDesk): Promise<PromotionPlan> {
  enter(status, 'validating');
  try {
    const request = parsePromotionRequest(input);
    const { plan, releaseId } = await admitPromotion.executeWithOptions(
      { summary: summaries.admit(request.commitSha, request.environment) },
      [request, { workflowId: workflowInfo().workflowId, at: workflowNow() }],
    );
    status.releaseId = releaseId;
    status.commitSha = plan.commitSha;
    status.environment = plan.environment;
    const { required, minApprovals, approvers } = plan.approval;
    status.approval = {
      ...status.approval,
      required,
      state: required ? 'pending' : 'not_required',
      minApprovals,
      approvers,
    };
    return plan;
  } catch (err) {
    desk.close();
    const type = failureTypeOf(err);
    status.failure = { type: type ?? 'PromotionFailed', message: failureMessageOf(err) };
    // Not a verdict on the input (git unreachable after every retry): nothing was reserved either.
    if (type !== 'InvalidPromotionRequest' && type !== 'ChangeClassForbidden' && type !== 'CommitNotOnSourceBranch') {
      enter(status, 'failed');
      throw err;
    }
    enter(status, 'invalid');
    throw failure(type, status.failure.message, status);
  }
}

/**
 * Step 3, one run per staging service at a time (SPEC §5): the burst and the cost gate spend what
 * every caller of the service shares, so runs take turns, and the next run starts only once the
 * window this run's burst spent has passed. Throws StagingGatesFailed.
 */
export async function runStagingGatesInTurn(
  status: PromotionStatus,
  plan: PromotionPlan,
  locks: Locks,
  wait: Wait,
): Promise<void> {
  const service = plan.stagingService;
  if (status.gates.length === 0) {
    const turn = locks.lock(stagingTurnWorkflowId(service), `staging:${service}`, (spot) => {
      status.stagingTurn = { service, ...spot };
      refreshDetails(status);
    });
    enterOnce(status, 'waiting_for_staging', admittedAttributes(status, plan));
    let cooldownMs = 0;
    try {
      await turn.acquire('promotion', undefined, wait);
      enter(status, 'staging_gates');
      const run = await runStagingGates.executeWithOptions({ summary: summaries.stagingGates(plan) }, [plan]);
      status.gates = run.gates;
      cooldownMs = run.cooldownMs;
    } finally {
      await turn.release({ cooldownMs });
    }
    status.stagingTurn = { service };
  }
  if (!allPassed(status.gates))
    throw failure('StagingGatesFailed', stagingFailureMessage(status.gates, plan.stagingBase));
}

/** The search attributes validation taught, upserted with the next stage change. */
function admittedAttributes(status: PromotionStatus, plan: PromotionPlan): SearchAttributeUpdatePair[] {
  return [
    { key: ReleaseIdKey, value: status.releaseId as string },
    { key: CommitShaKey, value: plan.commitSha },
    { key: ChangeClassKey, value: plan.changeClass },
    { key: ReleaseEnvironmentKey, value: plan.environment },
  ];
}

/** Step 4: enough counted approvals. Throws ApprovalTimedOut, ApprovalRejected (also a withdrawal). */
export async function awaitApproval(
  status: PromotionStatus,
  plan: PromotionPlan,
  wait: Wait,
  deadlines: Deadlines,
): Promise<void> {
  if (!plan.approval.required) return;
  // A continued run that already waited here goes on; an approval that came early still shows the stage.
  if (status.approval.state === 'approved' && status.timeline.some((t) => t.stage === 'awaiting_approval')) return;
  deadlines.approvalMs ??= workflowTimeMs() + plan.approval.timeoutMs;
  // Shown in the status and the current details while the approval is pending.
  if (status.approval.state === 'pending') status.approval.deadline = new Date(deadlines.approvalMs).toISOString();
  enterOnce(status, 'awaiting_approval');
  const decided = await wait(
    () => status.approval.state !== 'pending',
    Math.max(1, deadlines.approvalMs - workflowTimeMs()),
    summaries.approvalTimeout(plan.approval.timeoutMs, deadlines.approvalMs),
  );
  delete status.approval.deadline;
  if (!decided) {
    status.approval.state = 'expired';
    throw failure(
      'ApprovalTimedOut',
      `no decision within ${humanDuration(plan.approval.timeoutMs)}; nothing was promoted. Start a new promotion when approvers are available`,
    );
  }
  if (status.approval.state === 'rejected') {
    const last = status.approval.decisions.filter((d) => d.decision === 'reject').at(-1);
    const who =
      last?.approver === plan.operator
        ? `withdrawn by its operator ${plan.operator}`
        : `rejected by ${last?.approver ?? 'an approver'}`;
    throw failure('ApprovalRejected', `${who}: ${last?.reason ?? '(no reason)'}; nothing was promoted`);
  }
}

function humanDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
  ] as const)
    if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms / 1000}s`;
}

/**
 * Step 6, under the lock: drift check, downgrade check and push as one activity, or two when the
 * tip had to be read (see activities/promote.ts). Throws ReleaseBranchDrifted, DowngradeRefused, ReleaseBranchMoved.
 */
export async function pushCommit(status: PromotionStatus, plan: PromotionPlan): Promise<void> {
  if (status.pushed) return;
  enter(status, 'promoting');
  try {
    const args = {
      repo: plan.repo,
      branch: plan.toBranch,
      environment: plan.environment,
      targetSha: plan.commitSha,
      sourceBranch: plan.fromBranch,
      allowDowngrade: plan.allowDowngrade,
      acceptDrift: plan.acceptDrift,
    };
    let moved = await promoteCommit.executeWithOptions({ summary: summaries.push(plan) }, [args]);
    // A tip the activity had to read comes back unpushed and is pushed from in a call of its own,
    // so that call's retries, after a push that landed, still know the tip it replaced.
    if (moved.pushFrom)
      moved = {
        ...(await promoteCommit.executeWithOptions({ summary: summaries.pushFrom(plan, moved.pushFrom.tip) }, [
          { ...args, lease: moved.pushFrom },
        ])),
        drift: moved.drift,
      };
    Object.assign(status, {
      lastKnownGood: moved.lastKnownGood ?? undefined,
      drift: moved.drift,
      downgrade: moved.downgrade,
      pushed: true,
    });
  } catch (err) {
    // What the refusal saw goes into the entry (the drift it found, the tip it would restore).
    const refusal = failureDetailsOf(err) as RefusalDetails | undefined;
    if (
      refusal &&
      ['ReleaseBranchDrifted', 'DowngradeRefused', 'ReleaseBranchMoved'].includes(failureTypeOf(err) ?? '')
    ) {
      Object.assign(status, { lastKnownGood: refusal.lastKnownGood ?? undefined, drift: refusal.drift });
    }
    throw err;
  }
}

// A deploy is usually seen within seconds, so the first polls are quick; a long one must not fill
// the history (each poll is an activity and a timer), so the interval grows to 30 s.
const DEPLOY_POLL_MIN_MS = 250;
const DEPLOY_POLL_FIRST_MAX_MS = 5_000;
const DEPLOY_POLL_MAX_MS = 30_000;

/**
 * Step 7: polls production on durable timers (no long-running activity) until it reports the
 * commit: quickly at first, then every 30 s at most, so a long deploy costs few events.
 * Throws DeployNotObserved.
 */
export async function awaitDeploy(
  status: PromotionStatus,
  plan: PromotionPlan,
  wait: Wait,
  deadlines: Deadlines,
): Promise<void> {
  const deploy = plan.deployWait;
  if (!deploy) return;
  deadlines.deployMs ??= workflowTimeMs() + deploy.timeoutMs;
  const shown = (status.deployWait ??= { deadline: new Date(deadlines.deployMs).toISOString() });
  enterOnce(status, 'awaiting_deploy');
  let intervalMs = Math.min(DEPLOY_POLL_FIRST_MAX_MS, Math.max(DEPLOY_POLL_MIN_MS, Math.floor(deploy.timeoutMs / 20)));
  for (;;) {
    const version = await readDeployedVersion.executeWithOptions(
      { summary: summaries.readDeployed(plan, deploy.path) },
      [{ base: plan.productionBase, path: deploy.path, field: deploy.field, environment: plan.environment }],
    );
    shown.lastSeen = version;
    delete shown.nextReadAt;
    if (version === plan.commitSha) return refreshDetails(status);
    const left = deadlines.deployMs - workflowTimeMs();
    if (left <= 0)
      throw failure(
        'DeployNotObserved',
        `production never reported ${plan.commitSha} at ${deploy.path} (${deploy.field}) within ${deploy.timeoutMs / 1000} s`,
      );
    const waitMs = Math.min(intervalMs, left);
    shown.nextReadAt = new Date(workflowTimeMs() + waitMs).toISOString();
    refreshDetails(status);
    await wait(() => false, waitMs, summaries.deployPoll(plan, waitMs));
    intervalMs = Math.min(DEPLOY_POLL_MAX_MS, Math.round(intervalMs * 1.5));
  }
}

/** Step 8: the production smoke checks. Throws ProductionVerificationFailed. */
export async function verifyInProduction(status: PromotionStatus, plan: PromotionPlan): Promise<void> {
  enter(status, 'verifying');
  status.prodVerification = await verifyProduction.executeWithOptions({ summary: summaries.verifyPromotion(plan) }, [
    plan,
  ]);
  if (!allPassed(status.prodVerification))
    throw failure(
      'ProductionVerificationFailed',
      `${describeFailures(status.prodVerification)} on production ${plan.productionBase}`,
    );
}
