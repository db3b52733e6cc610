// Step 6 of a promotion (SPEC §3), run under the target's lock: the drift check, the downgrade
// check and the push. The drift check and the push are one compare-and-swap: the push's lease is
// the tip the ledger's last entry left, so a branch that drifted fails the lease instead of
// needing a read first. The remote is read only with no entry to compare against, after a
// failed lease, or when drift is accepted; a tip read is pushed from in a second call (pushFrom).
import { driftMessage, failure, failureTypeOf } from '../failures';
import { moveBranch, readBranchTip } from './git';
import type { LedgerSink } from '../ledger/sink';

export interface PromoteArgs {
  repo: string;
  branch: string;
  environment: string;
  targetSha: string;
  sourceBranch: string;
  allowDowngrade: boolean;
  acceptDrift: boolean;
  /** The tip an earlier call read and returned as `pushFrom`: push from it, with it as the lease. */
  lease?: { tip: string | null };
}

export interface Drift {
  expected: string;
  found: string | null;
  accepted: boolean;
}

export interface PromoteResult {
  /**
   * The previous tip (SPEC §3 step 6): the tip the push's lease replaced, what an automatic
   * rollback restores. Decided here only; not section 6's last known good (see lastKnownGood in
   * ledger/target-references.ts), whatever the field's older name says.
   */
  lastKnownGood: string | null;
  /** false when the branch was already on the commit (a retry after a push that landed). */
  pushed: boolean;
  downgrade: boolean;
  drift?: Drift;
  /**
   * Set when this call read the branch's tip (nothing recorded to lease from, or drift accepted)
   * and pushed nothing: the caller pushes in a call of its own with `lease: pushFrom`. Read and
   * push in one activity, a retry after the push landed would read the pushed commit and take it
   * for the tip it replaced, and a rollback would restore the bad commit.
   */
  pushFrom?: { tip: string | null };
}

/** What a refusal (ReleaseBranchDrifted, DowngradeRefused, ReleaseBranchMoved) carries as details[0]. */
export interface RefusalDetails {
  /** The branch's tip as found: the previous tip, had the push gone ahead. */
  lastKnownGood: string | null;
  drift?: Drift;
}

/**
 * Step 6 under the target's lock. The previous tip is the lease that held: the drift reference
 * (driftReference, read from a ledger that verifies) when the branch is still there, else the tip
 * found (no reference, or accepted drift).
 */
export async function promoteCommit(
  ledger: LedgerSink,
  gitCacheDir: string,
  args: PromoteArgs,
): Promise<PromoteResult> {
  // The reference is the target's (repo + branch), not the environment's: two repos under one
  // environment name never see each other's tips. A ledger that does not verify gives none
  // (LedgerDoesNotVerify, retryable) rather than a wrong one.
  const recorded = await ledger.driftReference({ repo: args.repo, branch: args.branch, environment: args.environment });
  const push = (tip: string | null) =>
    moveBranch(gitCacheDir, {
      repo: args.repo,
      branch: args.branch,
      expectedTip: tip,
      targetSha: args.targetSha,
      sourceBranch: args.sourceBranch,
      allowDowngrade: args.allowDowngrade,
    });

  if (args.lease) return { lastKnownGood: args.lease.tip, ...(await pushFrom(push, args.lease.tip)) };
  if (recorded) {
    try {
      const moved = await push(recorded.tip);
      return { lastKnownGood: recorded.tip, ...moved };
    } catch (err) {
      const type = refusalType(err);
      if (!type) throw err;
      // The lease failed, or the downgrade check ran against the recorded tip: find out where
      // the branch really is. Drift is reported before a downgrade, as the steps are ordered.
      const found = await readBranchTip({ repo: args.repo, branch: args.branch });
      if (found === recorded.tip)
        throw failure(type, (err as Error).message, { lastKnownGood: found } satisfies RefusalDetails);
      const drift: Drift = { expected: recorded.tip, found, accepted: args.acceptDrift };
      if (!args.acceptDrift) {
        throw failure(
          'ReleaseBranchDrifted',
          driftMessage({
            branch: args.branch,
            found,
            environment: args.environment,
            releaseId: recorded.releaseId,
            recordedTip: recorded.tip,
          }),
          { lastKnownGood: found, drift } satisfies RefusalDetails,
        );
      }
      return { lastKnownGood: found, drift, pushed: false, downgrade: false, pushFrom: { tip: found } };
    }
  }
  const tip = await readBranchTip({ repo: args.repo, branch: args.branch });
  return { lastKnownGood: tip, pushed: false, downgrade: false, pushFrom: { tip } };
}

/** The refusals moveBranch throws that the workflow records (with the tip as last known good). */
function refusalType(err: unknown): 'ReleaseBranchMoved' | 'DowngradeRefused' | undefined {
  const type = failureTypeOf(err);
  return type === 'ReleaseBranchMoved' || type === 'DowngradeRefused' ? type : undefined;
}

/** Pushes with `tip` as the lease; a refusal carries that tip as the last known good. */
async function pushFrom<T>(push: (tip: string | null) => Promise<T>, tip: string | null): Promise<T> {
  try {
    return await push(tip);
  } catch (err) {
    const type = refusalType(err);
    throw type ? failure(type, (err as Error).message, { lastKnownGood: tip } satisfies RefusalDetails) : err;
  }
}
