// Freeze windows (SPEC §9): a promotion checks the environment's freezes (workflow time) before
// it takes the target's lock and again under the lock just before the push. Inside one it waits
// without the lock, so manual rollbacks are never stuck behind it, until the freeze ends or
// break-glass approvals override it, bounded by the approval timeout; or, where the environment
// refuses, it ends FreezeWindowActive. The rules live in the worker's registry: an activity reads them.
import type { ActiveFreeze } from '../activities/freeze-windows';
import { durationText, PromotionPlan, PromotionStatus } from '../domain';
import { failure } from '../failures';
import { probeActivities } from './activity-proxies';
import { workflowNow, workflowTimeMs } from './clock';
import { Wait } from './continue';
import { refreshDetails } from './current-details';
import type { Deadlines } from './promotion-steps';
import { enter } from './stages';
import { summaries } from './summaries';

const { checkFreeze } = probeActivities;

/**
 * The freeze in force now that still stops this promotion: none when the environment declares no
 * freezes (no activity runs), none in force, or one its break-glass approvals override.
 */
export async function freezeInForce(status: PromotionStatus, plan: PromotionPlan): Promise<ActiveFreeze | undefined> {
  if (!plan.freeze) return undefined;
  const active = await checkFreeze.executeWithOptions({ summary: summaries.checkFreeze(plan) }, [
    { environment: plan.environment, atMs: workflowTimeMs() },
  ]);
  const shown = (status.freeze ??= {});
  if (!active) {
    delete shown.active;
    return undefined;
  }
  shown.active = active;
  shown.met = active;
  if (status.breakGlass?.state === 'approved') {
    shown.overridden = true;
    return undefined;
  }
  return active;
}

/** Before the lock: no freeze in force, or waits one out in stage `frozen`. Throws FreezeWindowActive. */
export async function awaitNoFreeze(
  status: PromotionStatus,
  plan: PromotionPlan,
  wait: Wait,
  deadlines: Deadlines,
): Promise<void> {
  for (;;) {
    const active = await freezeInForce(status, plan);
    const shown = status.freeze;
    if (!active || !shown || !plan.freeze) {
      if (shown) delete shown.deadline;
      return refreshDetails(status);
    }
    const what = `${plan.environment} is frozen until ${active.endsAt}: ${active.reason} (${active.rule})`;
    if (plan.freeze.onFreeze === 'refuse' && !plan.breakGlass)
      throw failure(
        'FreezeWindowActive',
        `${what}; ${plan.environment} refuses promotions during a freeze. Start it again after ${active.endsAt}, or with breakGlass and its approvals`,
      );
    // One bound for all the freezes this promotion meets, however often it waits.
    deadlines.freezeMs ??= workflowTimeMs() + plan.approval.timeoutMs;
    shown.waitingSince ??= workflowNow();
    shown.deadline = new Date(deadlines.freezeMs).toISOString();
    const left = deadlines.freezeMs - workflowTimeMs();
    if (left <= 0)
      throw failure(
        'FreezeWindowActive',
        `${what}; still frozen after waiting ${durationText(plan.approval.timeoutMs)} (the approval timeout). Start it again after ${active.endsAt}${plan.breakGlass ? '' : ', or with breakGlass and its approvals'}`,
      );
    if (status.stage !== 'frozen') enter(status, 'frozen');
    else refreshDetails(status);
    const untilEnd = Date.parse(active.endsAt) - workflowTimeMs();
    await wait(
      () => status.breakGlass?.state === 'approved',
      Math.max(1, Math.min(left, untilEnd)),
      summaries.freezeWait(active.endsAt, Math.min(left, untilEnd)),
    );
  }
}
