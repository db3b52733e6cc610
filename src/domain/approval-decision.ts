// Approval decisions (SPEC §3 "Approval"): payloads of the approve/reject signals and the decide
// update, and a decision as the status keeps it. Workflow-safe: zod only.
import { z } from 'zod';
import { FreeText, HEX_7_40, Identity } from './fields';

export interface ApprovalDecision {
  decision: 'approve' | 'reject';
  approver: string;
  at: string;
  comment?: string;
  reason?: string;
  commitSha?: string;
  /** A break-glass approval: counts only toward breaking a freeze, never as an ordinary approval. */
  breakGlass?: boolean;
}

const OptionalSha = z.string().regex(HEX_7_40, 'must be 7–40 hexadecimal characters of the commit sha').optional();
const BreakGlassFlag = z.boolean().optional();
export const ApproveDecision = z.strictObject({
  approver: Identity,
  comment: FreeText.optional(),
  commitSha: OptionalSha,
  breakGlass: BreakGlassFlag,
});
export type ApproveDecision = z.infer<typeof ApproveDecision>;
export const RejectDecision = z.strictObject({
  approver: Identity,
  reason: z.string().min(1, 'must say why').max(500, 'must be at most 500 characters'),
  commitSha: OptionalSha,
});
export type RejectDecision = z.infer<typeof RejectDecision>;
export const DecideInput = z
  .strictObject({
    decision: z.enum(['approve', 'reject'], 'must be "approve" or "reject"'),
    approver: Identity,
    comment: FreeText.optional(),
    reason: z.string().min(1).max(500, 'must be at most 500 characters').optional(),
    commitSha: OptionalSha,
    breakGlass: BreakGlassFlag,
  })
  .refine((d) => d.decision !== 'reject' || d.reason !== undefined, {
    path: ['reason'],
    message: 'is required to reject',
  })
  .refine((d) => d.decision !== 'reject' || !d.breakGlass, {
    path: ['breakGlass'],
    message: 'is only for approvals (a break-glass is not rejected; reject the promotion itself)',
  });
export type DecideInput = z.infer<typeof DecideInput>;
