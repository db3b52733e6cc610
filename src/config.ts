// The worker's configuration (SPEC §7): environment variables and the gate catalog file,
// parsed once with zod. A bad value stops the worker with a message naming the variable.
import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { BaseUrl, BranchName, DeployWait, Duration, EnvironmentName, Identity, RepoLocation } from './domain';
import { builtinCatalog, GateCatalog } from './gates/catalog';
import { GatesFile } from './gates/config-file';
import { FreezeSettings } from './activities/freeze-windows';
import { CRASH_POINT_VARIABLE, CrashPoint, CrashPointText } from './activities/crash-points';
import { LedgerLocation, LedgerLocationText, ledgerName, resolveLedgerLocation, sameLedger } from './ledger/location';

/** A Temporal address however given (temporal-profile.ts checks it), METRICS_ADDRESS, the CLI's --address. */
export const HostPort = z
  .string()
  .regex(/^[A-Za-z0-9.-]+:[0-9]{1,5}$|^\[[0-9a-fA-F:]+\]:[0-9]{1,5}$/, 'must be host:port, e.g. localhost:7233');
const ExistingFile = z.string().refine((file) => {
  try {
    readFileSync(file);
    return true;
  } catch {
    return false;
  }
}, 'must be the path of a readable file');

/** A Temporal namespace however given (temporal-profile.ts checks it), the CLI's --namespace. */
export const NamespaceName = z.string().regex(/^[A-Za-z0-9._-]{1,255}$/, 'must be a Temporal namespace name');

// The connection to Temporal is not here: it is Temporal's own configuration (profiles, the
// temporal CLI's variables), resolved by temporal-profile.ts. These variables are ours.
export const WorkerEnv = z.object({
  TEMPORAL_TASK_QUEUE: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,200}$/, 'must be 1–200 characters of A-Z a-z 0-9 . _ -')
    .default('release-promotion'),
  RELEASE_LEDGER: LedgerLocationText.optional(),
  RELEASE_LEDGER_PATH: z.string().min(1).optional(),
  GATES_CONFIG: ExistingFile.optional(),
  ENVIRONMENTS_CONFIG: ExistingFile.optional(),
  GIT_CACHE_DIR: z.string().min(1).default('.data/git-cache'),
  METRICS_ADDRESS: HostPort.optional(),
  LOG_LEVEL: z
    .enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'], 'must be TRACE, DEBUG, INFO, WARN or ERROR')
    .default('WARN'),
  // The fault suite's crash point (test/faults/); never set in production.
  [CRASH_POINT_VARIABLE]: CrashPointText.optional(),
});
export type WorkerEnv = z.infer<typeof WorkerEnv>;

export interface Config {
  taskQueue: string;
  /** Where the ledger lives: a file, or a file in a git branch (RELEASE_LEDGER, or RELEASE_LEDGER_PATH). */
  ledger: LedgerLocation;
  /** The file ledger's path; for a git ledger its `git:` name (for messages: the sinks use `ledger`). */
  ledgerPath: string;
  gitCacheDir: string;
  metricsAddress?: string;
  logLevel: 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  /** How often a target lock checks that its holder still runs (a dead holder is freed within this). */
  lockCheckIntervalMs: number;
  gates: GateCatalog;
  /** The environment registry (ENVIRONMENTS_CONFIG); undefined: requests carry their own settings. */
  environments?: Record<string, RegisteredEnvironment>;
  /** Where the worker kills itself (RELEASE_PROMOTER_TEST_CRASH_AT): only the fault suite sets it. */
  crashAt?: CrashPoint;
  /** Reads a secret (a headersFromEnv variable) at probe time, from the environment this config was loaded from. */
  readSecret: (variable: string) => string | undefined;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function describeIssues(error: z.ZodError, where: (path: PropertyKey[]) => string): string {
  return error.issues.map((issue) => `${where(issue.path)}: ${issue.message}`).join('; ');
}

/** Reads a JSON config file named by `variable` into `schema`; a bad file names the file and field. */
function readConfigFile<T extends z.ZodType>(variable: string, file: string, schema: T): z.infer<T> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`${variable} ${file}: not valid JSON (${(err as Error).message})`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success)
    throw new ConfigError(`${variable} ${file}: ${describeIssues(parsed.error, (p) => p.join('.') || '(top level)')}`);
  return parsed.data;
}

/**
 * Reads GATES_CONFIG over the built-in catalog (an entry naming a built-in changes only the fields
 * it gives). Throws ConfigError naming the file and field.
 */
export function loadGateCatalog(file?: string): GateCatalog {
  return file ? readConfigFile('GATES_CONFIG', file, GatesFile) : builtinCatalog();
}

