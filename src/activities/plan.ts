// Where settings come from (SPEC §3): the request alone (no registry), or the environment
// registry with the request only allowed to repeat its values. Secrets stay in the registry.
import { isDeepStrictEqual } from 'node:util';
import type { Config, RegisteredEnvironment } from '../config';
import type { PromotionPlan, PromotionRequest, RollbackPlan, RollbackRequest } from '../domain';
import { failure, FailureType } from '../failures';
import { stagingGateNames } from '../gates/catalog';
import { canonicalRepo, resolveCommit } from './git';

type Settings = Pick<
  PromotionPlan,
  'repo' | 'fromBranch' | 'toBranch' | 'stagingBase' | 'stagingService' | 'productionBase' | 'deployWait'
>;

/**
 * The staging service a base belongs to: scheme, lowercased host and port with its default
 * filled in. The path is left out on purpose: two bases on one host share its rate limit.
 */
export function stagingServiceOf(base: string): string {
  const url = new URL(base);
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return `${url.protocol}//${url.hostname.toLowerCase()}:${port}`;
}

function registered(config: Config, environment: string, type: FailureType): RegisteredEnvironment | undefined {
  if (!config.environments) return undefined;
  const entry = config.environments[environment];
  if (!entry) {
    throw failure(
      type,
      `environment: "${environment}" is not registered on this worker (registered: ${Object.keys(config.environments).join(', ') || 'none'}); ask the platform owner to add it to ENVIRONMENTS_CONFIG`,
    );
  }
  return entry;
}

/**
 * The repo a request gives, or the registry's when both name one target however spelled (the
 * comparison below is then against the registry's own text). A repo that cannot be resolved is
 * left as given, so the comparison reports it as different from the registered one.
 */
