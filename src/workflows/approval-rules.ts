// The rules that decide whether an approval decision counts (SPEC §3 "Approval"), apart from the
// handlers that receive decisions, so they can be tested one by one. Workflow-safe: pure.
import type { ApprovalDecision, PromotionPlan, PromotionStatus } from '../domain';

type Approval = PromotionStatus['approval'];

/**
 * Why `d` does not count, or undefined when it does. `plan` is undefined when the request was
 * refused before approval. A decision counts only while the approval is pending, on this commit,
 * from an approver (not the operator, who may only withdraw), once per approver.
 */
export function whyDecisionIgnored(
  approval: Approval,
  plan: Pick<PromotionPlan, 'commitSha' | 'operator'> | undefined,
  d: ApprovalDecision,
): string | undefined {
  if (!plan) return 'the promotion request was refused before approval';
  if (!approval.required) return 'this promotion does not need approval';
  if (approval.state !== 'pending') return `approval is already ${approval.state}`;
  if (d.commitSha && !plan.commitSha.startsWith(d.commitSha.toLowerCase()))
    return `commitSha ${d.commitSha} is not this promotion's commit ${plan.commitSha}`;
  const byOperator = d.approver === plan.operator;
  if (byOperator && d.decision === 'approve') return `${d.approver} started this promotion and cannot approve it`;
  // The operator may always withdraw their own promotion; anyone else must be an approver.
  if (!byOperator && approval.approvers && !approval.approvers.includes(d.approver))
    return `${d.approver} is not an approver here (approvers: ${approval.approvers.join(', ')})`;
  if (approval.decisions.some((x) => x.approver === d.approver)) return `${d.approver} already decided`;
  return undefined;
}

/** Counts `d` (one that whyDecisionIgnored let through): one reject ends it, minApprovals distinct approvers approve it. */
export function countDecision(approval: Approval, d: ApprovalDecision): void {
  approval.decisions.push(d);
  if (d.decision === 'reject') approval.state = 'rejected';
  else if (
    new Set(approval.decisions.filter((x) => x.decision === 'approve').map((x) => x.approver)).size >=
    approval.minApprovals
  )
    approval.state = 'approved';
}
