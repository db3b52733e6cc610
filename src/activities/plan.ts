// Where settings come from (SPEC §3): the request alone (no registry), or the environment
// registry with the request only allowed to repeat its values. Secrets stay in the registry.
// The rules themselves are ./plan-rules.ts (no git, no I/O; the CLI's `start` pre-check applies
// them too); here the first problem becomes the failure, and git settles the repo and commit.
import type { ApplicationFailure } from '@temporalio/common';
import type { Config } from '../config';
import type { PromotionPlan, PromotionRequest, RollbackPlan, RollbackRequest } from '../domain';
import { failure, FailureType } from '../failures';
import { stagingGateNames } from '../gates/catalog';
import { canonicalRepo, resolveCommit } from './git';
import {
  approvalPolicy,
  branchProblems,
  environmentEntry,
  freezePolicy,
  gateProblems,
  promotionSettings,
  RuleProblem,
  setting,
  Settled,
} from './plan-rules';

export { stagingServiceOf } from './plan-rules';

type RequestFailure = Extract<FailureType, 'InvalidPromotionRequest' | 'InvalidRollbackRequest'>;

/** A rule's problem as the worker's failure: `field: message`. */
const refusal = (type: RequestFailure, problem: RuleProblem): ApplicationFailure =>
  failure(type, `${problem.field}: ${problem.message}`);

/** Throws the first problem, if any. */
function refuse(type: RequestFailure, problems: readonly RuleProblem[]): void {
  const [first] = problems;
  if (first) throw refusal(type, first);
}

/** What a rule settled, or its first problem thrown. */
function settledOrRefused<T>(type: RequestFailure, { value, problems }: Settled<T>): T {
  refuse(type, problems);
  return value as T;
}

/**
 * The repo a request gives, or the registry's when both name one target however spelled (the
 * comparison below is then against the registry's own text). A repo that cannot be resolved is
 * left as given, so the comparison reports it as different from the registered one.
 */
async function sameTargetAsRegistered(
  given: string | undefined,
  registeredRepo: string | undefined,
  type: RequestFailure,
): Promise<string | undefined> {
  // Stryker disable next-line ConditionalExpression: equivalent, resolving undefined fails and identical text resolves alike
  if (given === undefined || registeredRepo === undefined || given === registeredRepo) return given;
  const [a, b] = await Promise.all([
    canonicalRepo(given, type).catch(() => undefined),
    canonicalRepo(registeredRepo, type).catch(() => undefined),
  ]);
  // Stryker disable next-line ConditionalExpression: equivalent, unresolvable repos differ and are reported as given
  return a !== undefined && a === b ? registeredRepo : given;
}

/**
 * Resolves every setting of a promotion and the commit itself.
 * Throws InvalidPromotionRequest (naming the field), CommitNotOnSourceBranch.
 */
export async function planPromotion(config: Config, request: PromotionRequest): Promise<PromotionPlan> {
  const type = 'InvalidPromotionRequest';
  const repo = await sameTargetAsRegistered(request.repo, config.environments?.[request.environment]?.repo, type);
  const settled = settledOrRefused(type, promotionSettings(config, { ...request, repo }));
  // The target's identity from here on (lock, git cache, drift reference, last known good,
  // the ledger's repo key): one spelling per real repo, resolved where the file system is.
  const where = { ...settled, repo: await canonicalRepo(settled.repo, type) };
  refuse(type, branchProblems(config, request));
  refuse(type, gateProblems(config, request));
  const approval = settledOrRefused(type, approvalPolicy(config, request));
  const freezing = settledOrRefused(type, freezePolicy(config, request));
  const commitSha = await resolveCommit(config.gitCacheDir, {
    repo: where.repo,
    fromBranch: where.fromBranch,
    toBranch: where.toBranch,
    commitSha: request.commitSha,
  });
  return {
    ...where,
    commitSha,
    changeClass: request.changeClass,
    operator: request.operator,
    environment: request.environment,
    stagingGates: stagingGateNames(config.gates, request.optionalGates),
    optionalGates: request.optionalGates,
    expectBudgetBlock: request.expectBudgetBlock,
    approval,
    acceptDrift: request.acceptDrift,
    allowDowngrade: request.allowDowngrade,
    releaseId: request.releaseId,
    ...freezing,
    dryRun: request.dryRun,
    notes: request.notes,
    rollbackPlan: request.rollbackPlan,
    evidenceRefs: request.evidenceRefs,
  };
}

/**
 * Resolves a rollback's settings, the repo to its canonical spelling (see planPromotion). Throws
 * InvalidRollbackRequest naming the field. `compensating`: a promotion's own rollback, whose repo
 * the promotion read moments ago, so a repo missing now is a retryable RepoUnreachable.
 */
export async function planRollback(
  config: Config,
  request: RollbackRequest,
  compensating = false,
): Promise<RollbackPlan> {
  const type = 'InvalidRollbackRequest';
  const { entry, problems } = environmentEntry(config, request.environment);
  refuse(type, problems);
  // A compensating child passes its parent's canonical repo; the registry may spell it otherwise.
  request = { ...request, repo: await sameTargetAsRegistered(request.repo, entry?.repo, type) };
  const field = (name: 'repo' | 'toBranch' | 'productionBase'): string =>
    settledOrRefused(type, setting(entry, request, name, 'rollback request'));
  return {
    environment: request.environment,
    repo: await canonicalRepo(field('repo'), type, { readBefore: compensating }),
    toBranch: field('toBranch'),
    productionBase: field('productionBase'),
    fromSha: request.fromSha,
    toSha: request.toSha,
    trigger: request.trigger,
    operator: request.operator,
    promotionReleaseId: request.promotionReleaseId,
    releaseId: request.releaseId,
  };
}

/**
 * The registry's secret headers for a probe, read from the worker's environment now, and only
 * when `base` is one of that environment's registered bases.
 */
export function probeHeaders(config: Config, environment: string, base: string): Record<string, string> {
  const env = config.environments?.[environment];
  if (!env || (base !== env.stagingBase && base !== env.productionBase)) return {};
  const headers: Record<string, string> = {};
  for (const [header, variable] of Object.entries(env.headersFromEnv)) {
    const value = config.readSecret(variable);
    if (value) headers[header] = value;
  }
  return headers;
}
