// Superseding (SPEC §9 "Concurrency", with `concurrency: "supersede"`): once its staging gates
// pass, a promotion tells its target's lock that it waits to push; the lock ends the older waiters
// whose commit this one descends from, and tells each. A superseded promotion ends `Superseded`
// from whichever wait it was in (approval, freeze, lock). The lock decides, so whoever may start
// a workflow cannot end others at will: only by promoting a newer commit that passed its gates.
import { CancellationScope, getExternalWorkflowHandle, setHandler, workflowInfo } from '@temporalio/workflow';
import type { PromotionPlan, PromotionStatus } from '../domain';
import { failure } from '../failures';
import { localActivities } from './activity-proxies';
import { Wait } from './continue';
import {
  HANDLER_DESCRIPTIONS,
  lockWorkflowId,
  releaseLockSignal,
  supersededSignal,
  WaitingPromotion,
} from './messages';
import { summaries } from './summaries';

const { announceWaitingPromotion } = localActivities;

export interface Supersede {
  /** `wait` that also ends when a newer promotion supersedes this one, then throws Superseded. */
  guard(wait: Wait): Wait;
  /** After the staging gates passed: this promotion waits to push, and supersedes older ones. */
  announce(plan: PromotionPlan): Promise<void>;
  /** Leaves the lock's waiters (every ending: it holds the lock, or it is done). */
  leave(plan: PromotionPlan): Promise<void>;
}

/** Registers the superseded signal (call before the first await). */
export function registerSupersede(status: PromotionStatus): Supersede {
  let by: WaitingPromotion | undefined;
  let announced = false;
  setHandler(
    supersededSignal,
    (signal) => {
      // The lock never supersedes a holder or one that pushed; this keeps a stray signal harmless.
      if (!status.pushed) by ??= signal.by;
    },
    { description: HANDLER_DESCRIPTIONS.superseded },
  );
  return {
    guard: (wait) => async (done, timeoutMs, summary) => {
      const result = await wait(() => done() || by !== undefined, timeoutMs, summary);
      if (by && !status.pushed) {
        status.supersededBy = { releaseId: by.releaseId, operator: by.operator, commitSha: by.commitSha };
        throw failure(
          'Superseded',
          `superseded by ${by.releaseId ?? by.workflowId} (operator ${by.operator}, commit ${by.commitSha}), a newer promotion of this target whose commit descends from this one; nothing was promoted`,
        );
      }
      return result;
    },
    async announce(plan) {
      if (!plan.supersede || announced) return;
      announced = true;
      const self = workflowInfo().workflowId;
      await announceWaitingPromotion.executeWithOptions({ summary: summaries.announceWaiting(plan) }, [
        {
          lockWorkflowId: lockWorkflowId(plan.repo, plan.toBranch),
          target: `${plan.repo}#${plan.toBranch}`,
          waiting: {
            workflowId: self,
            releaseId: status.releaseId,
            operator: plan.operator,
            commitSha: plan.commitSha,
            repo: plan.repo,
            fromBranch: plan.fromBranch,
          },
        },
      ]);
    },
    async leave(plan) {
      if (!announced) return;
      announced = false;
      await CancellationScope.nonCancellable(() =>
        getExternalWorkflowHandle(lockWorkflowId(plan.repo, plan.toBranch))
          .signal(releaseLockSignal, { workflowId: workflowInfo().workflowId })
          .catch(() => undefined),
      );
    },
  };
}
