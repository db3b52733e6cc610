// `start`'s request from its command line: one table of flag ↔ request field, used both to build
// the request (flags over `--request file.json`) and to word every complaint in what the user
// typed: `--min-approvals`, or `file.json: approval.minApprovals` for a field the file gave.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from '@commander-js/extra-typings';
import type { z } from 'zod';
import { ConfigError } from '../config';

/** How a flag's text becomes the field's value: as is, a comma-separated list, a switch, a whole number. */
export type FlagKind = 'text' | 'list' | 'switch' | 'count';

export interface RequestFlag {
  /** The request field, dotted for a nested one (`approval.minApprovals`). */
  field: string;
  flag: `--${string}`;
  /** The value's placeholder in --help; switches take none. */
  arg?: `<${string}>`;
  kind: FlagKind;
  help: string;
}

/**
 * Every field of PromotionRequest (src/domain/request.ts), nested ones by their leaf. The one
 * place a flag is tied to its field: the request is built from it and errors are worded with it.
 */
export const REQUEST_FLAGS: readonly RequestFlag[] = [
  { field: 'commitSha', flag: '--commit', arg: '<sha>', kind: 'text', help: 'commit to promote (7–40 hex)' },
  { field: 'changeClass', flag: '--class', arg: '<class>', kind: 'text', help: 'change class: A or B (C is refused)' },
  {
    field: 'operator',
    flag: '--operator',
    arg: '<name>',
    kind: 'text',
    help: 'who starts it (default: RELEASE_PROMOTER_IDENTITY, else the OS user)',
  },
  {
    field: 'environment',
    flag: '--environment',
    arg: '<name>',
    kind: 'text',
    help: 'environment (default: production)',
  },
  {
    field: 'repo',
    flag: '--repo',
    arg: '<remote>',
    kind: 'text',
    help: 'git remote holding both branches (without a registry)',
  },
  { field: 'fromBranch', flag: '--from-branch', arg: '<branch>', kind: 'text', help: 'source branch (default: main)' },
  { field: 'toBranch', flag: '--to-branch', arg: '<branch>', kind: 'text', help: 'release branch (default: release)' },
  {
    field: 'stagingBase',
    flag: '--staging-base',
    arg: '<url>',
    kind: 'text',
    help: 'staging base URL (without a registry)',
  },
  {
    field: 'productionBase',
    flag: '--production-base',
    arg: '<url>',
    kind: 'text',
    help: 'production base URL (without a registry)',
  },
  {
    field: 'deployWait.path',
    flag: '--deploy-wait-path',
    arg: '<path>',
    kind: 'text',
    help: 'after the push, poll production GET <path> (e.g. /health) ...',
  },
  {
    field: 'deployWait.field',
    flag: '--deploy-wait-field',
    arg: '<field>',
    kind: 'text',
    help: '... until this JSON field (dots for nesting) equals the commit ...',
  },
  {
    field: 'deployWait.timeout',
    flag: '--deploy-wait-timeout',
    arg: '<duration>',
    kind: 'text',
    help: '... for at most this long (90s, 30m, 2h, 1d)',
  },
  {
    field: 'stagingDeployWait.path',
    flag: '--staging-wait-path',
    arg: '<path>',
    kind: 'text',
    help: 'before the gates, poll staging GET <path> (e.g. /health) ...',
  },
  {
    field: 'stagingDeployWait.field',
    flag: '--staging-wait-field',
    arg: '<field>',
    kind: 'text',
    help: '... until this JSON field reports the commit ...',
  },
  {
    field: 'stagingDeployWait.timeout',
    flag: '--staging-wait-timeout',
    arg: '<duration>',
    kind: 'text',
    help: '... for at most this long, else StagingNotOnCommit',
  },
  {
    field: 'soak',
    flag: '--soak',
    arg: '<duration>',
    kind: 'text',
    help: 'after verification, keep rerunning the production checks this long (holding the target)',
  },
  {
    field: 'soakInterval',
    flag: '--soak-interval',
    arg: '<duration>',
    kind: 'text',
    help: 'how often the soak reruns the checks (default: 1m)',
  },
  {
    field: 'breakGlass.reason',
    flag: '--break-glass',
    arg: '<reason>',
    kind: 'text',
    help: "promote inside a freeze window, once the registry's break-glass approvers approve (recorded with the reason)",
  },
  {
    field: 'dryRun',
    flag: '--dry-run',
    kind: 'switch',
    help: 'run the staging gates and print what would happen; reserve, push and record nothing',
  },
  {
    field: 'optionalGates',
    flag: '--optional-gates',
    arg: '<names>',
    kind: 'list',
    help: 'comma-separated optional gates to run in staging too',
  },
  {
    field: 'expectBudgetBlock',
    flag: '--expect-budget-block',
    kind: 'switch',
    help: 'the cost gate expects 429 BUDGET_EXCEEDED',
  },
  {
    field: 'approval.required',
    flag: '--approval-required',
    kind: 'switch',
    help: 'wait for approval even for class A',
  },
  {
    field: 'approval.approvers',
    flag: '--approvers',
    arg: '<names>',
    kind: 'list',
    help: 'comma-separated identities who may approve',
  },
  {
    field: 'approval.minApprovals',
    flag: '--min-approvals',
    arg: '<n>',
    kind: 'count',
    help: 'approvals needed (default: 1)',
  },
  {
    field: 'approval.timeout',
    flag: '--approval-timeout',
    arg: '<duration>',
    kind: 'text',
    help: 'how long approvers have (default: 24h)',
  },
  {
    field: 'acceptDrift',
    flag: '--accept-drift',
    kind: 'switch',
    help: 'proceed although the release branch is not where the ledger left it (recorded)',
  },
  {
    field: 'allowDowngrade',
    flag: '--allow-downgrade',
    kind: 'switch',
    help: 'allow a commit that does not descend from the release branch tip (recorded)',
  },
  {
    field: 'releaseId',
    flag: '--release-id',
    arg: '<id>',
    kind: 'text',
    help: 'release id, e.g. 20261124-2231-rc1 (default: generated)',
  },
  { field: 'notes', flag: '--notes', arg: '<text>', kind: 'text', help: 'notes for the ledger (≤ 500 characters)' },
  {
    field: 'rollbackPlan',
    flag: '--rollback-plan',
    arg: '<text>',
    kind: 'text',
    help: 'how to roll back (≤ 500 characters)',
  },
  {
    field: 'evidenceRefs',
    flag: '--evidence-refs',
    arg: '<text>',
    kind: 'text',
    help: 'references to evidence, e.g. ticket,run-url (≤ 500 characters)',
  },
];

