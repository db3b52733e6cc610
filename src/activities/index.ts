// createActivities(config): every activity the workflows call, bound to the worker's config.
import { Context } from '@temporalio/activity';
import { ApplicationFailure, Client, WorkflowNotFoundError } from '@temporalio/client';
import type { Config } from '../config';
import type {
  DryRunReport,
  GateResult,
  PromotionPlan,
  PromotionRequest,
  RollbackPlan,
  RollbackRequest,
} from '../domain';
import { productionGateNames } from '../gates/catalog';
import { DryRunInput, dryRunReport } from './dry-run';
import { ActiveFreeze, activeFreeze } from './freeze-windows';
import { newProbeAgent, readDeployedVersion, runGates, stagingCooldownMs } from './gates';
import { descendsOnBranch, moveBranch, MoveBranchArgs, MoveBranchResult, readBranchTip } from './git';
import { useCredentialsOnlyFor } from './git-process';
import { planPromotion, planRollback, probeHeaders } from './plan';
import { AppendResult, LedgerRecord, PromotionRecord, TIP_UNREADABLE } from '../ledger/entry';
import type { ReservationRequest } from '../ledger/ledger-change';
import { LedgerSink, openLedger } from '../ledger/sink';
import type { ClosingEntry, WaitingPromotion } from '../workflows/messages';
import { PromoteArgs, promoteCommit, PromoteResult } from './promote';
import type { LedgerFiles } from '../ledger/files';
import { countGates, countLedgerAppendFailure, countLedgerEntry, countPush, countRefusal } from '../metrics';
import { lockStartMetadata } from '../workflows/summaries';
import { CrashPoint, crashPointTrap } from './crash-points';

/**
 * `client` lets activities reach other workflows (the target lock) through the Temporal client.
 * `options.ledgerFiles` replaces the file ledger's file layer (tests inject failing writes with it).
 */
