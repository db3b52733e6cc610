// What `start` can refuse before a workflow exists: the workflow's own schema, and the rules of
// where settings come from (SPEC §3) as far as the config alone decides them: the worker's own
// rules (src/activities/plan-rules.ts), their problems worded here in flags and file fields.
// Whether the repo, branches and commit exist only the worker can tell (git, the network).
import {
  approvalPolicy,
  freezePolicy,
  branchProblems,
  gateProblems,
  promotionSettings,
  RuleProblem,
  SettingField,
  Settings,
} from '../activities/plan-rules';
import type { Config } from '../config';
import { ConfigError } from '../config';
import { durationText, parseRepoLocation, PromotionRequest } from '../domain';
import { failureMessageOf } from '../failures';
import { parsePromotionRequest } from '../workflows/request';
import type { CommandLineRequest } from './start-request';

/** The request parsed with the workflow's schema, or ConfigError in the user's words (flags, file fields). */
function parsed(request: CommandLineRequest): PromotionRequest {
  try {
    return parsePromotionRequest(request.input);
  } catch (err) {
    const type = (err as { type?: string }).type;
    if (type === 'ChangeClassForbidden')
      // The policy's wording stays the workflow's; only the field is named as the user gave it.
      throw new ConfigError(
        `${request.labelOf('changeClass')}: ${failureMessageOf(err).replace(/^changeClass:\s*/, '')}`,
      );
    const issues = PromotionRequest.safeParse(request.input);
    if (issues.success) throw new ConfigError(failureMessageOf(err));
    throw new ConfigError(`invalid promotion request: ${request.describeIssues(issues.error)}. Nothing was started`);
  }
}

/** Whether two repo spellings name one target: remotes by canonical spelling; local paths only the worker can resolve. */
function sameRepo(given: string, registered: string): boolean | undefined {
  if (given === registered) return true;
  const [a, b] = [parseRepoLocation(given), parseRepoLocation(registered)];
  if (a.kind === 'remote' && b.kind === 'remote') return a.canonical === b.canonical;
  if (a.kind === 'local' && b.kind === 'local') return undefined; // symlinks, `..`: the worker's realpath decides
  return false;
}

/**
 * The registry's rules the worker applies (planPromotion, through src/activities/plan-rules.ts)
 * that need neither git nor the network, every problem worded for the command line.
 */
function registryProblems(
  cfg: Pick<Config, 'environments' | 'gates'>,
  req: PromotionRequest,
  request: CommandLineRequest,
  checkGates: boolean,
): string[] {
  const settings = promotionSettings(cfg, req, sameRepo).problems;
  // Nothing else is judged against an environment the registry does not have.
  if (settings[0]?.rule === 'unregistered') return [worded(settings[0], req, request)];
  const problems = [
    ...settings,
    ...branchProblems(cfg, req),
    ...approvalPolicy(cfg, req).problems,
    ...freezePolicy(cfg, req).problems,
    ...(checkGates ? gateProblems(cfg, req) : []),
  ];
  const required = problems.filter((p) => p.rule === 'required').map((p) => p.field);
  return [
    ...(required.length ? [requiredWords(required, req, request)] : []),
    ...problems.filter((p) => p.rule !== 'required').map((p) => worded(p, req, request)),
  ];
}

const WHAT: Partial<Record<SettingField, string>> = {
  repo: 'git remote',
  stagingBase: 'staging base URL',
  productionBase: 'production base URL',
};

/** The settings a request without a registry must give, in one sentence. */
function requiredWords(fields: SettingField[], req: PromotionRequest, request: CommandLineRequest): string {
  const missing = (['repo', 'stagingBase', 'productionBase'] as const).filter((field) => fields.includes(field));
  const flags = missing.map((field) => request.labelOf(field)).join(', ');
  return `${flags}: ${missing.length === 1 ? 'is' : 'are'} required: ENVIRONMENTS_CONFIG is not set, so no environment registry gives ${req.environment}'s ${missing.map((f) => WHAT[f]).join(', ')}; pass ${flags}${request.file === undefined ? '' : ` (or set ${missing.join(', ')} in ${request.file})`}, or set ENVIRONMENTS_CONFIG to the registry the worker reads`;
}

