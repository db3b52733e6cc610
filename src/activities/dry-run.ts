// A dry run's report (SPEC §9): what a promotion of this plan would meet after its staging gates,
// read without reserving, pushing or recording anything. The same questions the real steps ask
// (drift reference, descendant check, the target's lock), answered by reading only.
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import { durationText, DryRunReport, GateResult, PromotionPlan } from '../domain';
import { allPassed, stagingFailureMessage } from '../gates/results';
import type { LedgerSink } from '../ledger/sink';
import { lockStateQuery, lockWorkflowId } from '../workflows/messages';
import { activeFreeze, FreezeRule } from './freeze-windows';
import { descendsOnBranch, readBranchTip } from './git';

export interface DryRunInput {
  plan: PromotionPlan;
  workflowId: string;
  gates: GateResult[];
  /** With stagingDeployWait: what staging reported, and whether that runs the commit. */
  staging?: { reported: string | null; runsCommit: boolean };
  /** Workflow time of the report: freezes are judged at it. */
  atMs: number;
}

type Verdicts = Pick<DryRunReport, 'tip' | 'drift' | 'downgrade' | 'lock' | 'freeze'>;

/** Reads the target (branch tip, the ledger's reference, the lock) and words every verdict. */
export async function dryRunReport(
  ledger: LedgerSink,
  cacheDir: string,
  client: Client,
  freezes: readonly FreezeRule[],
  input: DryRunInput,
): Promise<DryRunReport> {
  const { plan } = input;
  const target = { repo: plan.repo, branch: plan.toBranch, environment: plan.environment };
  const [reference, tip, lock] = await Promise.all([
    ledger.driftReference(target),
    readBranchTip(target),
    lockState(client, plan),
  ]);
  const drift: DryRunReport['drift'] = !reference
    ? { found: tip, verdict: 'no reference' }
    : {
        expected: reference.tip,
        found: tip,
        verdict: reference.tip === tip ? 'none' : plan.acceptDrift ? 'accepted' : 'refused',
      };
  const downgrade = await downgradeVerdict(cacheDir, plan, tip);
  const freeze = activeFreeze(freezes, input.atMs);
  return report(input, { tip, drift, downgrade, lock, freeze });
}

async function downgradeVerdict(
  cacheDir: string,
  plan: PromotionPlan,
  tip: string | null,
): Promise<DryRunReport['downgrade']> {
  if (tip === null) return 'new branch';
  if (tip === plan.commitSha) return 'already there';
  // The commit is on fromBranch (admission checked it): a fast-forward when the tip is its ancestor.
  const forward = await descendsOnBranch(cacheDir, {
    repo: plan.repo,
    branch: plan.fromBranch,
    ancestor: tip,
    sha: plan.commitSha,
  });
  return forward ? 'fast-forward' : plan.allowDowngrade ? 'allowed' : 'refused';
}

/** The target lock's holder and line; a lock workflow that is not running holds nothing. */
async function lockState(client: Client, plan: PromotionPlan): Promise<DryRunReport['lock']> {
  try {
    const state = await client.workflow.getHandle(lockWorkflowId(plan.repo, plan.toBranch)).query(lockStateQuery);
    return { holder: state.holder?.workflowId, queue: state.queue.map((q) => q.workflowId) };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError || /closed|completed|not found/i.test((err as Error).message))
      return { queue: [] };
    throw err;
  }
}