async function sameTargetAsRegistered(
  given: string | undefined,
  registeredRepo: string | undefined,
  type: 'InvalidPromotionRequest' | 'InvalidRollbackRequest',
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

/** A value the request gives must equal the registry's: a caller never picks where probes (and secrets) go. */
function same<T>(field: string, given: T | undefined, registeredValue: T, environment: string, type: FailureType): T {
  if (given !== undefined && !isDeepStrictEqual(given, registeredValue)) {
    throw failure(
      type,
      `${field}: ${JSON.stringify(given)} differs from the value registered for ${environment} (${JSON.stringify(registeredValue)}); omit ${field} or use the registered value`,
    );
  }
  return registeredValue;
}

function settings(config: Config, request: PromotionRequest): Settings {
  const deployWait = request.deployWait
    ? { path: request.deployWait.path, field: request.deployWait.field, timeoutMs: request.deployWait.timeout }
    : undefined;
  const env = registered(config, request.environment, 'InvalidPromotionRequest');
  if (!env) {
    const need = (field: 'repo' | 'stagingBase' | 'productionBase'): string => {
      const value = request[field];
      if (value === undefined)
        throw failure(
          'InvalidPromotionRequest',
          `${field}: is required (the worker has no environment registry to take it from); add "${field}" to the request`,
        );
      return value;
    };
    const stagingBase = need('stagingBase');
    return {
      repo: need('repo'),
      fromBranch: request.fromBranch ?? 'main',
      toBranch: request.toBranch ?? 'release',
      stagingBase,
      stagingService: stagingServiceOf(stagingBase),
      productionBase: need('productionBase'),
      deployWait,
    };
  }
  const e = request.environment;
  const registeredWait = env.deployWait
    ? { path: env.deployWait.path, field: env.deployWait.field, timeoutMs: env.deployWait.timeout }
    : undefined;
  return {
    repo: same('repo', request.repo, env.repo, e, 'InvalidPromotionRequest'),
    fromBranch: same('fromBranch', request.fromBranch, env.fromBranch, e, 'InvalidPromotionRequest'),
    toBranch: same('toBranch', request.toBranch, env.toBranch, e, 'InvalidPromotionRequest'),
    stagingBase: same('stagingBase', request.stagingBase, env.stagingBase, e, 'InvalidPromotionRequest'),
    // Two bases (a path or a host alias apart) may be one service: the registry says so by name.
    stagingService: env.stagingService ?? stagingServiceOf(env.stagingBase),
    productionBase: same('productionBase', request.productionBase, env.productionBase, e, 'InvalidPromotionRequest'),
    deployWait:
      // Stryker disable next-line ConditionalExpression: equivalent, same() returns the registered value when the request gives none
      deployWait === undefined
        ? registeredWait
        : same('deployWait', deployWait, registeredWait, e, 'InvalidPromotionRequest'),
  };
}

/** The stricter of registry and request: required if either says so (class B always), approvers narrowed, the larger minimum. */
function approvalPolicy(config: Config, request: PromotionRequest): PromotionPlan['approval'] {
  const policy = config.environments?.[request.environment]?.approval;
  const required =
    request.approval.required ||
    request.changeClass === 'B' ||
    (policy?.classes.includes(request.changeClass) ?? false);
  let approvers = policy?.approvers ?? request.approval.approvers;
  if (policy?.approvers && request.approval.approvers) {
    approvers = policy.approvers.filter((a) => request.approval.approvers?.includes(a));
    if (approvers.length === 0) {
      throw failure(
        'InvalidPromotionRequest',
        `approval.approvers: none of ${request.approval.approvers.join(', ')} may approve in ${request.environment} (registered: ${policy.approvers.join(', ')})`,
      );
    }
  }
  const minApprovals = Math.max(request.approval.minApprovals, policy?.minApprovals ?? 1);
  if (required && approvers && approvers.filter((a) => a !== request.operator).length < minApprovals) {
    throw failure(
      'InvalidPromotionRequest',
      `approval.minApprovals: ${minApprovals} approvals needed but only ${approvers.filter((a) => a !== request.operator).join(', ') || 'nobody'} besides the operator may approve; fix the approvers or the minimum`,
    );
  }
  return { required, approvers, minApprovals, timeoutMs: request.approval.timeout };
}

/**
 * Resolves every setting of a promotion and the commit itself.
 * Throws InvalidPromotionRequest (naming the field), CommitNotOnSourceBranch.
 */
export async function planPromotion(config: Config, request: PromotionRequest): Promise<PromotionPlan> {
  const repo = await sameTargetAsRegistered(
    request.repo,
    config.environments?.[request.environment]?.repo,
    'InvalidPromotionRequest',
  );
  const settled = settings(config, { ...request, repo });
  // The target's identity from here on (lock, git cache, drift reference, last known good,
  // the ledger's repo key): one spelling per real repo, resolved where the file system is.
  const where = { ...settled, repo: await canonicalRepo(settled.repo, 'InvalidPromotionRequest') };
  if (where.fromBranch === where.toBranch)
    throw failure('InvalidPromotionRequest', `toBranch: must differ from fromBranch ("${where.fromBranch}")`);
  for (const name of request.optionalGates) {
    const gate = config.gates.gates[name];
    if (!gate) {
      const known = Object.keys(config.gates.gates).filter((g) => config.gates.gates[g]?.staging === 'optional');
      throw failure(
        'InvalidPromotionRequest',
        `optionalGates: "${name}" is not in the worker's gate catalog; known optional gates: ${known.join(', ')}`,
      );
    }
    if (gate.staging !== 'optional')
      throw failure(
        'InvalidPromotionRequest',
        `optionalGates: "${name}" always runs in staging; remove it from optionalGates`,
      );
    if (gate.kind === 'command' && !gate.command) {
      throw failure(
        'InvalidPromotionRequest',
        `optionalGates: "${name}" has no command on this worker; set gates.${name}.command in the worker's GATES_CONFIG`,
      );
    }
  }
  const approval = approvalPolicy(config, request);
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
    notes: request.notes,
    rollbackPlan: request.rollbackPlan,
    evidenceRefs: request.evidenceRefs,
  };
}

/** Resolves a rollback's settings, the repo to its canonical spelling (see planPromotion). Throws InvalidRollbackRequest naming the field. */
export async function planRollback(config: Config, request: RollbackRequest): Promise<RollbackPlan> {
  const env = registered(config, request.environment, 'InvalidRollbackRequest');
  // A compensating child passes its parent's canonical repo; the registry may spell it otherwise.
  request = { ...request, repo: await sameTargetAsRegistered(request.repo, env?.repo, 'InvalidRollbackRequest') };
  const need = (field: 'repo' | 'productionBase'): string => {
    const value = request[field];
    if (value === undefined)
      throw failure(
        'InvalidRollbackRequest',
        `${field}: is required (the worker has no environment registry to take it from); add "${field}" to the rollback request`,
      );
    return value;
  };
  const e = request.environment;
  return {
    environment: e,
    repo: await canonicalRepo(
      env ? same('repo', request.repo, env.repo, e, 'InvalidRollbackRequest') : need('repo'),
      'InvalidRollbackRequest',
    ),
    toBranch: env
      ? same('toBranch', request.toBranch, env.toBranch, e, 'InvalidRollbackRequest')
      : (request.toBranch ?? 'release'),
    productionBase: env
      ? same('productionBase', request.productionBase, env.productionBase, e, 'InvalidRollbackRequest')
      : need('productionBase'),
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
