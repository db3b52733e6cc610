// Every way a promotion ends (SPEC §3 "Endings"), as one table, and the one place that turns a
// step's failure, or a cancellation, into that ending: compensation first, then the entry.
import { CancellationScope, executeChild, isCancellation, ParentClosePolicy, workflowInfo } from '@temporalio/workflow';
import type { PromotionPlan, PromotionStatus, Stage } from '../domain';
import { failure, FailureType, failureMessageOf, failureTypeOf } from '../failures';
import { allPassed } from '../gates/results';
import { promotionEntry } from '../ledger/entry-content';
import { refreshDetails } from './current-details';
import { writeLastEntry } from './last-entry';
import { rollbackChildId } from './messages';
import { rollbackWorkflow } from './rollback';
import { enter, ledgerAuthor } from './stages';
import { rollbackStartMetadata } from './summaries';

/**
 * Type → terminal stage. Every ending here writes exactly one `fail` entry (its append retried
 * without limit in stage `recording`), and a commit that was pushed but not verified is rolled
 * back first: the stage is then `rolled_back` or `rollback_partial`, as the rollback went.
 * Refusals of the request itself (InvalidPromotionRequest, ChangeClassForbidden,
 * CommitNotOnSourceBranch) end in stage `invalid` with no entry, before any of this.
 */
export const PROMOTION_ENDINGS = {
  StagingGatesFailed: 'gates_failed',
  StagingNotOnCommit: 'gates_failed',
  ApprovalRejected: 'rejected',
  ApprovalTimedOut: 'approval_expired',
  FreezeWindowActive: 'frozen',
  Superseded: 'superseded',
  ReleaseBranchDrifted: 'drifted',
  DowngradeRefused: 'refused',
  ReleaseBranchMoved: 'refused',
  DeployNotObserved: 'rolled_back',
  ProductionVerificationFailed: 'rolled_back',
  /** The rollback child itself could not finish. */
  RollbackFailed: 'rollback_partial',
  /** `temporal workflow cancel`: the workflow ends as cancelled, after the same entry. */
  Cancelled: 'cancelled',
  /** Anything else: an activity out of retries, an unexpected error. */
  PromotionFailed: 'failed',
} as const satisfies Partial<Record<FailureType, Stage>>;
type EndingType = keyof typeof PROMOTION_ENDINGS;

/** Ends a promotion that failed (or was cancelled) after admission; always throws. */
export async function endPromotion(status: PromotionStatus, plan: PromotionPlan, err: unknown): Promise<never> {
  const cancelled = isCancellation(err);
  const known = failureTypeOf(err);
  let type: EndingType = cancelled
    ? 'Cancelled'
    : known && known in PROMOTION_ENDINGS
      ? (known as EndingType)
      : 'PromotionFailed';
  let message = cancelled ? 'the promotion was cancelled' : failureMessageOf(err);
  // Cancellation must stop neither the compensation nor the entry.
  await CancellationScope.nonCancellable(async () => {
    let stage: Stage = PROMOTION_ENDINGS[type];
    // A manual rollback that ended the soak does the rolling back itself, once it has the lock.
    if (status.pushed && !verified(status) && !status.soak?.endedBy) {
      const rollback = await rollBack(status, plan, `${type}: ${message}`);
      if (rollback.failed)
        [type, message] = ['RollbackFailed', `${message}; rollback did not finish: ${rollback.failed}`];
      else message += `; ${rollbackOutcome(status, plan)}`;
      if (!cancelled) stage = status.rollback?.result === 'completed' ? 'rolled_back' : 'rollback_partial';
    }
    status.failure = { type, message };
    await recordPromotion(status, plan, 'fail', stage);
  });
  throw cancelled ? err : failure(type, message, status);
}

/** Writes the promotion's one entry (idempotent per release id + workflow id), then enters `stage`. */
export async function recordPromotion(
  status: PromotionStatus,
  plan: PromotionPlan,
  result: 'pass' | 'fail',
  stage: Stage,
): Promise<void> {
  // Under the lock the tip is known where this promotion (or its rollback) just put it.
  const tip =
    result === 'pass' ? plan.commitSha : status.rollback?.result === 'completed' ? status.lastKnownGood : undefined;
  const appended = await writeLastEntry(status, stage, promotionEntry(status, plan, result, ledgerAuthor()), {
    repo: plan.repo,
    branch: plan.toBranch,
    tip,
  });
  status.ledgerChainHead = appended.chainHead;
}

function rollbackOutcome(status: PromotionStatus, plan: PromotionPlan): string {
  const rollback = status.rollback;
  if (!rollback?.workflowId)
    return `${plan.toBranch} did not exist before this promotion, so there is nothing to roll back to: it stays on ${plan.commitSha}, which failed in production; check ${plan.toBranch} and production now`;
  if (rollback.result === 'completed') return `rolled back to ${status.lastKnownGood} by ${rollback.releaseId}`;
  return `rollback ${rollback.releaseId ?? rollback.workflowId} is PARTIAL: check ${plan.toBranch} and production now`;
}

/**
 * A release that passed verification (and its whole soak) is never undone because something
 * after it failed. One still soaking is not verified yet: a failing run or a cancellation rolls back.
 */
function verified(status: PromotionStatus): boolean {
  const soak = status.soak;
  return allPassed(status.prodVerification) && (!soak || (soak.failures === 0 && soak.leftMs === 0));
}

/** Compensation: the rollback child puts the branch back on the previous tip and proves it. */
async function rollBack(status: PromotionStatus, plan: PromotionPlan, trigger: string): Promise<{ failed?: string }> {
  enter(status, 'rolling_back');
  if (!status.lastKnownGood) {
    // The branch did not exist before this promotion: there is nothing to go back to.
    status.rollback = { result: 'partial' };
    return {};
  }
  const workflowId = rollbackChildId(workflowInfo().workflowId);
  status.rollback = { workflowId };
  refreshDetails(status);
  const request = {
    environment: plan.environment,
    repo: plan.repo,
    toBranch: plan.toBranch,
    fromSha: plan.commitSha,
    toSha: status.lastKnownGood,
    productionBase: plan.productionBase,
    trigger: trigger.slice(0, 500),
    operator: plan.operator,
    promotionReleaseId: status.releaseId,
  };
  try {
    const result = await executeChild(rollbackWorkflow, {
      workflowId,
      args: [request],
      ...rollbackStartMetadata(request),
      // The rollback must finish even if this promotion is cancelled or terminated meanwhile.
      parentClosePolicy: ParentClosePolicy.ABANDON,
    });
    status.rollback = { workflowId, releaseId: result.releaseId, result: result.result };
    return {};
  } catch (err) {
    status.rollback = { workflowId, result: 'partial' };
    return { failed: failureMessageOf(err) };
  }
}
