// Parsing the promotion request inside the workflow, before anything runs.
import { describeIssues, PromotionRequest } from '../domain';
import { failure } from '../failures';
import { redact } from '../redact';

/**
 * The validated request, its free text redacted: the start input stays the caller's, but no
 * activity input, result, status or ledger entry holds a secret pasted into notes. Throws
 * ChangeClassForbidden for class C (checked first: it is a policy, not a typo),
 * InvalidPromotionRequest naming every bad field otherwise.
 */
export function parsePromotionRequest(input: unknown): PromotionRequest {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw failure(
      'InvalidPromotionRequest',
      'the promotion request must be one JSON object, e.g. {"commitSha":"3f9c1a2","changeClass":"A","operator":"alice",…}',
    );
  }
  if ((input as { changeClass?: unknown }).changeClass === 'C') {
    throw failure(
      'ChangeClassForbidden',
      'changeClass: class C changes may not be promoted; reclassify the change (A or B) through review, then start a new promotion',
    );
  }
  const parsed = PromotionRequest.safeParse(input);
  if (!parsed.success) {
    throw failure(
      'InvalidPromotionRequest',
      `invalid promotion request: ${describeIssues(parsed.error)}. Fix the field and start a new promotion; nothing was changed`,
    );
  }
  const { notes, rollbackPlan, evidenceRefs } = parsed.data;
  return {
    ...parsed.data,
    ...(notes === undefined ? {} : { notes: redact(notes) }),
    ...(rollbackPlan === undefined ? {} : { rollbackPlan: redact(rollbackPlan) }),
    ...(evidenceRefs === undefined ? {} : { evidenceRefs: redact(evidenceRefs) }),
  };
}