/** ENVIRONMENTS_CONFIG: where each environment's probes go, which secrets they carry, who approves (SPEC §7). */
export const EnvironmentsFile = z.strictObject({
  environments: z.record(
    EnvironmentName,
    z.strictObject({
      repo: RepoLocation,
      fromBranch: BranchName.default('main'),
      toBranch: BranchName.default('release'),
      stagingBase: BaseUrl,
      /** Environments whose staging bases name one service take turns on it under this name (SPEC §5). */
      stagingService: z
        .string()
        .regex(/^[a-z0-9][a-z0-9._-]{0,99}$/, 'must be 1–100 characters of a-z 0-9 . _ - (a name, not a URL)')
        .optional(),
      productionBase: BaseUrl,
      deployWait: DeployWait.optional(),
      /** acceptDescendant: staging may run a descendant of the commit on fromBranch (it deploys main's tip). */
      stagingDeployWait: DeployWait.extend({ acceptDescendant: z.boolean().default(false) }).optional(),
      soak: Duration.optional(),
      soakInterval: Duration.optional(),
      // Freeze windows (SPEC §9) and who may break glass through one: their own list and minimum.
      ...FreezeSettings,
      breakGlassApprovers: z.array(Identity).min(1).optional(),
      breakGlassMinApprovals: z.number().int().min(1).max(20).default(1),
      /** queue: first come first served; supersede: a newer promotion ends the older ones still waiting (SPEC §9). */
      concurrency: z.enum(['queue', 'supersede'], 'must be "queue" or "supersede"').default('queue'),
      approval: z
        .strictObject({
          classes: z.array(z.enum(['A', 'B'])).default([]),
          approvers: z.array(Identity).min(1).optional(),
          minApprovals: z.number().int().min(1).max(20).default(1),
        })
        .prefault({}),
      headersFromEnv: z
        .record(
          z.string().regex(/^[A-Za-z0-9-]{1,100}$/, 'header names are letters, digits and -'),
          z.string().regex(/^[A-Z_][A-Z0-9_]{0,100}$/, 'must name an environment variable (A-Z 0-9 _)'),
        )
        .default({}),
    }),
  ),
});
export type RegisteredEnvironment = z.infer<typeof EnvironmentsFile>['environments'][string];

/** Reads ENVIRONMENTS_CONFIG; every headersFromEnv variable must be set, or the worker stops naming it. */
export function loadEnvironments(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): Record<string, RegisteredEnvironment> {
  const data = readConfigFile('ENVIRONMENTS_CONFIG', file, EnvironmentsFile);
  for (const [name, registered] of Object.entries(data.environments)) {
    for (const [header, variable] of Object.entries(registered.headersFromEnv)) {
      if (!env[variable])
        throw new ConfigError(
          `ENVIRONMENTS_CONFIG ${file}: environments.${name}.headersFromEnv.${header}: environment variable ${variable} is not set on the worker`,
        );
    }
  }
  return data.environments;
}

/**
 * A ledger path that is a symlink would write into whatever it points at: refused, naming the
 * variable. (The worker also opens the files with O_NOFOLLOW, for a symlink swapped in later.)
 */
function refuseSymlink(variable: string, file: string): void {
  let isLink: boolean;
  try {
    isLink = lstatSync(file).isSymbolicLink();
  } catch {
    return; // missing: the worker creates it
  }
  if (!isLink) return;
  let target = '';
  try {
    target = ` (to ${readlinkSync(file)})`;
  } catch {
    // gone in between; refused all the same
  }
  throw new ConfigError(
    `${variable}: ${file} is a symbolic link${target}; the worker refuses symlinked ledger files so writes cannot be redirected. Point ${variable} at the file itself`,
  );
}

/**
 * RELEASE_LEDGER (a path or git:<remote>#<branch>:<path>), else RELEASE_LEDGER_PATH, else
 * RELEASE_LOG.md in `cwd`. Both set must name one ledger. A file ledger must not be a symlink.
 */
function ledgerLocationOf(e: WorkerEnv, cwd: string): LedgerLocation {
  const given = e.RELEASE_LEDGER && resolveLedgerLocation(e.RELEASE_LEDGER, cwd);
  const byPath = e.RELEASE_LEDGER_PATH === undefined ? undefined : path.resolve(cwd, e.RELEASE_LEDGER_PATH);
  if (given && byPath !== undefined && !sameLedger(given, { kind: 'file', path: byPath }))
    throw new ConfigError(
      `RELEASE_LEDGER (${ledgerName(given)}) and RELEASE_LEDGER_PATH (${byPath}) name different ledgers; set only RELEASE_LEDGER`,
    );
  const ledger: LedgerLocation = given ?? { kind: 'file', path: byPath ?? path.resolve(cwd, 'RELEASE_LOG.md') };
  if (ledger.kind === 'file') {
    const variable = given ? 'RELEASE_LEDGER' : 'RELEASE_LEDGER_PATH';
    refuseSymlink(variable, ledger.path);
    refuseSymlink(variable, `${ledger.path}.reservations`);
  }
  return ledger;
}

/** Parses the worker's environment once. Throws ConfigError naming each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const cleaned: Record<string, string> = Object.fromEntries(
    Object.entries(env).filter((pair): pair is [string, string] => pair[1] !== undefined && pair[1] !== ''),
  );
  // File paths are relative to the worker's directory, checked and used alike.
  for (const name of ['GATES_CONFIG', 'ENVIRONMENTS_CONFIG']) {
    if (cleaned[name]) cleaned[name] = path.resolve(cwd, cleaned[name]);
  }
  const parsed = WorkerEnv.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      `invalid worker configuration: ${describeIssues(parsed.error, (p) => String(p[0] ?? 'environment'))}`,
    );
  }
  const e = parsed.data;
  const ledger = ledgerLocationOf(e, cwd);
  const ledgerPath = ledger.kind === 'file' ? ledger.path : ledgerName(ledger);
  return {
    taskQueue: e.TEMPORAL_TASK_QUEUE,
    ledger,
    ledgerPath,
    gitCacheDir: path.resolve(cwd, e.GIT_CACHE_DIR),
    metricsAddress: e.METRICS_ADDRESS,
    logLevel: e.LOG_LEVEL,
    lockCheckIntervalMs: 15_000,
    gates: loadGateCatalog(e.GATES_CONFIG),
    environments: e.ENVIRONMENTS_CONFIG ? loadEnvironments(e.ENVIRONMENTS_CONFIG, env) : undefined,
    crashAt: e[CRASH_POINT_VARIABLE],
    readSecret: (variable) => env[variable] || undefined,
  };
}
