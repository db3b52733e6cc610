// The steps of a promotion (SPEC §3), each a function the story in promotion.ts calls in order.
// A step returns what it learnt or throws a typed failure; promotion-endings.ts turns that
// failure into the ending. Each step also checks whether a continued run already did it.
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import { workflowInfo } from '@temporalio/workflow';
import type { RefusalDetails } from '../activities/promote';
import { durationText, PromotionPlan, PromotionStatus, Stage } from '../domain';
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
import { Locks, RollbackWaiting } from './lock/lock-client';

const { admitPromotion, promoteCommit } = gitActivities;
const { runStagingGates, verifyProduction, readDeployedVersion } = probeActivities;
const { descendsOnBranch } = gitActivities;

/** Workflow-time deadlines of the waits, so a continued run neither restarts nor shortens them. */
export interface Deadlines {
  approvalMs?: number;
  deployMs?: number;
  stagingDeployMs?: number;
  soakEndsMs?: number;
  freezeMs?: number;
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
    if (plan.breakGlass)
      status.breakGlass = {
        reason: plan.breakGlass.reason,
        required: true,
        state: 'pending',
        minApprovals: plan.breakGlass.minApprovals,
        approvers: plan.breakGlass.approvers,
        decisions: [],
        ignored: [],
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
export function admittedAttributes(status: PromotionStatus, plan: PromotionPlan): SearchAttributeUpdatePair[] {
  return [
    // A dry run has no release id.
    ...(status.releaseId ? [{ key: ReleaseIdKey, value: status.releaseId }] : []),
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
      `no decision within ${durationText(plan.approval.timeoutMs)}; nothing was promoted. Start a new promotion when approvers are available`,
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

/** What a service's wait shows in the status: when it gives up, what was read last, when it reads next. */
type WaitShown = NonNullable<PromotionStatus['deployWait']>;

/**
 * Polls `base` on durable timers (no long-running activity) until `accepts` the version it
 * reports: quickly at first, then every 30 s at most, so a long deploy costs few events. False
 * once `deadlineMs` (workflow time) has passed without it.
 */
async function pollUntilReported(
  poll: {
    plan: PromotionPlan;
    base: string;
    wait: { path: string; field: string; timeoutMs: number };
    deadlineMs: number;
    shown: WaitShown;
    accepts: (version: string | null) => boolean | Promise<boolean>;
    timerSummary: (waitMs: number) => string;
  },
  status: PromotionStatus,
  wait: Wait,
): Promise<boolean> {
  const { plan, base, shown } = poll;
  const { path, field, timeoutMs } = poll.wait;
  let intervalMs = Math.min(DEPLOY_POLL_FIRST_MAX_MS, Math.max(DEPLOY_POLL_MIN_MS, Math.floor(timeoutMs / 20)));
  for (;;) {
    const version = await readDeployedVersion.executeWithOptions(
      { summary: summaries.readDeployed(base, path, plan.commitSha) },
      [{ base, path, field, environment: plan.environment }],
    );
    shown.lastSeen = version;
    delete shown.nextReadAt;
    if (await poll.accepts(version)) {
      refreshDetails(status);
      return true;
    }
    const left = poll.deadlineMs - workflowTimeMs();
    if (left <= 0) return false;
    const waitMs = Math.min(intervalMs, left);
    shown.nextReadAt = new Date(workflowTimeMs() + waitMs).toISOString();
    refreshDetails(status);
    await wait(() => false, waitMs, poll.timerSummary(waitMs));
    intervalMs = Math.min(DEPLOY_POLL_MAX_MS, Math.round(intervalMs * 1.5));
  }
}

/**
 * Before the gates (SPEC §9): staging must report the commit, or with the registry's
 * acceptDescendant a commit on fromBranch that descends from it, so the gates test this build.
 * Waits outside the staging turn: a slow staging deploy holds up no other promotion's gates.
 * Throws StagingNotOnCommit.
 */
export async function awaitStagingDeploy(
  status: PromotionStatus,
  plan: PromotionPlan,
  wait: Wait,
  deadlines: Deadlines,
): Promise<void> {
  const staging = plan.stagingDeployWait;
  if (!staging || status.gates.length > 0) return;
  deadlines.stagingDeployMs ??= workflowTimeMs() + staging.timeoutMs;
  const shown = (status.stagingDeployWait ??= { deadline: new Date(deadlines.stagingDeployMs).toISOString() });
  enterOnce(status, 'waiting_for_staging', admittedAttributes(status, plan));
  const runs = async (version: string | null): Promise<boolean> => {
    const verdict = await stagingRunsCommit(plan, version);
    if (verdict === 'descendant') shown.descendant = true;
    return verdict !== false;
  };
  const seen = await pollUntilReported(
    {
      plan,
      base: plan.stagingBase,
      wait: staging,
      deadlineMs: deadlines.stagingDeployMs,
      shown,
      accepts: runs,
      timerSummary: (waitMs) => summaries.stagingPoll(plan, waitMs),
    },
    status,
    wait,
  );
  if (!seen)
    throw failure(
      'StagingNotOnCommit',
      `staging ${plan.stagingBase} reported ${shown.lastSeen ?? '(no value)'} at ${staging.path} (${staging.field}), not ${plan.commitSha}${staging.acceptDescendant ? ` or a descendant of it on ${plan.fromBranch}` : ''}, within ${durationText(staging.timeoutMs)}; no gate ran. Deploy the commit to staging, then start the promotion again`,
    );
}

/** Whether the version staging reports is the commit, or a descendant of it the registry accepts. */
export async function stagingRunsCommit(
  plan: PromotionPlan,
  version: string | null,
): Promise<'commit' | 'descendant' | false> {
  if (version === plan.commitSha) return 'commit';
  if (!plan.stagingDeployWait?.acceptDescendant || version === null) return false;
  const descends = await descendsOnBranch.executeWithOptions(
    { summary: summaries.descends(version, plan.commitSha, plan.fromBranch) },
    [{ repo: plan.repo, branch: plan.fromBranch, ancestor: plan.commitSha, sha: version }],
  );
  return descends ? 'descendant' : false;
}

/** Reads once what staging reports (a dry run's look, where a promotion would wait). */
export async function readStaging(plan: PromotionPlan): Promise<{ reported: string | null; runsCommit: boolean }> {
  const wait = plan.stagingDeployWait as NonNullable<PromotionPlan['stagingDeployWait']>;
  const reported = await readDeployedVersion.executeWithOptions(
    { summary: summaries.readDeployed(plan.stagingBase, wait.path, plan.commitSha) },
    [{ base: plan.stagingBase, path: wait.path, field: wait.field, environment: plan.environment }],
  );
  return { reported, runsCommit: (await stagingRunsCommit(plan, reported)) !== false };
}

/** Step 7: production reports the commit within deployWait.timeout. Throws DeployNotObserved. */
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
  const seen = await pollUntilReported(
    {
      plan,
      base: plan.productionBase,
      wait: deploy,
      deadlineMs: deadlines.deployMs,
      shown,
      accepts: (version) => version === plan.commitSha,
      timerSummary: (waitMs) => summaries.deployPoll(plan, waitMs),
    },
    status,
    wait,
  );
  if (!seen)
    throw failure(
      'DeployNotObserved',
      `production never reported ${plan.commitSha} at ${deploy.path} (${deploy.field}) within ${deploy.timeoutMs / 1000} s`,
    );
}

/** Step 8: the production smoke checks. Throws ProductionVerificationFailed. */
export async function verifyInProduction(status: PromotionStatus, plan: PromotionPlan): Promise<void> {
  // A continued run that soaks already passed them.
  if (status.soak) return;
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

/**
 * Step 8½ (SPEC §9), still holding the lock: the production checks rerun every soakInterval on
 * durable timers until the soak ends (the last run at its end). Its end is a workflow-time
 * deadline, so neither a restart nor a continued run restarts or shortens it. A failing run
 * throws ProductionVerificationFailed (rolled back like a failed verification); a manual
 * rollback waiting for the target ends the soak at once and gets the lock (see promotion-endings).
 */
export async function soakInProduction(
  status: PromotionStatus,
  plan: PromotionPlan,
  wait: Wait,
  deadlines: Deadlines,
  rollbackWaiting: () => RollbackWaiting | undefined,
): Promise<void> {
  const soak = plan.soak;
  if (!soak) return;
  const endsMs = (deadlines.soakEndsMs ??= workflowTimeMs() + soak.durationMs);
  const shown = (status.soak ??= {
    endsAt: new Date(endsMs).toISOString(),
    durationMs: soak.durationMs,
    intervalMs: soak.intervalMs,
    leftMs: soak.durationMs,
    runs: 0,
    failures: 0,
  });
  enterOnce(status, 'soaking');
  for (;;) {
    shown.leftMs = Math.max(0, endsMs - workflowTimeMs());
    if (shown.leftMs === 0) break;
    const waitMs = Math.min(soak.intervalMs, shown.leftMs);
    shown.nextRunAt = new Date(workflowTimeMs() + waitMs).toISOString();
    refreshDetails(status);
    await wait(() => rollbackWaiting() !== undefined, waitMs, summaries.soakTimer(plan, waitMs, shown.runs + 1));
    delete shown.nextRunAt;
    const rollback = rollbackWaiting();
    if (rollback) {
      shown.endedBy = rollback;
      shown.leftMs = Math.max(0, endsMs - workflowTimeMs());
      throw failure(
        'ProductionVerificationFailed',
        `rolled back by ${rollback.releaseId ?? rollback.workflowId} during soak (a manual rollback${rollback.operator ? ` by ${rollback.operator}` : ''}, ${durationText(Math.ceil(shown.leftMs / 1000) * 1000)} before the soak's end); the target is handed to it`,
      );
    }
    const run = await verifyProduction.executeWithOptions({ summary: summaries.soakRun(plan, shown.runs + 1) }, [plan]);
    shown.runs++;
    if (!allPassed(run)) {
      shown.failures++;
      shown.failedRun = run;
      shown.leftMs = Math.max(0, endsMs - workflowTimeMs());
      throw failure(
        'ProductionVerificationFailed',
        `${describeFailures(run)} on production ${plan.productionBase} during soak (run ${shown.runs}, ${durationText(soak.durationMs)} soak every ${durationText(soak.intervalMs)})`,
      );
    }
  }
  refreshDetails(status);
}
