// Typed, non-retryable failures: the one way business outcomes leave an activity or a workflow.
// Workflow-safe (only @temporalio/common).
import { ApplicationFailure } from '@temporalio/common';

export const FAILURE_TYPES = [
  'InvalidPromotionRequest',
  'ChangeClassForbidden',
  'CommitNotOnSourceBranch',
  'StagingGatesFailed',
  'ApprovalRejected',
  'ApprovalTimedOut',
  'ReleaseBranchDrifted',
  'DowngradeRefused',
  'ReleaseBranchMoved',
  'DeployNotObserved',
  'ProductionVerificationFailed',
  'ReleaseIdConflict',
  'InvalidRollbackRequest',
  // The repo could not be read or written (git's own refusal, or a transport failure): non-retryable
  // when retrying cannot help (missing repo, protocol not allowed, refused credentials), else retryable.
  'RepoUnreachable',
  // Retryable (see retryableFailure): the ledger cannot be read or written, or does not verify.
  'LedgerUnwritable',
  'LedgerDoesNotVerify',
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
export function driftMessage(d: { branch: string; found: string | null; environment: string; releaseId: string; recordedTip: string }): string {
  return (
    `${d.branch} is at ${d.found ?? '(missing)'} but the ledger's last entry for ${d.environment} (${d.releaseId}) left it at ${d.recordedTip}. ` +
    `Find out who moved it; to promote anyway, start again with acceptDrift: true (recorded in the ledger)`
  );
}
