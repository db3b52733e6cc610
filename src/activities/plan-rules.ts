// The environment registry's rules (SPEC §3 "Where settings come from") as data: each check
// returns the problems it finds, each naming the request field it is about, in the worker's
// words, with what another side needs to word it its own way. No git, no I/O: the worker's
// planPromotion and planRollback (./plan.ts) turn the first problem into their failure; the CLI's
// `start` pre-check (src/cli/start-checks.ts) words every problem in flags and file fields.
import { isDeepStrictEqual } from 'node:util';
import type { Config, RegisteredEnvironment } from '../config';
import type { PromotionPlan, PromotionRequest } from '../domain';

/** The settings of a promotion that come from the request or the registry. */
export type Settings = Pick<
  PromotionPlan,
  | 'repo'
  | 'fromBranch'
  | 'toBranch'
  | 'stagingBase'
  | 'stagingService'
  | 'productionBase'
  | 'deployWait'
  | 'stagingDeployWait'
  | 'soak'
>;
type WaitPlan = NonNullable<PromotionPlan['deployWait']>;

/** The settings a request may give and a registry registers, in the plan's form. */
interface RegisteredValues {
  repo: string;
  fromBranch: string;
  toBranch: string;
  stagingBase: string;
  productionBase: string;
  deployWait: WaitPlan | undefined;
  /** Compared without the registry's acceptDescendant, which a request cannot give. */
  stagingDeployWait: WaitPlan | undefined;
}
/** The waits a request may give and a registry registers: compared whole. */
export type WaitField = 'deployWait' | 'stagingDeployWait';
/** A setting given as text (by a promotion request, and the part of it a rollback request has). */
export type SettingField = Exclude<keyof RegisteredValues, WaitField>;
/** What the request names, for `required`'s words: "add "repo" to the request". */
export type Asked = 'request' | 'rollback request';

interface Problem<R extends string, F extends string> {
  rule: R;
  /** The request field, dotted when nested: `approval.minApprovals`. */
  field: F;
  /** The worker's words after `field: `. */
  message: string;
}
type Differs = {
  [F in keyof RegisteredValues]: Problem<'differs', F> & {
    environment: string;
    given: NonNullable<RegisteredValues[F]>;
    registered: RegisteredValues[F];
  };
}[keyof RegisteredValues];
/** Which of the optional gates: `index` into the request's optionalGates. */
interface GateAt {
  index: number;
  gate: string;
}

/** One thing a rule refuses in a request. */
export type RuleProblem =
  | (Problem<'unregistered', 'environment'> & { environment: string; registered: string[] })
  | Problem<'required', SettingField>
  | Differs
  | (Problem<'sameBranches', 'toBranch'> & { branch: string; fromRegistry: boolean })
  | (Problem<'approversOutside', 'approval.approvers'> & { environment: string; asked: string[]; registered: string[] })
  | (Problem<'unreachableMinimum', 'approval.minApprovals'> & {
      environment: string;
      needed: number;
      /** Who may approve besides the operator. */
      others: string[];
      /** The registry's approvers, when it names any. */
      registered: string[] | undefined;
    })
  | (Problem<'unknownGate', 'optionalGates'> & GateAt & { known: string[] })
  | (Problem<'noBreakGlass', 'breakGlass'> & { environment: string; needed: number; others: string[] })
  | (Problem<'requiredGate' | 'gateWithoutCommand', 'optionalGates'> & GateAt);

/** What a rule settles, or the problems that keep it from settling (then `value` is undefined). */
export interface Settled<T> {
  value: T | undefined;
  problems: RuleProblem[];
}
const settled = <T>(value: T): Settled<T> => ({ value, problems: [] });
const refused = <T>(problems: RuleProblem[]): Settled<T> => ({ value: undefined, problems });

/**
 * Whether a given value names the registered one: false refuses it; undefined is "this side
 * cannot tell" (the CLI's local repo paths, which only the worker can resolve) and lets it pass.
 */
