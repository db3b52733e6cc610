// A dry run (SPEC §9): a promotion that stops after its staging gates and reports what would
// happen next. It reserves no release id, pushes nothing and writes no entry, so none of the
// endings' compensation or ledger applies: whatever goes wrong ends it as `failed`, recording nothing.
import type { DryRunReport, PromotionPlan, PromotionStatus } from '../domain';
import { failure, failureMessageOf, failureTypeOf } from '../failures';
import { probeActivities } from './activity-proxies';
import { workflowTimeMs } from './clock';
import { Wait } from './continue';
import { Locks } from './lock/lock-client';
import { admittedAttributes, enterOnce, readStaging, runStagingGatesInTurn } from './promotion-steps';
import { enter } from './stages';
import { summaries } from './summaries';

const { reportDryRun } = probeActivities;

export async function runDryRun(
  status: PromotionStatus,
  plan: PromotionPlan,
  locks: Locks,
  wait: Wait,
): Promise<PromotionStatus> {
  try {
    let staging: DryRunReport['staging'];
    if (plan.stagingDeployWait) {
      enterOnce(status, 'waiting_for_staging', admittedAttributes(status, plan));
      staging = await readStaging(plan);
    }
    try {
      // The gates spend the staging service's shared window like any run: they take their turn.
      await runStagingGatesInTurn(status, plan, locks, wait);
    } catch (err) {
      if (failureTypeOf(err) !== 'StagingGatesFailed') throw err;
    }
    const report = await reportDryRun.executeWithOptions({ summary: summaries.dryRun(plan) }, [
      { plan, workflowId: status.workflowId, gates: status.gates, staging, atMs: workflowTimeMs() },
    ]);
    status.dryRun = report;
    enter(status, 'dry_run');
    return status;
  } catch (err) {
    status.failure = { type: 'PromotionFailed', message: `dry run: ${failureMessageOf(err)}; nothing was recorded` };
    enter(status, 'failed');
    throw failure('PromotionFailed', status.failure.message, status);
  }
}