/** The report: verdicts in the order a promotion meets them, and the first ending among them. */
export function report(input: DryRunInput, read: Verdicts): DryRunReport {
  const { plan, gates, staging } = input;
  const endings: Array<{ type: string; message: string }> = [];
  const lines: string[] = [];
  if (staging) {
    if (!staging.runsCommit)
      endings.push({ type: 'StagingNotOnCommit', message: `staging reports ${staging.reported ?? '(no value)'}` });
    lines.push(
      staging.runsCommit
        ? `staging runs the commit (reports ${staging.reported})`
        : `staging reports ${staging.reported ?? '(no value)'}, not the commit: a promotion would wait up to ${durationText(plan.stagingDeployWait?.timeoutMs ?? 0)} for it, then end StagingNotOnCommit`,
    );
  }
  if (allPassed(gates)) lines.push(`staging gates pass (${gates.map((g) => g.name).join(', ')})`);
  else {
    const message = stagingFailureMessage(gates, plan.stagingBase);
    endings.push({ type: 'StagingGatesFailed', message });
    lines.push(`staging gates FAIL: ${message}`);
  }
  const a = plan.approval;
  lines.push(
    a.required
      ? `approval required: ${a.minApprovals} of ${a.approvers?.join(', ') ?? 'anyone'} (not the operator ${plan.operator}) within ${durationText(a.timeoutMs)}`
      : 'no approval required',
  );
  const { lock, tip, drift, downgrade, freeze } = read;
  if (freeze) {
    const what = `${plan.environment} is inside a freeze until ${freeze.endsAt}: ${freeze.reason} (${freeze.rule})`;
    if (plan.breakGlass)
      lines.push(
        `${what}; break-glass (${plan.breakGlass.reason}) needs ${plan.breakGlass.minApprovals} break-glass approval(s) from ${plan.breakGlass.approvers.join(', ')}`,
      );
    else if (plan.freeze?.onFreeze === 'refuse') {
      endings.push({ type: 'FreezeWindowActive', message: what });
      lines.push(`${what}; the environment refuses: a promotion would end FreezeWindowActive`);
    } else
      lines.push(
        `${what}; a promotion would wait for its end without the lock (at most ${durationText(plan.approval.timeoutMs)})`,
      );
  } else if (plan.freeze) lines.push(`no freeze in force in ${plan.environment}`);
  lines.push(
    lock.holder
      ? `target ${plan.repo}#${plan.toBranch} held by ${lock.holder}${lock.queue.length ? `, ${lock.queue.length} waiting (${lock.queue.join(', ')})` : ''}: a promotion would queue behind them`
      : `target ${plan.repo}#${plan.toBranch} free${lock.queue.length ? ` (${lock.queue.length} waiting)` : ''}`,
  );
  switch (drift.verdict) {
    case 'no reference':
      lines.push(`no ledger entry for ${plan.toBranch} yet: no drift check (the branch is at ${tip ?? '(missing)'})`);
      break;
    case 'none':
      lines.push(`no drift: ${plan.toBranch} is where the ledger left it (${tip})`);
      break;
    default: {
      const what = `${plan.toBranch} is at ${tip ?? '(missing)'} but the ledger left it at ${drift.expected}`;
      if (drift.verdict === 'accepted') lines.push(`drift: ${what}; accepted (acceptDrift)`);
      else {
        endings.push({ type: 'ReleaseBranchDrifted', message: what });
        lines.push(`drift: ${what}; a promotion would end ReleaseBranchDrifted (acceptDrift not set)`);
      }
    }
  }
  const moves = `${tip ?? '(none)'} -> ${plan.commitSha}`;
  const DOWNGRADE_WORDS: Record<DryRunReport['downgrade'], string> = {
    'fast-forward': `push ${moves}: a fast-forward`,
    'already there': `${plan.toBranch} is already on the commit: nothing to push`,
    'new branch': `${plan.toBranch} does not exist`,
    allowed: `push ${moves}: not a fast-forward; allowed (allowDowngrade)`,
    refused: `push ${moves}: not a fast-forward; a promotion would end DowngradeRefused (allowDowngrade not set)`,
  };
  if (downgrade === 'refused') endings.push({ type: 'DowngradeRefused', message: `${moves} is not a fast-forward` });
  lines.push(DOWNGRADE_WORDS[downgrade]);
  if (plan.soak)
    lines.push(
      `after verification, soak ${durationText(plan.soak.durationMs)} with checks every ${durationText(plan.soak.intervalMs)}`,
    );
  lines.push('dry run: nothing was reserved, pushed or recorded');
  return {
    stage: 'dry_run',
    workflowId: input.workflowId,
    commitSha: plan.commitSha,
    environment: plan.environment,
    operator: plan.operator,
    changeClass: plan.changeClass,
    target: `${plan.repo}#${plan.toBranch}`,
    gates,
    approval: a,
    staging,
    ...read,
    wouldEnd: endings[0],
    verdicts: lines,
  };
}