export type Same<T> = (given: T, registered: T) => boolean | undefined;

/**
 * The staging service a base belongs to: scheme, lowercased host and port with its default
 * filled in. The path is left out on purpose: two bases on one host share its rate limit.
 */
export function stagingServiceOf(base: string): string {
  const url = new URL(base);
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return `${url.protocol}//${url.hostname.toLowerCase()}:${port}`;
}

/** The registry's entry for the environment: none without a registry; an environment it does not register is refused. */
export function environmentEntry(
  config: Pick<Config, 'environments'>,
  environment: string,
): { entry: RegisteredEnvironment | undefined; problems: RuleProblem[] } {
  const environments = config.environments;
  const entry = environments?.[environment];
  if (!environments || entry) return { entry, problems: [] };
  const registered = Object.keys(environments);
  return {
    entry,
    problems: [
      {
        rule: 'unregistered',
        field: 'environment',
        environment,
        registered,
        message: `"${environment}" is not registered on this worker (registered: ${registered.join(', ') || 'none'}); ask the platform owner to add it to ENVIRONMENTS_CONFIG`,
      },
    ],
  };
}

/** A value the request gives must name the registry's: a caller never picks where probes (and secrets) go. */
export function registeredValue<F extends keyof RegisteredValues>(
  field: F,
  given: RegisteredValues[F] | undefined,
  registered: RegisteredValues[F],
  environment: string,
  same: Same<RegisteredValues[F]> = isDeepStrictEqual,
): RuleProblem[] {
  if (given === undefined || same(given, registered) !== false) return [];
  const problem = {
    rule: 'differs' as const,
    field,
    environment,
    given,
    registered,
    message: `${JSON.stringify(given)} differs from the value registered for ${environment} (${JSON.stringify(registered)}); omit ${field} or use the registered value`,
  };
  return [problem as Differs];
}

/** The branches when neither registry nor request names them. */
const DEFAULT_BRANCHES: Partial<Record<SettingField, string>> = { fromBranch: 'main', toBranch: 'release' };

/**
 * One setting: the registry's (a value the request gives must name it, by `same`), else the
 * request's, the branches defaulting to main and release, the rest required.
 */
export function setting(
  entry: RegisteredEnvironment | undefined,
  request: { environment: string } & Partial<Record<SettingField, string>>,
  field: SettingField,
  asked: Asked,
  same?: Same<string>,
): Settled<string> {
  const given = request[field];
  if (entry) {
    const problems = registeredValue(field, given, entry[field], request.environment, same);
    return problems.length ? refused(problems) : settled(entry[field]);
  }
  const value = given ?? DEFAULT_BRANCHES[field];
  if (value !== undefined) return settled(value);
  return refused([
    {
      rule: 'required',
      field,
      message: `is required (the worker has no environment registry to take it from); add "${field}" to the ${asked}`,
    },
  ]);
}

/** A deploy wait in the plan's form: the timeout in ms, as timeoutMs. */
const waitPlan = (wait: { path: string; field: string; timeout: number } | undefined): WaitPlan | undefined =>
  wait && { path: wait.path, field: wait.field, timeoutMs: wait.timeout };

/** A wait as registered (deployWait: the registry's, else the request's; any given must equal the registered one). */
function settledWait(
  field: WaitField,
  entry: RegisteredEnvironment | undefined,
  request: PromotionRequest,
): Settled<WaitPlan | undefined> {
  const given = waitPlan(request[field]);
  if (!entry) return settled(given);
  const registered = waitPlan(entry[field]);
  return { value: registered, problems: registeredValue(field, given, registered, request.environment) };
}

const DEFAULT_SOAK_INTERVAL_MS = 60_000;

/**
 * The soak (SPEC §9), the stricter of registry and request: the longer duration, the shorter
 * interval (default 1m). An interval longer than the soak runs the checks once, at its end.
 */
