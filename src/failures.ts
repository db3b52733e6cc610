// Typed failures: the one way business outcomes leave an activity or a workflow, and the one list
// of their types. Workflow-safe (only @temporalio/common).
import { ApplicationFailure } from '@temporalio/common';

/**
 * Every failure `type` the project raises or records (a failure's type, `status.failure.type`, a
 * ledger note's prefix), one line each on when it happens. Non-retryable unless marked retryable.
 */
export const FAILURE_TYPES = [
  // The request is malformed, names something the worker does not have, or its releaseId is taken.
  'InvalidPromotionRequest',
  // The request is class C, which release-promoter never promotes.
  'ChangeClassForbidden',
  // The commit is not reachable from fromBranch (or does not exist in the repo).
  'CommitNotOnSourceBranch',
  // A staging gate failed (or kept being throttled past its wait bound).
  'StagingGatesFailed',
  // Staging never reported the commit (or, with acceptDescendant, a descendant on fromBranch) within stagingDeployWait.timeout.
  'StagingNotOnCommit',
  // An approver rejected the promotion, or its operator withdrew it.
  'ApprovalRejected',
  // Not enough approvals arrived within approval.timeout.
  'ApprovalTimedOut',
  // The environment is inside a freeze window and refuses, or the wait for its end outlasted the approval timeout.
  'FreezeWindowActive',
  // A newer promotion of the same target (its commit a descendant) superseded this waiting one.
  'Superseded',
  // toBranch is not where the target's drift reference says the ledger left it (acceptDrift not set).
  'ReleaseBranchDrifted',
  // The commit is not a descendant of toBranch's tip (allowDowngrade not set).
  'DowngradeRefused',
  // Someone else moved toBranch while the push's lease was held: nothing was overwritten.
  'ReleaseBranchMoved',
  // Production never reported the promoted commit within deployWait.timeout (then rolled back).
  'DeployNotObserved',
  // A production check failed after the push (then rolled back).
  'ProductionVerificationFailed',
  // The automatic rollback (the compensating child) did not finish; stage rollback_partial.
  'RollbackFailed',
  // The promotion was cancelled (temporal workflow cancel); recorded as its entry's failure.
  'Cancelled',
  // The promotion stopped on an error that carried no type of its own (an activity out of retries, a bug).
  'PromotionFailed',
  // The promotion's workflow closed (terminated, timed out) holding its target's lock before writing
  // its entry; the lock writes that entry, with this type opening its notes.
  'PromotionClosed',
  // An approval decision (the decide update's payload) is malformed; the update is refused, nothing counts.
  'InvalidDecision',
  // The same release id is already in the ledger, or reserved, for another workflow: nothing was appended.
  'ReleaseIdConflict',
  // The rollback request is malformed, or names something the worker does not have.
  'InvalidRollbackRequest',
  // The repo could not be read or written: non-retryable when retrying cannot help (missing repo,
  // transport not allowed, refused credentials), retryable for network or server trouble.
  'RepoUnreachable',
  // Retryable: a ledger file cannot be read, locked or written (the errno is in the message and details).
  'LedgerUnwritable',
  // Retryable: the ledger does not verify (the line is named), so nothing is appended until it is repaired.
  'LedgerDoesNotVerify',
  // Retryable: the git ledger's branch moved under every push of an attempt (other writers kept landing first).
  'LedgerContended',
] as const;
export type FailureType = (typeof FAILURE_TYPES)[number];

/**
 * A non-retryable ApplicationFailure whose `type` a person can read.
 * `message` says what happened and what to do next.
 */
export function failure(type: FailureType, message: string, ...details: unknown[]): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, details });
}

/**
 * A retryable ApplicationFailure with a readable `type`: a condition an operator fixes while the
 * caller waits (a ledger that cannot be written or does not verify), so retrying is the point.
 */
export function retryableFailure(type: FailureType, message: string, ...details: unknown[]): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: false, details });
}

/** The typed failure in an error chain (ActivityFailure and ChildWorkflowFailure wrap ApplicationFailure). */
function typedFailureOf(err: unknown): ApplicationFailure | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (current instanceof ApplicationFailure && current.type) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The failure `type` carried by an error or its cause. */
export function failureTypeOf(err: unknown): string | undefined {
  return typedFailureOf(err)?.type ?? undefined;
}

/** The innermost human message of an error chain. */
export function failureMessageOf(err: unknown): string {
  let current: unknown = err;
  let message = err instanceof Error ? err.message : String(err);
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (current.message) message = current.message;
    current = (current as { cause?: unknown }).cause;
  }
  return message;
}

/** details[0] of the typed failure in an error chain (what an activity attached to its refusal). */
export function failureDetailsOf(err: unknown): unknown {
  return typedFailureOf(err)?.details?.[0];
}

/** Why a promotion refused a drifted branch, and what to do (activity and workflow say the same). */
export function driftMessage(d: {
  branch: string;
  found: string | null;
  environment: string;
  releaseId: string;
  recordedTip: string;
}): string {
  return (
    `${d.branch} is at ${d.found ?? '(missing)'} but the ledger's last entry for ${d.environment} (${d.releaseId}) left it at ${d.recordedTip}. ` +
    `Find out who moved it; to promote anyway, start again with acceptDrift: true (recorded in the ledger)`
  );
}
