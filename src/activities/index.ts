// createActivities(config): every activity the workflows call, bound to the worker's config.
import { Context } from '@temporalio/activity';
import { Client, WorkflowNotFoundError } from '@temporalio/client';
import type { Config } from '../config';
import type { GateResult, PromotionPlan, PromotionRequest, RollbackPlan, RollbackRequest } from '../domain';
import { failure } from '../failures';
import { productionGateNames, stagingGateNames } from '../gates/catalog';
import { newProbeAgent, readDeployedVersion, runGates } from './gates';
import { moveBranch, MoveBranchArgs, MoveBranchResult, readBranchTip, resolveCommit } from './git';
import { AppendResult, appendLedgerEntry, LedgerRecord, lastRecordedTip, reserveReleaseId, ReserveArgs } from './ledger';

/** `client` lets activities reach other workflows (the target lock) through the Temporal client. */
export function createActivities(config: Config, client: Client) {
  // One connection pool per worker: probes reuse connections instead of paying a handshake each.
  const dispatcher = newProbeAgent();

  return withHeartbeats({
    /**
     * Resolves every setting of the request and the commit itself.
     * Throws InvalidPromotionRequest (missing or unknown setting), CommitNotOnSourceBranch.
     */
    async planPromotion(request: PromotionRequest): Promise<PromotionPlan> {
      const required = (field: 'repo' | 'stagingBase' | 'productionBase'): string => {
        const value = request[field];
        if (value === undefined) {
          throw failure('InvalidPromotionRequest', `${field}: is required (the worker has no environment registry to take it from); add "${field}" to the request`);
        }
        return value;
      };
      const repo = required('repo');
      const stagingBase = required('stagingBase');
      const productionBase = required('productionBase');
      const fromBranch = request.fromBranch ?? 'main';
      const toBranch = request.toBranch ?? 'release';
      if (fromBranch === toBranch) throw failure('InvalidPromotionRequest', `toBranch: must differ from fromBranch ("${fromBranch}")`);
      for (const name of request.optionalGates) {
        const gate = config.gates.gates[name];
        if (!gate) {
          throw failure('InvalidPromotionRequest', `optionalGates: "${name}" is not in the worker's gate catalog; known optional gates: ${Object.keys(config.gates.gates).filter((g) => config.gates.gates[g]?.staging === 'optional').join(', ')}`);
        }
        if (gate.staging !== 'optional') throw failure('InvalidPromotionRequest', `optionalGates: "${name}" always runs in staging; remove it from optionalGates`);
        if (gate.kind === 'command' && !gate.command) {
          throw failure('InvalidPromotionRequest', `optionalGates: "${name}" has no command on this worker; set gates.${name}.command in the worker's GATES_CONFIG`);
        }
      }
      if (request.changeClass === 'C') throw failure('ChangeClassForbidden', 'changeClass C may not be promoted by release-promoter');
      const commitSha = await resolveCommit(config.gitCacheDir, { repo, fromBranch, commitSha: request.commitSha });
      return {
        commitSha,
        changeClass: request.changeClass,
        operator: request.operator,
        environment: request.environment,
        repo,
        fromBranch,
        toBranch,
        stagingBase,
        productionBase,
        deployWait: request.deployWait ? { path: request.deployWait.path, field: request.deployWait.field, timeoutMs: request.deployWait.timeout } : undefined,
        stagingGates: stagingGateNames(config.gates, request.optionalGates),
        expectBudgetBlock: request.expectBudgetBlock,
        approval: {
          required: request.approval.required || request.changeClass === 'B',
          approvers: request.approval.approvers,
          minApprovals: request.approval.minApprovals,
          timeoutMs: request.approval.timeout,
        },
        acceptDrift: request.acceptDrift,
        allowDowngrade: request.allowDowngrade,
        releaseId: request.releaseId,
        notes: request.notes,
        rollbackPlan: request.rollbackPlan,
        evidenceRefs: request.evidenceRefs,
      };
    },

    async reserveReleaseId(args: Omit<ReserveArgs, 'ledgerPath'>): Promise<string> {
      return reserveReleaseId({ ...args, ledgerPath: config.ledgerPath });
    },

    async runStagingGates(plan: PromotionPlan): Promise<GateResult[]> {
      return runGates(plan.stagingGates, { base: plan.stagingBase, mode: 'staging', expectBudgetBlock: plan.expectBudgetBlock, catalog: config.gates, dispatcher });
    },

    /** The production smoke checks (after a promotion's push, and after a rollback). */
    async verifyProduction(target: { productionBase: string }): Promise<GateResult[]> {
      return runGates(productionGateNames(config.gates), { base: target.productionBase, mode: 'production', expectBudgetBlock: false, catalog: config.gates, dispatcher });
    },

    async readDeployedVersion(args: { base: string; path: string; field: string }): Promise<string | null> {
      return readDeployedVersion(args, { dispatcher, catalog: config.gates });
    },

    /** Resolves a rollback's settings. Throws InvalidRollbackRequest naming the missing field. */
    async planRollback(request: RollbackRequest): Promise<RollbackPlan> {
      const required = (field: 'repo' | 'productionBase'): string => {
        const value = request[field];
        if (value === undefined) {
          throw failure('InvalidRollbackRequest', `${field}: is required (the worker has no environment registry to take it from); add "${field}" to the rollback request`);
        }
        return value;
      };
      return {
        environment: request.environment,
        repo: required('repo'),
        toBranch: request.toBranch ?? 'release',
        fromSha: request.fromSha,
        toSha: request.toSha,
        productionBase: required('productionBase'),
        trigger: request.trigger,
        operator: request.operator,
        promotionReleaseId: request.promotionReleaseId,
        releaseId: request.releaseId,
      };
    },

    async readBranchTip(args: { repo: string; branch: string }): Promise<string | null> {
      return readBranchTip(args);
    },

    /** The ledger's view of where the branch should be (drift check). */
    async readRecordedTip(args: { environment: string; toBranch: string }): Promise<{ releaseId: string; tip: string } | null> {
      return lastRecordedTip(config.ledgerPath, args.environment, args.toBranch);
    },

    async moveReleaseBranch(args: MoveBranchArgs): Promise<MoveBranchResult> {
      return moveBranch(config.gitCacheDir, args);
    },

    /**
     * Joins the target's lock queue: signal-with-start of its lock workflow. Safe to repeat (the
     * lock ignores a second request from the same workflow). The grant arrives as a signal.
     */
    async requestTargetLock(args: { lockWorkflowId: string; target: string; workflowId: string; priority: 'rollback' | 'promotion' }): Promise<void> {
      await client.workflow.signalWithStart('targetLockWorkflow', {
        workflowId: args.lockWorkflowId,
        taskQueue: config.taskQueue,
        args: [{ target: args.target, checkIntervalMs: config.lockCheckIntervalMs }],
        signal: 'acquireLock',
        signalArgs: [{ workflowId: args.workflowId, priority: args.priority }],
      });
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

    async appendLedgerEntry(record: LedgerRecord, target: { repo: string; branch: string }): Promise<AppendResult> {
      return appendLedgerEntry(config.ledgerPath, record, () => readBranchTip(target));
    },
  });
}

export type Activities = ReturnType<typeof createActivities>;

const HEARTBEAT_EVERY_MS = 2_000;

/**
 * Every activity heartbeats while it runs, so with the workflows' heartbeatTimeout a worker
 * killed mid-activity is noticed in seconds and the activity retried elsewhere, instead of
 * after its whole start-to-close budget. (Retries are safe: each activity is idempotent.)
 */
function withHeartbeats<T extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: never[]) => {
      let context: Context | undefined;
      try {
        context = Context.current();
      } catch {
        context = undefined; // called directly (tests, CLI), not as an activity
      }
      const timer = context ? setInterval(() => context?.heartbeat(), HEARTBEAT_EVERY_MS) : undefined;
      try {
        return await fn(...args);
      } finally {
        if (timer) clearInterval(timer);
      }
    };
  }
  return wrapped as T;
}
