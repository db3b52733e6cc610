// promotionWorkflow: the story of one promotion, from request to ledger entry (SPEC §3). Each step
// lives in promotion-steps.ts and throws a typed failure; promotion-endings.ts holds the table of
// endings and the one place that turns a failure into its ending and its entry.
import {
  allHandlersFinished,
  CancellationScope,
  condition,
  ContinueAsNew,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { PromotionPlan, PromotionStatus } from '../domain';
import { promotionEntry } from '../ledger/entry-content';
import { registerApprovalDesk } from './approval';
import { waitOrContinue } from './continue';
import { showDetails } from './current-details';
import { HANDLER_DESCRIPTIONS, statusQuery } from './messages';
import { runDryRun } from './dry-run';
import { awaitNoFreeze, freezeInForce } from './freeze';
import { registerSupersede } from './supersede';
import { endPromotion, recordPromotion } from './promotion-endings';
import {
  admit,
  awaitApproval,
  awaitDeploy,
  awaitStagingDeploy,
  Deadlines,
  enterOnce,
  pushCommit,
  runStagingGatesInTurn,
  soakInProduction,
  verifyInProduction,
} from './promotion-steps';
import { ledgerAuthor, rawField } from './stages';
import { promotionDetails } from './summaries';
import { LockSnapshot, registerLocks, targetLock } from './lock/lock-client';

/**
 * Runs one promotion. Completes with the final status when promoted (or, for a dry run, in stage
 * `dry_run` with its report as the status's `dryRun`); otherwise fails with a
 * typed, non-retryable failure whose details[0] is the final status (SPEC §3 "Endings").
 */
export async function promotionWorkflow(input: unknown): Promise<PromotionStatus> {
  // A continued run (a wait's history grew long) carries the last run's state and locks.
  const carried = carriedFrom(input);
  const status = carried?.status ?? newStatus(input);
  setHandler(statusQuery, () => status, { description: HANDLER_DESCRIPTIONS.status });
  const desk = registerApprovalDesk(status);
  const locks = registerLocks(carried?.locks);
  const supersede = registerSupersede(status);
  // The Temporal UI's current details: the stage and what it waits for, kept up to date.
  showDetails(status, () => promotionDetails(status, carried?.plan));
  try {
    // 1–2. Validate the request and the commit, reserve the release id (or end as `invalid`).
    const plan = carried?.plan ?? (await admit(status, input, desk));
    showDetails(status, () => promotionDetails(status, plan));
    const deadlines = carried?.deadlines ?? {};
    const wait = supersede.guard(
      waitOrContinue((): { continued: PromotionCarry } => ({
        continued: { status, plan, locks: locks.handOver(), deadlines },
      })),
    );
    // A dry run (SPEC §9) reports after its gates; it has no release id, lock or entry.
    if (plan.dryRun) return await runDryRun(status, plan, locks, wait);
    desk.open(plan);
    const lock = targetLock(locks, { repo: plan.repo, branch: plan.toBranch }, status);
    try {
      // 3. Staging runs the commit, and its gates pass (taking turns on the staging service).
      await awaitStagingDeploy(status, plan, wait, deadlines);
      await runStagingGatesInTurn(status, plan, locks, wait);
      // With concurrency "supersede", it now waits to push: older waiters it descends from end.
      await supersede.announce(plan);
      // 4. Approval, when required.
      await awaitApproval(status, plan, wait, deadlines);
      // 5. No freeze in force (waited out without the lock), then the lock: from the drift check to
      //    the last entry, nobody else touches this target. Should this workflow be terminated
      //    meanwhile, the lock writes its entry. A freeze that began while it queued is checked
      //    again under the lock, just before the push: then it gives the lock back and waits.
      for (;;) {
        await awaitNoFreeze(status, plan, wait, deadlines);
        if (!lock.held()) {
          enterOnce(status, 'waiting_for_lock');
          await lock.acquire(
            'promotion',
            { record: closingRecord(status, plan), repo: plan.repo, branch: plan.toBranch },
            wait,
          );
        }
        // Holding the target it is past superseding (the lock took it off its waiters at the grant).
        if (status.pushed || !(await freezeInForce(status, plan))) break;
        await lock.release();
      }
      // 6. Promote: drift check, downgrade check, push with a lease on the tip.
      await pushCommit(status, plan);
      // 7–8. The deploy shows the commit, and production passes its checks.
      await awaitDeploy(status, plan, wait, deadlines);
      await verifyInProduction(status, plan);
      // 8½. The soak: the checks keep passing for a while, or it rolls back.
      await soakInProduction(status, plan, wait, deadlines, () => lock.wantedBy());
      // 9. Promoted: the pass entry.
      await recordPromotion(status, plan, 'pass', 'promoted');
      return status;
    } catch (err) {
      if (err instanceof ContinueAsNew) throw err;
      return await endPromotion(status, plan, err);
    } finally {
      await lock.release();
      await supersede.leave(plan);
    }
  } finally {
    // Every decision sent meanwhile gets its answer before the workflow closes.
    await CancellationScope.nonCancellable(() => condition(allHandlersFinished));
  }
}

/** What a promotion hands to its next run when it continues as new (same workflow id). */
interface PromotionCarry {
  status: PromotionStatus;
  plan: PromotionPlan;
  locks: LockSnapshot;
  deadlines: Deadlines;
}

/**
 * The carried state, only in a run the server started by continue-as-new: a caller who may
 * start workflows cannot hand a fresh run a state that skips the gates.
 */
function carriedFrom(input: unknown): PromotionCarry | undefined {
  if (!workflowInfo().continuedFromExecutionRunId) return undefined;
  return (input as { continued?: PromotionCarry } | undefined)?.continued;
}

/** The entry the lock writes if this workflow closes while holding the target (its notes are the lock's). */
function closingRecord(status: PromotionStatus, plan: PromotionPlan) {
  return promotionEntry(status, plan, 'fail', ledgerAuthor());
}

/** The status shown while the request is still being checked. */
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
