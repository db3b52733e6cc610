// Where the ledger lives (SPEC §6 "Two sinks, one format"): a file on the worker's disk, or a file
// in a git branch (`git:<remote>#<branch>:<path>`). Parsed once, here, for the worker's
// RELEASE_LEDGER and for every command that is given a ledger to read.
import path from 'node:path';
import { z } from 'zod';
import { parseRepoLocation } from '../domain';
import { redact } from '../redact';

export type LedgerLocation = FileLedgerLocation | GitLedgerLocation;

export interface FileLedgerLocation {
  kind: 'file';
  /** Absolute once resolved (resolveLedgerLocation); as written before. */
  path: string;
}

export interface GitLedgerLocation {
  kind: 'git';
  /** The remote as git is given it: an absolute path, or parseRepoLocation's canonical URL. */
  remote: string;
  branch: string;
  /** The ledger file's path inside the branch's tree (POSIX, relative); reservations are `<path>.reservations`. */
  path: string;
}

export const GIT_LEDGER_FORM = 'git:<remote>#<branch>:<path>';
const EXAMPLE = 'git:ssh://git@git.example.com/acme/chat.git#release-log:RELEASE_LOG.md';

/** Why `branch` is not a branch name git accepts (git check-ref-format --branch), or undefined. */
export function branchNameProblem(branch: string): string | undefined {
  if (branch === '') return 'the branch is empty';
  if (branch.length > 200) return 'the branch is longer than 200 characters';
  if (branch.startsWith('-')) return `branch "${branch}" starts with "-" (git would read it as an option)`;
  const components = branch.split('/');
  // eslint-disable-next-line no-control-regex -- control characters are exactly what git refuses
  const refused = /[\u0000-\u0020\u007f~^:?*[\\]/.test(branch);
  if (
    refused ||
    branch === '@' ||
    branch.includes('..') ||
    branch.includes('@{') ||
    branch.endsWith('.') ||
    components.some((c) => c === '' || c.startsWith('.') || c.endsWith('.lock'))
  )
    return `branch "${branch}" is not a valid git branch name (git check-ref-format: no "..", "@{", "//", spaces, ~ ^ : ? * [ \\, a component starting with "." or ending in ".lock", a trailing "/" or ".")`;
  return undefined;
}

/** Why `file` is not a path inside a repo's tree the ledger may live at, or undefined. */
function treePathProblem(file: string): string | undefined {
  if (file === '') return 'the path is empty';
  if (file.startsWith('/')) return `path "${file}" is absolute; give it relative to the repository's root`;
  const segments = file.split('/');
  if (segments.some((s) => s === '..' || s === '.'))
    return `path "${file}" has "." or ".." segments (it must stay inside the repository, spelled one way)`;
  if (segments.some((s) => s === '')) return `path "${file}" has an empty segment ("//" or a trailing "/")`;
  if (segments.some((s) => s.toLowerCase() === '.git')) return `path "${file}" goes through ".git"`;
  if (!segments.every((s) => /^[A-Za-z0-9_@+,=-][A-Za-z0-9._@+,=-]*$/.test(s)))
    return `path "${file}" may use only A-Z a-z 0-9 . _ @ + , = - and "/" (no segment starting with ".")`;
  return undefined;
}

/** The git form's parts, or what is wrong with them. */
function parseGitForm(rest: string): GitLedgerLocation | string {
  // A remote never holds "#" (parseRepoLocation refuses fragments) and a branch never holds ":",
  // so the first "#" and the first ":" after it split the form one way only.
  const hash = rest.indexOf('#');
  if (hash === -1) return 'no "#<branch>" after the remote';
  const remoteText = rest.slice(0, hash);
  const after = rest.slice(hash + 1);
  const colon = after.indexOf(':');
  if (colon === -1) return 'no ":<path>" after the branch';
  const branch = after.slice(0, colon);
  const file = after.slice(colon + 1);
  if (remoteText === '') return 'the remote is empty';
  const remote = parseRepoLocation(remoteText);
  if (remote.kind === 'refused') return `the remote ${remote.message}`;
  const problem = branchNameProblem(branch) ?? treePathProblem(file);
  if (problem) return problem;
  return { kind: 'git', remote: remote.kind === 'local' ? remote.path : remote.canonical, branch, path: file };
}

/**
 * RELEASE_LEDGER's value (or a command's ledger argument): a file path, or
 * `git:<remote>#<branch>:<path>`. A file path stays as written: resolveLedgerLocation makes it
 * absolute against the directory it is relative to.
 */
export const LedgerLocationText = z
  .string()
  .min(1, `must be a path or ${GIT_LEDGER_FORM}`)
  .transform((text, ctx): LedgerLocation => {
    if (!text.startsWith('git:')) return { kind: 'file', path: text };
    const parsed = parseGitForm(text.slice('git:'.length));
    if (typeof parsed !== 'string') return parsed;
    ctx.addIssue({
      code: 'custom',
      message: `${redact(parsed)}; expected a path or ${GIT_LEDGER_FORM}, e.g. ${EXAMPLE}`,
    });
    return z.NEVER;
  });

/** A file location made absolute against `cwd`; a git location as it is. */
export function resolveLedgerLocation(location: LedgerLocation, cwd: string): LedgerLocation {
  return location.kind === 'file' ? { kind: 'file', path: path.resolve(cwd, location.path) } : location;
}

/**
 * Parses a ledger location given by `variable` (RELEASE_LEDGER, a command's argument), resolved
 * against `cwd`. Throws `makeError(message)` naming the variable and the expected form.
 */
export function parseLedgerLocation<E extends Error>(
  text: string,
  variable: string,
  cwd: string,
  makeError: (message: string) => E,
): LedgerLocation {
  const parsed = LedgerLocationText.safeParse(text);
  if (!parsed.success) throw makeError(`${variable}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  return resolveLedgerLocation(parsed.data, cwd);
}

/**
 * The location as messages and commands spell it: the path, or the `git:` form (its remote holds
 * no credentials: parseRepoLocation refuses them, so it can be shown as it is).
 */
export function ledgerName(location: LedgerLocation): string {
  if (location.kind === 'file') return location.path;
  return `git:${location.remote}#${location.branch}:${location.path}`;
}

/** Whether two locations name one ledger (RELEASE_LEDGER and RELEASE_LEDGER_PATH both set). */
export function sameLedger(a: LedgerLocation, b: LedgerLocation): boolean {
  if (a.kind === 'file' || b.kind === 'file') return a.kind === b.kind && a.path === b.path;
  return a.remote === b.remote && a.branch === b.branch && a.path === b.path;
}