export function createActivities(config: Config, client: Client, options: { ledgerFiles?: LedgerFiles } = {}) {
  // The one ledger every activity writes and reads, whichever sink holds it (SPEC §6).
  const ledger: LedgerSink = openLedger(config.ledger, config.gitCacheDir, options.ledgerFiles);
  // The worker's git credentials go only to the platform owner's remotes (registered repos, the
  // ledger's); a request's own repo is reached without them (git-process.ts). Process-wide: one
  // worker process has one configuration.
  useCredentialsOnlyFor([
    ...Object.values(config.environments ?? {}).map((registered) => registered.repo),
    ...(config.ledger.kind === 'git' ? [config.ledger.remote] : []),
  ]);
  // One connection pool per worker: probes reuse connections instead of paying a handshake each.
  const dispatcher = newProbeAgent();

  return asActivities(config.crashAt, {
    /**
     * Steps 1–2 in one round trip: resolves every setting and the commit, then reserves the
     * release id (only for a valid request). Throws ChangeClassForbidden, InvalidPromotionRequest,
     * CommitNotOnSourceBranch. A retry gets the same id back (reservations are keyed by workflow).
     */
    async admitPromotion(
      request: PromotionRequest,
      reservation: Omit<ReservationRequest, 'requested' | 'kind'>,
    ): Promise<{ plan: PromotionPlan; releaseId?: string }> {
      const plan = await planPromotion(config, request);
      // A dry run reserves nothing: the reservation file stays as it was, byte for byte.
      if (plan.dryRun) return { plan };
      const releaseId = await ledger.reserve({ ...reservation, kind: 'rc', requested: plan.releaseId });
      return { plan, releaseId };
    },

    /** The freeze window in force for the environment at `atMs` (workflow time), if any (SPEC §9). */
    async checkFreeze(args: { environment: string; atMs: number }): Promise<ActiveFreeze | null> {
      return activeFreeze(config.environments?.[args.environment]?.freezes ?? [], args.atMs) ?? null;
    },

    /** A dry run's report after its staging gates: reads the target, reserves and writes nothing. */
    async reportDryRun(input: DryRunInput): Promise<DryRunReport> {
      return dryRunReport(
        ledger,
        config.gitCacheDir,
        client,
        config.environments?.[input.plan.environment]?.freezes ?? [],
        input,
      );
    },

    async reserveReleaseId(args: ReservationRequest): Promise<string> {
      return ledger.reserve(args);
    },

    /** The staging gates, and how long the next run on this staging service must wait for the window they spent. */
    async runStagingGates(plan: PromotionPlan): Promise<{ gates: GateResult[]; cooldownMs: number }> {
      const headers = probeHeaders(config, plan.environment, plan.stagingBase);
      const gates = await runGates(plan.stagingGates, {
        base: plan.stagingBase,
        mode: 'staging',
        expectBudgetBlock: plan.expectBudgetBlock,
        catalog: config.gates,
        dispatcher,
        headers,
      });
      countGates(gates, 'staging');
      return { gates, cooldownMs: stagingCooldownMs(gates, config.gates.defaults) };
    },

    /** The production smoke checks (after a promotion's push, and after a rollback). */
    async verifyProduction(target: { productionBase: string; environment: string }): Promise<GateResult[]> {
      const headers = probeHeaders(config, target.environment, target.productionBase);
      const results = await runGates(productionGateNames(config.gates), {
        base: target.productionBase,
        mode: 'production',
        expectBudgetBlock: false,
        catalog: config.gates,
        dispatcher,
        headers,
      });
      countGates(results, 'production');
      return results;
    },

    async readDeployedVersion(args: {
      base: string;
      path: string;
      field: string;
      environment: string;
    }): Promise<string | null> {
      return readDeployedVersion(args, {
        dispatcher,
        catalog: config.gates,
        headers: probeHeaders(config, args.environment, args.base),
      });
    },

    /** Resolves a rollback's settings. Throws InvalidRollbackRequest naming the field (see plan.ts for `compensating`). */
    async planRollback(request: RollbackRequest, options: { compensating?: boolean } = {}): Promise<RollbackPlan> {
      return planRollback(config, request, options.compensating ?? false);
    },

    /** Drift check, downgrade check and push (SPEC §3 step 6). Throws ReleaseBranchDrifted, DowngradeRefused, ReleaseBranchMoved. */
    async promoteCommit(args: PromoteArgs): Promise<PromoteResult> {
      const result = await promoteCommit(ledger, config.gitCacheDir, args);
      countPush(result.pushed);
      return result;
    },

    /** Whether `sha` is on `branch` and descends from `ancestor` (see git.ts). */
    async descendsOnBranch(args: { repo: string; branch: string; ancestor: string; sha: string }): Promise<boolean> {
      return descendsOnBranch(config.gitCacheDir, args);
    },

    /** Moves the branch from an explicit tip (a rollback's lease is the commit it undoes). */
    async moveReleaseBranch(args: MoveBranchArgs): Promise<MoveBranchResult> {
      const result = await moveBranch(config.gitCacheDir, args);
      countPush(result.pushed);
      return result;
    },

    /**
     * Joins the target's lock queue: signal-with-start of its lock workflow. Safe to repeat (the
     * lock ignores a second request from the same workflow). The grant arrives as a signal.
     */
    async requestTargetLock(args: {
      lockWorkflowId: string;
      target: string;
      workflowId: string;
      priority: 'rollback' | 'promotion';
      closing?: ClosingEntry;
      releaseId?: string;
      operator?: string;
    }): Promise<void> {
      await client.workflow.signalWithStart('targetLockWorkflow', {
        workflowId: args.lockWorkflowId,
        taskQueue: config.taskQueue,
        args: [{ target: args.target, checkIntervalMs: config.lockCheckIntervalMs }],
        signal: 'acquireLock',
        signalArgs: [
          {
            workflowId: args.workflowId,
            priority: args.priority,
            closing: args.closing,
            releaseId: args.releaseId,
            operator: args.operator,
          },
        ],
        // Only when this call starts the lock workflow: "[lock] …", so the UI can filter them out.
        ...lockStartMetadata(args.target),
      });
    },

    /**
     * Tells the target's lock that a promotion of a supersede environment waits to push
     * (signal-with-start; the lock ignores a repeat). The lock may then supersede older waiters.
     */
    async announceWaitingPromotion(args: {
      lockWorkflowId: string;
      target: string;
      waiting: WaitingPromotion;
    }): Promise<void> {
      await client.workflow.signalWithStart('targetLockWorkflow', {
        workflowId: args.lockWorkflowId,
        taskQueue: config.taskQueue,
        args: [{ target: args.target, checkIntervalMs: config.lockCheckIntervalMs }],
        signal: 'waitingPromotion',
        signalArgs: [args.waiting],
        ...lockStartMetadata(args.target),
      });
    },

    /**
     * The entry of a promotion whose workflow closed (terminated, timed out) while it held its
     * target's lock without writing one: a `fail` with the tip found, which stays the drift
     * reference. A no-op when the promotion's own entry exists (same release id + workflow id).
     */
    async recordClosedPromotion(closing: ClosingEntry): Promise<AppendResult> {
      const { record, repo, branch } = closing;
      const tip = await readBranchTip({ repo, branch });
      const pushed = tip === record.commitSha;
      const found = `${branch} was found at ${tip ?? '(missing)'}`;
      const entry: PromotionRecord = {
        ...record,
        result: 'fail',
        notes: `PromotionClosed: the promotion's workflow closed (terminated or timed out) while it held ${repo}#${branch}, before writing its entry; ${found}${pushed ? ', its commit: it had pushed, and was neither verified nor rolled back. Check production, then promote again or roll back by hand' : '. Nothing of it was pushed'}`,
        rollbackPlan: pushed ? 'not rolled back: roll back by hand if production is unhealthy' : 'nothing was promoted',
        extras: [...record.extras, ['closed_while_holding', `${found}${pushed ? ' (pushed)' : ''}`]],
      };
      const result = await ledger.append(entry, async () => tip);
      countLedgerEntry(entry, result.appended);
      return result;
    },

    /** Whether a workflow (a lock holder) still runs; a closed or unknown one does not. */
    async isWorkflowRunning(args: { workflowId: string }): Promise<boolean> {
      try {
        const description = await client.workflow.getHandle(args.workflowId).describe();
        return description.status.name === 'RUNNING';
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return false;
        throw err;
      }
    },

    /**
     * `target.tip` is the branch tip when the caller knows it, holding the lock and having just
     * moved the branch there; without it the remote is read.
     */
    async appendLedgerEntry(
      record: LedgerRecord,
      target: { repo: string; branch: string; tip?: string },
    ): Promise<AppendResult> {
      const { tip } = target;
      const result = await ledger.append(record, tip ? async () => tip : () => tipForEntry(target));
      countLedgerEntry(record, result.appended);
      return result;
    },
  });
}