export function soakPlan(entry: RegisteredEnvironment | undefined, request: PromotionRequest): PromotionPlan['soak'] {
  const durations = [entry?.soak, request.soak].filter((d): d is number => d !== undefined);
  if (durations.length === 0) return undefined;
  const intervals = [entry?.soakInterval, request.soakInterval].filter((d): d is number => d !== undefined);
  return {
    durationMs: Math.max(...durations),
    intervalMs: intervals.length ? Math.min(...intervals) : DEFAULT_SOAK_INTERVAL_MS,
  };
}

/**
 * Where a promotion's settings come from: the request alone (no registry), or the registered
 * environment with the request only allowed to repeat its values (the repo compared by
 * `sameRepo`, by default as text). Every problem, in the order repo, fromBranch, toBranch,
 * stagingBase, productionBase, deployWait, stagingDeployWait; an unregistered environment alone.
 */
export function promotionSettings(
  config: Pick<Config, 'environments'>,
  request: PromotionRequest,
  sameRepo?: Same<string>,
): Settled<Settings> {
  const { entry, problems } = environmentEntry(config, request.environment);
  if (problems.length) return refused(problems);
  const field = (name: SettingField, same?: Same<string>) => setting(entry, request, name, 'request', same);
  const repo = field('repo', sameRepo);
  const fromBranch = field('fromBranch');
  const toBranch = field('toBranch');
  const stagingBase = field('stagingBase');
  const productionBase = field('productionBase');
  const deployWait = settledWait('deployWait', entry, request);
  const stagingDeployWait = settledWait('stagingDeployWait', entry, request);
  const found = [repo, fromBranch, toBranch, stagingBase, productionBase, deployWait, stagingDeployWait].flatMap(
    (s) => s.problems,
  );
  if (found.length) return refused(found);
  // Every setting settled: the text ones have their values.
  const base = stagingBase.value as string;
  const stagingWait = stagingDeployWait.value;
  return settled({
    repo: repo.value as string,
    fromBranch: fromBranch.value as string,
    toBranch: toBranch.value as string,
    stagingBase: base,
    // Two bases (a path or a host alias apart) may be one service: the registry says so by name.
    stagingService: entry?.stagingService ?? stagingServiceOf(base),
    productionBase: productionBase.value as string,
    deployWait: deployWait.value,
    stagingDeployWait: stagingWait && {
      ...stagingWait,
      acceptDescendant: entry?.stagingDeployWait?.acceptDescendant ?? false,
    },
    soak: soakPlan(entry, request),
  });
}

/** The release branch must not be the source branch (the registry's, else the request's over main and release). */
export function branchProblems(config: Pick<Config, 'environments'>, request: PromotionRequest): RuleProblem[] {
  const entry = config.environments?.[request.environment];
  const branch = (field: 'fromBranch' | 'toBranch'): string | undefined =>
    entry ? entry[field] : (request[field] ?? DEFAULT_BRANCHES[field]);
  const fromBranch = branch('fromBranch');
  if (fromBranch !== branch('toBranch')) return [];
  return [
    {
      rule: 'sameBranches',
      field: 'toBranch',
      branch: fromBranch as string,
      fromRegistry: entry !== undefined,
      message: `must differ from fromBranch ("${fromBranch}")`,
    },
  ];
}

/** The optional gates against the gate catalog: there, optional, and a command gate with a command. */
export function gateProblems(config: Pick<Config, 'gates'>, request: PromotionRequest): RuleProblem[] {
  const catalog = config.gates.gates;
  return request.optionalGates.flatMap((gate, index): RuleProblem[] => {
    const definition = catalog[gate];
    const at = { field: 'optionalGates', index, gate } as const;
    if (!definition) {
      const known = Object.keys(catalog).filter((g) => catalog[g]?.staging === 'optional');
      return [
        {
          rule: 'unknownGate',
          ...at,
          known,
          message: `"${gate}" is not in the worker's gate catalog; known optional gates: ${known.join(', ')}`,
        },
      ];
    }
    if (definition.staging !== 'optional')
      return [
        { rule: 'requiredGate', ...at, message: `"${gate}" always runs in staging; remove it from optionalGates` },
      ];
    if (definition.kind === 'command' && !definition.command)
      return [
        {
          rule: 'gateWithoutCommand',
          ...at,
          message: `"${gate}" has no command on this worker; set gates.${gate}.command in the worker's GATES_CONFIG`,
        },
      ];
    return [];
  });
}