const byField = new Map(REQUEST_FLAGS.map((f) => [f.field, f]));

/** The table row of a field (a typo in a field name here is a bug, so it throws). */
export function flagOf(field: string): RequestFlag {
  const row = byField.get(field);
  if (!row) throw new Error(`no flag for request field ${field}`);
  return row;
}

function wholeNumber(text: string): number {
  if (!/^[0-9]{1,9}$/.test(text)) throw new InvalidArgumentError('must be a whole number, e.g. 2');
  return Number(text);
}

const commaList = (text: string): string[] =>
  text
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

/** The attribute commander stores a row's value under (`--min-approvals` → minApprovals). */
const attributeOf = (row: RequestFlag): string => new Option(row.flag).attributeName();

/** One option per table row; a switch also gets a hidden `--no-…` that turns off a true from the file. */
export function addRequestOptions(command: Command): void {
  for (const row of REQUEST_FLAGS) {
    if (row.kind === 'switch') {
      command.addOption(new Option(row.flag, row.help));
      command.addOption(new Option(`--no-${row.flag.slice(2)}`).hideHelp());
      continue;
    }
    const option = new Option(`${row.flag} ${row.arg ?? '<value>'}`, row.help);
    if (row.kind === 'list') option.argParser(commaList);
    if (row.kind === 'count') option.argParser(wholeNumber);
    command.addOption(option);
  }
}

/** Where the operator came from: flag, file, RELEASE_PROMOTER_IDENTITY, or the OS user (said on stderr). */
export type OperatorSource = 'flag' | 'file' | 'env' | 'os';

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function valueAt(root: unknown, at: readonly PropertyKey[]): unknown {
  let here = root;
  for (const key of at) {
    if (typeof here !== 'object' || here === null) return undefined;
    here = (here as Record<PropertyKey, unknown>)[key];
  }
  return here;
}

function setAt(root: Json, field: string, value: unknown): void {
  const keys = field.split('.');
  const last = keys.pop() as string;
  let here = root;
  for (const key of keys) {
    // A flag overrides the file: a nested field set by flag makes its parent an object.
    if (!isObject(here[key])) here[key] = {};
    here = here[key] as Json;
  }
  here[last] = value;
}

