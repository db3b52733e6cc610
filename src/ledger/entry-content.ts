// What a promotion's and a rollback's ledger entry say, from their final status: the one place
// the entry's wording lives. Pure and workflow-safe (the workflows build their entries with it;
// the target lock's closing entry starts from it too).
import type { PromotionRecord, RollbackRecord } from './entry';
import { durationText, PromotionPlan, PromotionStatus, RollbackPlan, RollbackStatus } from '../domain';
import { allPassed, describeFailures } from '../gates/results';

/** Who writes an entry: the workflow id (the append's key) and a reference an auditor can open. */
export interface EntryAuthor {
  workflowId: string;
  evidenceRef: string;
}

/** The promotion's entry as things stand. */
export function promotionEntry(
  status: PromotionStatus,
  plan: PromotionPlan,
  result: 'pass' | 'fail',
  author: EntryAuthor,
): PromotionRecord {
  const notes = [
    status.failure ? `${status.failure.type}: ${status.failure.message}` : 'promoted; production verification passed',
    status.pushed && !plan.deployWait ? 'deployed version not confirmed (no deployWait)' : '',
    plan.notes ?? '',
  ].filter(Boolean);
  const extras: Array<[string, string]> = [];
  if (status.drift)
    extras.push([
      'drift',
      `expected ${status.drift.expected}, found ${status.drift.found ?? '(missing)'}; ${status.drift.accepted ? 'accepted (acceptDrift)' : 'refused'}`,
    ]);
  if (status.downgrade)
    extras.push([
      'downgrade',
      `${status.lastKnownGood ?? '(none)'} -> ${plan.commitSha} is not a fast-forward; allowed (allowDowngrade)`,
    ]);
  const freeze = status.freeze;
  if (freeze?.met)
    extras.push([
      'freeze',
      `${freeze.met.reason} (${freeze.met.rule}; ${freeze.met.startedAt} to ${freeze.met.endsAt})${freeze.waitingSince ? `; waited from ${freeze.waitingSince}` : ''}`,
    ]);
  if (freeze?.overridden && status.breakGlass)
    extras.push([
      'freeze_override',
      `break-glass: ${status.breakGlass.reason}; approved by ${status.breakGlass.decisions.map((d) => `${d.approver} at ${d.at}`).join(', ')}`,
    ]);
  if (status.supersededBy)
    extras.push([
      'superseded_by',
      `${status.supersededBy.releaseId ?? '(no id)'} (operator ${status.supersededBy.operator}, commit ${status.supersededBy.commitSha})`,
    ]);
  if (status.rollback)
    extras.push(
      ['rollback_release_id', status.rollback.releaseId ?? '(none)'],
      ['rollback_result', status.rollback.result ?? 'partial'],
    );
  return {
    type: 'promotion',
    releaseId: status.releaseId as string,
    ...author,
    commitSha: plan.commitSha,
    environment: plan.environment,
    repo: plan.repo,
    fromBranch: plan.fromBranch,
    toBranch: plan.toBranch,
    stagingBase: plan.stagingBase,
    stagingGateCommand: stagingGateCommand(plan),
    stagingGateResult: status.gates.length === 0 ? 'not run' : allPassed(status.gates) ? 'pass' : 'fail',
    gatesRun: status.gates,
    changeClass: plan.changeClass,
    prodVerification: status.prodVerification,
    soak: status.soak && soakLine(status.soak),
    result,
    rollbackPlan:
      plan.rollbackPlan ??
      (status.soak?.endedBy
        ? `rolled back by ${status.soak.endedBy.releaseId ?? status.soak.endedBy.workflowId} during soak (a manual rollback; its own entry follows)`
        : status.rollback
          ? status.rollback.workflowId
            ? `rolled back by ${status.rollback.releaseId ?? status.rollback.workflowId} (${status.rollback.result ?? 'partial'})`
            : `none possible: ${plan.toBranch} did not exist before this promotion`
          : status.pushed
            ? `rollbackWorkflow to ${status.lastKnownGood ?? '(no previous tip)'}`
            : 'nothing was promoted'),
    notes: notes.join(' | ').slice(0, 1000),
    operator: plan.operator,
    evidenceRefs: plan.evidenceRefs,
    approvals: status.approval.decisions
      .filter((d) => d.decision === 'approve')
      .map((d) => `${d.approver}: approved at ${d.at}${d.comment ? ` ${JSON.stringify(d.comment)}` : ''}`),
    extras,
  };
}

/** `soak: 30m every 1m, 30 runs, failures: none`, or how it ended early. */
function soakLine(soak: NonNullable<PromotionStatus['soak']>): string {
  const head = `soak: ${durationText(soak.durationMs)} every ${durationText(soak.intervalMs)}, ${soak.runs} run${soak.runs === 1 ? '' : 's'}`;
  if (soak.endedBy)
    return `${head}, failures: none; ended ${durationText(soak.leftMs)} early by ${soak.endedBy.releaseId ?? soak.endedBy.workflowId} (manual rollback)`;
  if (soak.failedRun)
    return `${head}, failures: ${soak.failures} (run ${soak.runs}: ${describeFailures(soak.failedRun)})`;
  return `${head}, failures: ${soak.failures || 'none'}${soak.leftMs > 0 ? `; ended ${durationText(soak.leftMs)} early` : ''}`;
}

/** The rollback's entry (SPEC §4): `completed` when the branch is back and every check passes. */
export function rollbackEntry(status: RollbackStatus, plan: RollbackPlan, author: EntryAuthor): RollbackRecord {
  const completed = status.result === 'completed';
  return {
    type: 'rollback',
    releaseId: status.releaseId as string,
    ...author,
    trigger: plan.trigger,
    fromSha: plan.fromSha,
    toSha: plan.toSha,
    environment: plan.environment,
    repo: plan.repo,
    actions: status.actions,
    postRollbackVerification: status.verification,
    result: status.result ?? 'partial',
    notes: completed
      ? `${plan.toBranch} back on ${plan.toSha}; production checks pass`
      : `partial: ${status.branchRestored ? 'branch restored' : 'branch NOT restored'}; ${allPassed(status.verification) ? 'checks pass' : `checks failing: ${describeFailures(status.verification)}`}. Investigate before promoting again`,
    operator: plan.operator,
    promotionReleaseId: plan.promotionReleaseId,
    toBranch: plan.toBranch,
    extras: [],
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