export type Activities = ReturnType<typeof createActivities>;

/** Attempts of an entry's append that may wait for the remote before the entry goes without its tip. */
const TIP_ATTEMPTS = 3;

/**
 * The tip an entry records when its writer does not know it: read from the remote. A remote that
 * cannot be read for good (transport refused), or not within a few attempts (gone, unreachable),
 * must not cost the entry, which is never given up (SPEC §3 Endings): the entry then says the tip
 * is unknown, and is no drift reference.
 */
async function tipForEntry(target: { repo: string; branch: string }): Promise<string | null> {
  try {
    return await readBranchTip(target);
  } catch (err) {
    if (!(err instanceof ApplicationFailure)) throw err;
    if (err.nonRetryable || (err.type === 'RepoUnreachable' && activityAttempt() >= TIP_ATTEMPTS))
      return TIP_UNREADABLE;
    throw err;
  }
}

function activityAttempt(): number {
  // Called directly, not as an activity: no retry will come.
  return currentActivity()?.info.attempt ?? TIP_ATTEMPTS;
}

/** The running activity's context; undefined when called directly (tests, CLI), not as an activity. */
function currentActivity(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

const HEARTBEAT_EVERY_MS = 2_000;

/**
 * Every activity heartbeats while it runs, so with the workflows' heartbeatTimeout a worker
 * killed mid-activity is noticed in seconds and the activity retried elsewhere, instead of
 * after its whole start-to-close budget. (Retries are safe: each activity is idempotent.)
 * Its refusals (non-retryable failures) are counted for the worker's metrics.
 */
function asActivities<T extends Record<string, (...args: never[]) => Promise<unknown>>>(
  crashAt: CrashPoint | undefined,
  activities: T,
): T {
  const trap = crashPointTrap(crashAt);
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: never[]) => {
      const context = currentActivity();
      const timer = context ? setInterval(() => context?.heartbeat(), HEARTBEAT_EVERY_MS) : undefined;
      const crash = trap(context?.info.workflowType ?? '', name);
      try {
        crash.before();
        const result = await fn(...args);
        crash.after();
        return result;
      } catch (err) {
        countRefusal(name, err);
        if (name === 'appendLedgerEntry') {
          countLedgerAppendFailure(err);
          context?.log.warn(
            'ledger append failed; the workflow retries it (without limit for the last entry, in stage recording)',
            { error: (err as Error)?.message, attempt: context.info.attempt },
          );
        }
        throw err;
      } finally {
        if (timer) clearInterval(timer);
      }
    };
  }
  return wrapped as T;
}