/**
 * The stricter of registry and request: required if either says so (class B always), approvers
 * narrowed to those in both lists (in the registry's order), the larger minimum, and that
 * minimum reachable without the operator.
 */
export function approvalPolicy(
  config: Pick<Config, 'environments'>,
  request: PromotionRequest,
): Settled<PromotionPlan['approval']> {
  const environment = request.environment;
  const policy = config.environments?.[environment]?.approval;
  const asked = request.approval.approvers;
  const required =
    request.approval.required ||
    request.changeClass === 'B' ||
    (policy?.classes.includes(request.changeClass) ?? false);
  let approvers = policy?.approvers ?? asked;
  if (policy?.approvers && asked) {
    approvers = policy.approvers.filter((a) => asked.includes(a));
    if (approvers.length === 0)
      return refused([
        {
          rule: 'approversOutside',
          field: 'approval.approvers',
          environment,
          asked,
          registered: policy.approvers,
          message: `none of ${asked.join(', ')} may approve in ${environment} (registered: ${policy.approvers.join(', ')})`,
        },
      ]);
  }
  const minApprovals = Math.max(request.approval.minApprovals, policy?.minApprovals ?? 1);
  const others = approvers?.filter((a) => a !== request.operator);
  if (required && others && others.length < minApprovals)
    return refused([
      {
        rule: 'unreachableMinimum',
        field: 'approval.minApprovals',
        environment,
        needed: minApprovals,
        others,
        registered: policy?.approvers,
        message: `${minApprovals} approvals needed but only ${others.join(', ') || 'nobody'} besides the operator may approve; fix the approvers or the minimum`,
      },
    ]);
  return settled({ required, approvers, minApprovals, timeoutMs: request.approval.timeout });
}

/**
 * Freeze windows, break-glass and concurrency (SPEC §9): the environment's freeze policy, when it declares
 * freezes, and a break-glass request's approvers, the registry's alone (never the request's),
 * their minimum reachable without the operator.
 */
export function freezePolicy(
  config: Pick<Config, 'environments'>,
  request: PromotionRequest,
): Settled<Pick<PromotionPlan, 'freeze' | 'breakGlass' | 'supersede'>> {
  const entry = config.environments?.[request.environment];
  const freeze = entry && entry.freezes.length > 0 ? { onFreeze: entry.onFreeze } : undefined;
  // Only set when it applies, so plans of other environments stay as they were.
  const policy = { freeze, ...(entry?.concurrency === 'supersede' ? { supersede: true } : {}) };
  if (!request.breakGlass) return settled(policy);
  const needed = entry?.breakGlassMinApprovals ?? 1;
  const others = (entry?.breakGlassApprovers ?? []).filter((a) => a !== request.operator);
  if (others.length < needed)
    return refused([
      {
        rule: 'noBreakGlass',
        field: 'breakGlass',
        environment: request.environment,
        needed,
        others,
        message: entry?.breakGlassApprovers
          ? `${needed} break-glass approval${needed === 1 ? '' : 's'} needed but only ${others.join(', ') || 'nobody'} besides the operator may give one; leave breakGlass out or ask another break-glass approver to start it`
          : `${request.environment} has no breakGlassApprovers in the worker's registry, so nobody can approve breaking a freeze; leave breakGlass out, or ask the platform owner to name them`,
      },
    ]);
  return settled({
    ...policy,
    breakGlass: {
      reason: request.breakGlass.reason,
      approvers: entry?.breakGlassApprovers ?? [],
      minApprovals: needed,
    },
  });
}
