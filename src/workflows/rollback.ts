// rollbackWorkflow: put the release branch back on the last known good and prove it (SPEC §4).
// Started by a failed promotion as its child, or by hand from the Temporal CLI.
import { setHandler, workflowInfo } from '@temporalio/workflow';
import { describeIssues, RollbackPlan, RollbackRequest, RollbackStatus } from '../domain';
import { failure, failureMessageOf, failureTypeOf } from '../failures';
import { redact } from '../redact';
import { gitActivities, ledgerActivities, probeActivities } from './activity-proxies';
import { workflowNow } from './clock';
import { refreshDetails, showDetails } from './current-details';
import {
  CommitShaKey,
  HANDLER_DESCRIPTIONS,
  ReleaseEnvironmentKey,
  ReleaseIdKey,
  rollbackStatusQuery,
} from './messages';
import { writeLastEntry } from './last-entry';
import { allPassed, describeFailures } from '../gates/results';
import { rollbackEntry } from '../ledger/entry-content';
import { enter, ledgerAuthor, rawField } from './stages';
import { rollbackDetails, summaries } from './summaries';
import { registerLocks, targetLock } from './lock/lock-client';

const { planRollback, moveReleaseBranch } = gitActivities;
const { verifyProduction } = probeActivities;
const { reserveReleaseId } = ledgerActivities;

/**
 * Moves `toBranch` from `fromSha` back to `toSha` with a lease on `fromSha` (a branch that moved
 * on is never clobbered), reruns the production checks and writes the rollback entry.
 * Completes with the final status (`result` completed or partial); throws InvalidRollbackRequest.
 */
export async function rollbackWorkflow(input: unknown): Promise<RollbackStatus> {
  const status = newRollbackStatus(input);
  setHandler(rollbackStatusQuery, () => status, { description: HANDLER_DESCRIPTIONS.rollbackStatus });
  const locks = registerLocks();
  showDetails(status, () => rollbackDetails(status));

  const plan = await validate(status, input);
  showDetails(status, () => rollbackDetails(status, plan));
  status.releaseId = await reserveReleaseId.executeWithOptions({ summary: summaries.reserveRollbackId(plan) }, [
    { workflowId: workflowInfo().workflowId, kind: 'rb', at: workflowNow(), requested: plan.releaseId },
  ]);
  // Not yet upserted; they go with the next stage change.
  let admitted = [
    { key: ReleaseIdKey, value: status.releaseId },
    { key: CommitShaKey, value: plan.toSha },
    { key: ReleaseEnvironmentKey, value: plan.environment },
  ];
  const lock = targetLock(locks, { repo: plan.repo, branch: plan.toBranch }, status);
  try {
    // A compensating child runs under its parent promotion's lock; a manual rollback takes the
    // lock itself, ahead of every waiting promotion.
    if (!workflowInfo().parent) {
      enter(status, 'waiting_for_lock', admitted);
      admitted = [];
      await lock.acquire('rollback', undefined, undefined, { releaseId: status.releaseId, operator: plan.operator });
    }
    enter(status, 'rolling_back', admitted);
    await restoreBranch(status, plan);
    status.verification = await verifyProduction.executeWithOptions({ summary: summaries.verifyRollback(plan) }, [
      { productionBase: plan.productionBase, environment: plan.environment },
    ]);
    status.actions.push(
      `rerun smoke (health/db/chat/415): ${allPassed(status.verification) ? 'all pass' : describeFailures(status.verification)}`,
    );
    refreshDetails(status);

    status.result = status.branchRestored && allPassed(status.verification) ? 'completed' : 'partial';
    await record(status, plan);
    return status;
  } finally {
    await lock.release();
  }
}

async function validate(status: RollbackStatus, input: unknown): Promise<RollbackPlan> {
  // The trigger is caller free text: redacted before the status shows it or an activity gets it.
  status.trigger = redact(status.trigger);
  enter(status, 'validating');
  const parsed = RollbackRequest.safeParse(input);
  try {
    if (!parsed.success) {
      throw failure(
        'InvalidRollbackRequest',
        `invalid rollback request: ${describeIssues(parsed.error)}. Fix the field and start the rollback again; nothing was changed`,
      );
    }
    return await planRollback.executeWithOptions(
      { summary: summaries.planRollback(parsed.data.environment, parsed.data.toSha) },
      [{ ...parsed.data, trigger: redact(parsed.data.trigger) }, { compensating: workflowInfo().parent !== undefined }],
    );
  } catch (err) {
    enter(status, 'invalid');
    status.failure = { type: failureTypeOf(err) ?? 'InvalidRollbackRequest', message: failureMessageOf(err) };
    throw failure('InvalidRollbackRequest', status.failure.message, status);
  }
}

/** A branch that moved on since `fromSha` is left alone: the rollback is then partial. */
async function restoreBranch(status: RollbackStatus, plan: RollbackPlan): Promise<void> {
  try {
    const moved = await moveReleaseBranch.executeWithOptions({ summary: summaries.moveBack(plan) }, [
      {
        repo: plan.repo,
        branch: plan.toBranch,
        expectedTip: plan.fromSha,
        targetSha: plan.toSha,
        sourceBranch: plan.toBranch,
        allowDowngrade: true,
      },
    ]);
    status.branchRestored = true;
    status.actions.push(
      moved.pushed
        ? `redeploy last known good: ${plan.toBranch} moved ${plan.fromSha} -> ${plan.toSha}`
        : `${plan.toBranch} already on ${plan.toSha}`,
    );
  } catch (err) {
    status.actions.push(`${plan.toBranch} not moved (${failureTypeOf(err) ?? 'error'}): ${failureMessageOf(err)}`);
  }
  refreshDetails(status);
}

/** Writes the rollback's one entry; restored under the lock, the tip is where this rollback put it. */
async function record(status: RollbackStatus, plan: RollbackPlan): Promise<void> {
  const stage = status.result === 'completed' ? 'rolled_back' : 'rollback_partial';
  const appended = await writeLastEntry(status, stage, rollbackEntry(status, plan, ledgerAuthor()), {
    repo: plan.repo,
    branch: plan.toBranch,
    tip: status.branchRestored ? plan.toSha : undefined,
  });
  status.ledgerChainHead = appended.chainHead;
}

function newRollbackStatus(input: unknown): RollbackStatus {
  const field = rawField(input);
  return {
    workflowId: workflowInfo().workflowId,
    stage: 'validating',
    environment: field('environment', 'production'),
    fromSha: field('fromSha'),
    toSha: field('toSha'),
    trigger: field('trigger'),
    operator: field('operator'),
    promotionReleaseId: field('promotionReleaseId') || undefined,
    branchRestored: false,
    actions: [],
    verification: [],
    timeline: [],
  };
}