/** Reads `--request <file>`: one JSON object. Throws ConfigError naming the file. */
function readRequestFile(file: string): Json {
  let text: string;
  try {
    text = readFileSync(path.resolve(file), 'utf8');
  } catch (err) {
    throw new ConfigError(`--request ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`--request ${file}: not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(data))
    throw new ConfigError(
      `--request ${file}: must hold one JSON object, the promotion request, e.g. {"commitSha":"3f9c1a2","changeClass":"A"}`,
    );
  return data;
}

/** A request as the command line gave it, and for every field what the user typed to give it. */
export class CommandLineRequest {
  /** The workflow's input: the file's fields with the flags' over them, and the operator. */
  readonly input: Json;
  readonly operatorSource: OperatorSource;
  private readonly fromFile: Json | undefined;
  private readonly flagged = new Set<string>();

  constructor(
    command: Command,
    /** `--request`, as typed. */
    readonly file: string | undefined,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    const fromFile = file === undefined ? undefined : readRequestFile(file);
    this.fromFile = fromFile;
    const input: Json = structuredClone(fromFile ?? {});
    for (const row of REQUEST_FLAGS) {
      const value = command.getOptionValue(attributeOf(row));
      if (value === undefined) continue;
      setAt(input, row.field, value);
      this.flagged.add(row.field);
    }
    if (this.flagged.has('operator')) this.operatorSource = 'flag';
    else if (fromFile?.operator !== undefined) this.operatorSource = 'file';
    else if (env.RELEASE_PROMOTER_IDENTITY) {
      this.operatorSource = 'env';
      input.operator = env.RELEASE_PROMOTER_IDENTITY;
    } else {
      this.operatorSource = 'os';
      input.operator = os.userInfo().username;
    }
    this.input = input;
  }

  /** Whether the request gives this (dotted) field at all, by flag or file. */
  gives(field: string): boolean {
    return valueAt(this.input, field.split('.')) !== undefined;
  }

  /** Whether the field's value came from the file (not overridden by a flag). */
  fromTheFile(field: string): boolean {
    return !this.flagged.has(field) && valueAt(this.fromFile, field.split('.')) !== undefined;
  }

  /**
   * What the user typed to give the field at `at` (a zod issue path): its flag, `<file>: a.b` for a
   * field the file gave (or one only a file can name), RELEASE_PROMOTER_IDENTITY or the OS user
   * for the operator. A field nobody gave is named by its flag: that is how to give it.
   */
  label(at: readonly PropertyKey[]): string {
    const keys = at.map(String);
    const row = REQUEST_FLAGS.filter((r) => r.field.split('.').every((key, i) => keys[i] === key)).sort(
      (a, b) => b.field.length - a.field.length,
    )[0];
    const inFile = `${this.file}: ${keys.join('.') || '(request)'}`;
    if (row?.field === 'operator' && this.operatorSource === 'env') return 'RELEASE_PROMOTER_IDENTITY';
    if (row?.field === 'operator' && this.operatorSource === 'os')
      return 'operator (the OS user; set RELEASE_PROMOTER_IDENTITY or --operator)';
    if (row && this.flagged.has(row.field)) {
      const depth = row.field.split('.').length;
      // An item of a list flag: `--optional-gates "Bad"`.
      return keys.length > depth ? `${row.flag} ${JSON.stringify(valueAt(this.input, at))}` : row.flag;
    }
    if (this.file !== undefined && (valueAt(this.fromFile, at) !== undefined || !row)) return inFile;
    // A nested field missing where the file gave its siblings is the file's to complete.
    if (this.file !== undefined && row && at.length > 1 && valueAt(this.fromFile, at.slice(0, -1)) !== undefined)
      return inFile;
    return row ? row.flag : keys.join('.') || '(request)';
  }

  /** `label` of a dotted field name. */
  labelOf(field: string): string {
    return this.label(field.split('.'));
  }

  /** How to leave a field out: `omit --repo`, or `remove repo from file.json`. */
  omit(field: string): string {
    return this.fromTheFile(field) ? `remove ${field} from ${this.file}` : `omit ${flagOf(field).flag}`;
  }

  /** The zod issues in the user's words: `--commit: must be …; file.json: approval.minApprovals: …`. */
  describeIssues(error: z.ZodError): string {
    return error.issues
      .flatMap((issue) => {
        if (issue.code === 'unrecognized_keys')
          return issue.keys.map(
            (key) => `${this.label([...issue.path, key])}: is not a known setting; remove it or fix its spelling`,
          );
        const missing = issue.code === 'invalid_type' && valueAt(this.input, issue.path) === undefined;
        return [`${this.label(issue.path)}: ${missing ? this.required(issue.path) : this.inFlags(issue.message)}`];
      })
      .join('; ');
  }

  /** Why a missing field is needed and how to give it. */
  private required(at: readonly PropertyKey[]): string {
    const field = at.map(String).join('.');
    const flag = byField.get(field)?.flag;
    if (!flag) return 'is required';
    if (at.length > 1) {
      const group = String(at[0]);
      const rows = REQUEST_FLAGS.filter((r) => r.field.startsWith(`${group}.`));
      const given = rows.filter((r) => this.gives(r.field) && !this.fromTheFile(r.field)).map((r) => r.flag);
      if (this.label(at) !== flag)
        return `is required: ${group} needs ${rows.map((r) => r.field.slice(group.length + 1)).join(', ')}; set it in ${this.file} or give ${flag}`;
      if (!given.length) return 'is required';
      return `is required with ${given.join(' and ')} (${group} needs all of ${rows.map((r) => r.flag).join(', ')})`;
    }
    return this.file === undefined ? 'is required' : `is required: give ${flag} or ${field} in ${this.file}`;
  }

  /** A schema message naming another field (`must differ from fromBranch`) names it as the user gave it. */
  inFlags(message: string): string {
    return message.replace(/\b[a-z]+[A-Z][A-Za-z]*\b/g, (name) =>
      byField.has(name) && !this.fromTheFile(name) ? flagOf(name).flag : name,
    );
  }
}
