// The approval desk: approve/reject signals and the decide update; whether a decision counts is
// decided by approval-rules.ts (SPEC §3 "Approval"). Every well-formed decision is kept: counted
// ones in approval.decisions, the rest in approval.ignored with the reason.
import { setHandler } from '@temporalio/workflow';
import {
  ApprovalDecision,
  ApproveDecision,
  DecideInput,
  DecideResult,
  describeIssues,
  PromotionPlan,
  PromotionStatus,
  RejectDecision,
} from '../domain';
import { failure } from '../failures';
import { countDecision, whyDecisionIgnored } from './approval-rules';
import { workflowNow } from './clock';
import { refreshDetails } from './current-details';
import { approveSignal, decideUpdate, HANDLER_DESCRIPTIONS, rejectSignal } from './messages';

export interface ApprovalDesk {
  /** The plan is known: decisions held since the start are evaluated now, in arrival order. */
  open(plan: PromotionPlan): void;
  /** The request was refused: held decisions are answered (not counted). */
  close(): void;
}

/**
 * Anyone who may signal can send decisions without end: the status keeps only the latest
 * ignored ones (and how many there were), so neither it nor the workflow's result outgrows a
 * query or a payload.
 */
export const IGNORED_KEPT = 20;
/** Decisions that arrive before the gates finish wait for the plan; beyond this many they are ignored at once. */
const HELD_MAX = 100;
const WHY_CHARS = 300;

function keepIgnored(
  approval: PromotionStatus['approval'],
  entry: PromotionStatus['approval']['ignored'][number],
): void {
  approval.ignored.push({ ...entry, why: entry.why.slice(0, WHY_CHARS) });
  approval.ignoredCount = (approval.ignoredCount ?? 0) + 1;
  if (approval.ignored.length > IGNORED_KEPT) approval.ignored.splice(0, approval.ignored.length - IGNORED_KEPT);
}

/** Registers the handlers (call before the first await). */
export function registerApprovalDesk(status: PromotionStatus): ApprovalDesk {
  let plan: PromotionPlan | undefined;
  let refused = false;
  const held: Array<{ decision: ApprovalDecision; answer: (result: DecideResult) => void }> = [];

  const evaluate = (d: ApprovalDecision): DecideResult => {
    // A break-glass approval counts only toward the break-glass, judged by its own approvers.
    const approval = d.breakGlass ? (status.breakGlass ?? status.approval) : status.approval;
    const why =
      d.breakGlass && !status.breakGlass && plan
        ? 'this promotion does not ask to break glass (no breakGlass in its request)'
        : whyDecisionIgnored(approval, plan, d);
    if (why !== undefined) {
      keepIgnored(approval, { ...d, why });
      return { counted: false, why, approval };
    }
    countDecision(approval, d);
    // Only counted decisions change the details (a bounded few): a flood of ignored ones re-renders nothing.
    refreshDetails(status);
    return { counted: true, approval };
  };

  const receive = (decision: ApprovalDecision): Promise<DecideResult> => {
    if (plan || refused) return Promise.resolve(evaluate(decision));
    if (held.length >= HELD_MAX) {
      const why = `more than ${HELD_MAX} decisions arrived before the staging gates finished; decide again once the promotion awaits approval`;
      keepIgnored(status.approval, { ...decision, why });
      return Promise.resolve({ counted: false, why, approval: status.approval });
    }
    return new Promise((answer) => held.push({ decision, answer }));
  };
  const malformed = (kind: 'approve' | 'reject', raw: unknown, why: string): void => {
    const r = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
    const approver = typeof r.approver === 'string' ? r.approver.slice(0, 64) : '(unknown)';
    keepIgnored(status.approval, {
      decision: kind,
      approver,
      at: workflowNow(),
      why: `malformed ${kind} signal: ${why}`,
    });
  };

  setHandler(
    approveSignal,
    (raw) => {
      const parsed = ApproveDecision.safeParse(raw);
      if (!parsed.success) return malformed('approve', raw, describeIssues(parsed.error));
      void receive({ decision: 'approve', ...parsed.data, at: workflowNow() });
    },
    { description: HANDLER_DESCRIPTIONS.approve },
  );
  setHandler(
    rejectSignal,
    (raw) => {
      const parsed = RejectDecision.safeParse(raw);
      if (!parsed.success) return malformed('reject', raw, describeIssues(parsed.error));
      void receive({ decision: 'reject', ...parsed.data, at: workflowNow() });
    },
    { description: HANDLER_DESCRIPTIONS.reject },
  );
  setHandler(
    decideUpdate,
    (raw) => {
      const d = DecideInput.parse(raw);
      return receive({ ...d, at: workflowNow() });
    },
    {
      description: HANDLER_DESCRIPTIONS.decide,
      // Rejects only malformed payloads (nothing reaches history); every well-formed decision is recorded.
      validator: (raw) => {
        const parsed = DecideInput.safeParse(raw);
        // Non-retryable: the same payload can never become valid.
        if (!parsed.success)
          throw failure('InvalidDecision', `invalid decision: ${describeIssues(parsed.error).slice(0, WHY_CHARS)}`);
      },
    },
  );

  const drain = () => {
    for (const { decision, answer } of held.splice(0)) answer(evaluate(decision));
  };
  return {
    open(p) {
      plan = p;
      drain();
    },
    close() {
      refused = true;
      drain();
    },
  };
}