/** One problem in flags and file fields, ENVIRONMENTS_CONFIG and GATES_CONFIG named as what the worker reads. */
function worded(problem: RuleProblem, req: PromotionRequest, request: CommandLineRequest): string {
  const label = (field: string) => request.labelOf(field);
  switch (problem.rule) {
    case 'unregistered':
      return `${label('environment')}: "${problem.environment}" is not registered in ENVIRONMENTS_CONFIG (registered: ${problem.registered.join(', ') || 'none'}); name a registered environment, or ask the platform owner to add it`;
    case 'required': // registryProblems words them together; one alone reads the same
      return requiredWords([problem.field], req, request);
    case 'differs': {
      const registeredIn = `registered for ${problem.environment} in ENVIRONMENTS_CONFIG`;
      if (problem.field !== 'deployWait' && problem.field !== 'stagingDeployWait')
        return `${label(problem.field)}: ${JSON.stringify(problem.given)} differs from the value ${registeredIn} (${JSON.stringify(problem.registered)}); ${request.omit(problem.field)} or use the registered value`;
      const wait = problem.field;
      const what = wait === 'deployWait' ? 'deploy wait' : 'staging deploy wait';
      const leaves = [`${wait}.path`, `${wait}.field`, `${wait}.timeout`];
      const where = [...new Set(leaves.map((l) => (request.fromTheFile(l) ? `${request.file}: ${wait}` : label(l))))];
      const registered = problem.registered && JSON.stringify(waitText(problem.registered));
      return `${where.join(', ')}: ${JSON.stringify(waitText(problem.given))} differs from the ${what} ${registeredIn} (${registered ?? 'none'}); ${registered ? `leave the ${what} out or use the registered one` : `leave the ${what} out`}`;
    }
    case 'sameBranches':
      if (problem.fromRegistry)
        return `ENVIRONMENTS_CONFIG: ${req.environment} registers "${problem.branch}" as both its source and its release branch; ask the platform owner to fix the registry`;
      // Both given and equal is the schema's; here one of them was left to its default.
      return req.toBranch !== undefined
        ? `${label('toBranch')}: must differ from the source branch ("${problem.branch}", the default of --from-branch)`
        : `${label('fromBranch')}: must differ from the release branch ("${problem.branch}", the default of --to-branch)`;
    case 'approversOutside':
      return `${label(problem.field)}: none of ${problem.asked.join(', ') || '(nobody)'} may approve in ${problem.environment} (registered in ENVIRONMENTS_CONFIG: ${problem.registered.join(', ')}); name at least one of them`;
    case 'unreachableMinimum': {
      const { needed, others, registered } = problem;
      // Named by what the user gave that made it unreachable: the minimum, the approvers, else the operator.
      const field =
        request.gives('approval.minApprovals') && req.approval.minApprovals >= needed
          ? 'approval.minApprovals'
          : request.gives('approval.approvers')
            ? 'approval.approvers'
            : 'operator';
      return `${label(field)}: ${needed} approval${needed === 1 ? '' : 's'} needed but only ${others.join(', ') || 'nobody'} besides the operator (${req.operator}) may approve${registered ? ` (registered for ${problem.environment}: ${registered.join(', ')})` : ''}; fix the approvers or the minimum`;
    }
    case 'unknownGate':
      return `${gateLabel(problem, request)}: is not in GATES_CONFIG's gate catalog; known optional gates: ${problem.known.join(', ') || 'none'}`;
    case 'requiredGate':
      return `${gateLabel(problem, request)}: always runs in staging; leave it out of the optional gates`;
    case 'noBreakGlass':
      return `${label('breakGlass.reason')}: ${problem.message.replace("the worker's registry", 'ENVIRONMENTS_CONFIG')}`;
    case 'gateWithoutCommand':
      return `${gateLabel(problem, request)}: has no command in GATES_CONFIG; set gates.${problem.gate}.command there`;
  }
}

/** An optional gate as the user gave it: `--optional-gates "name"`, or `file.json: optionalGates.1`. */
const gateLabel = (problem: { field: string; index: number }, request: CommandLineRequest): string =>
  request.label([problem.field, problem.index]);

/** A deploy wait as the registry file spells one: its timeout as a duration. */
const waitText = (wait: NonNullable<Settings['deployWait']>) => ({
  path: wait.path,
  field: wait.field,
  timeout: durationText(wait.timeoutMs),
});

/**
 * The request checked as far as this side can: the workflow's schema (class C first), then the
 * registry's rules from `cfg` (ENVIRONMENTS_CONFIG; the gate catalog only with `checkGates`).
 * Throws ConfigError (EXIT.usage) naming each problem by the flag or file field that gave it.
 */
export function checkLocally(
  request: CommandLineRequest,
  cfg: Pick<Config, 'environments' | 'gates'>,
  options: { checkGates: boolean },
): PromotionRequest {
  const req = parsed(request);
  const problems = registryProblems(cfg, req, request, options.checkGates);
  if (problems.length)
    throw new ConfigError(`the worker would refuse this promotion: ${problems.join('; ')}. Nothing was started`);
  return req;
}
