// A git repo location as a request or the registry spells it: checked, and given its one
// canonical spelling for remotes (a target's identity depends on it; local paths are made real
// by the activity that plans, where the file system is). Workflow-safe: zod only.
import { z } from 'zod';

/**
 * How a repo location is spelled, once checked: a local path (made canonical by the activity
 * that plans a promotion, with the real path: symlinks and `..` are the file system's business)
 * or a remote with its one canonical spelling. `message` says what is wrong and what to do.
 */
export type RepoForm =
  { kind: 'local'; path: string } | { kind: 'remote'; canonical: string } | { kind: 'refused'; message: string };

const NO_CREDENTIALS =
  'must not carry credentials (they would land in history and the ledger); configure a git credential helper or SSH agent on the worker instead';
const REPO_HOST = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;
const REPO_USER = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/** Why a remote path is refused, or undefined. Remote paths are taken as written, so each repo must have one spelling. */
function remotePathProblem(repoPath: string): string | undefined {
  const segments = repoPath.split('/');
  if (segments.some((s) => s.startsWith('-')))
    return 'must not have a path component starting with "-" (git or ssh would read it as an option)';
  if (segments.some((s) => s === '.' || s === '..'))
    return 'must not have "." or ".." path segments; spell the path the remote knows it by, so one repo has one spelling';
  if (!segments.some((s) => s !== '' && s !== '~')) return 'must name a repository path, e.g. /srv/git/chat.git';
  return undefined;
}

/** `/a//b/` → `/a/b`: a remote POSIX path has one spelling without repeated or trailing slashes. */
// Stryker disable next-line Regex: equivalent, runs of slashes were collapsed just before
const tidyPath = (repoPath: string): string => repoPath.replace(/\/{2,}/g, '/').replace(/(.)\/+$/, '$1');

/**
 * Checks a repo location and gives its canonical spelling (remotes) or the path to resolve
 * (local). Accepted: an absolute path, `file:///path`, `https://host/path`, `ssh://[user@]host[:port]/path`
 * and scp-style `[user@]host:path`. Refused: git's `<transport>::<address>` (it runs helpers
 * such as ext:: and fd::), any component starting with "-", git:// and http:// (nothing
 * authenticates the server), a query or fragment, credentials, percent-encoding (a second
 * spelling of one path), backslashes and relative paths.
 *
 * Canonical remotes: scheme and host lowercased, default port dropped, no trailing slash;
 * `ssh://` on port 22 and scp-style with an absolute path (`host:/srv/x.git`) are one spelling
 * (`ssh://host/srv/x.git`), as git runs the same command for both. A `.git` suffix is kept as
 * given: whether `x` and `x.git` are one repo is the server's choice (GitHub says yes, a plain
 * ssh host says no), so they are two targets; a registry pins one spelling per environment.
 */
export function parseRepoLocation(repo: string): RepoForm {
  const refused = (message: string): RepoForm => ({ kind: 'refused', message });
  // eslint-disable-next-line no-control-regex -- control characters are exactly what must go
  if (/[\s\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(repo))
    return refused('must not contain whitespace or control characters');
  if (repo.includes('::'))
    return refused(
      'must not use git\'s "<transport>::<address>" syntax (it runs a remote helper such as ext:: or fd::); give the URL itself, e.g. https://host/acme/chat.git',
    );
  if (repo.startsWith('-')) return refused('must not start with "-" (it would be read as a git option)');
  if (repo.includes('\\')) return refused('must not contain a backslash; write the path with "/"');
  if (/[?#]/.test(repo))
    return refused(
      'must not have a query or fragment: a "?access_token=…" would land in history and the ledger; configure a git credential helper on the worker instead',
    );
  if (repo.includes('%'))
    return refused('must not contain percent-encoding (%); write the path as it is, so one repo has one spelling');
  if (repo.startsWith('/')) {
    if (repo.split('/').some((s) => s.startsWith('-')))
      return refused('must not have a path component starting with "-" (git would read it as an option)');
    return { kind: 'local', path: repo };
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(repo)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    const rest = repo.slice(scheme.length + 3);
    if (scheme === 'git' || scheme === 'http')
      return refused(
        `must not use ${scheme}:// (nothing authenticates the server, so anyone on the path can serve other commits); use https:// or ssh://`,
      );
    if (scheme === 'file') {
      // git ignores a file:// URL's host, so one is refused rather than read two ways.
      if (!rest.startsWith('/')) return refused('must be file:///absolute/path (three slashes, no host)');
      return parseRepoLocation(rest);
    }
    if (scheme !== 'https' && scheme !== 'ssh')
      return refused(
        `uses unsupported scheme "${scheme}://" (use an absolute path, file://, https://, ssh:// or user@host:path)`,
      );
    const slash = rest.indexOf('/');
    const authority = slash === -1 ? rest : rest.slice(0, slash);
    const repoPath = slash === -1 ? '' : rest.slice(slash);
    const at = authority.lastIndexOf('@');
    const user = at === -1 ? undefined : authority.slice(0, at);
    // On https any user part is a token in practice; on ssh a user name is fine, a password is not.
    if (scheme === 'https' ? repo.includes('@') : user?.includes(':')) return refused(NO_CREDENTIALS);
    if (repoPath.includes('@')) return refused('must use "@" only between the user name and the host');
    const hostPort = /^([^:]*)(?::([0-9]{1,5}))?$/.exec(authority.slice(at + 1));
    // Stryker disable next-line StringLiteral: equivalent, an empty host is refused below with the same message
    const host = hostPort?.[1] ?? '';
    const port = hostPort?.[2];
    if (host.startsWith('-') || user?.startsWith('-'))
      return refused('must not have a host or user starting with "-" (ssh would read it as an option)');
    if (!hostPort || !REPO_HOST.test(host))
      return refused(
        `must name a host as letters, digits, "." and "-" (e.g. ${scheme}://git.example.com/acme/chat.git)`,
      );
    if (user !== undefined && !REPO_USER.test(user))
      return refused('must have a user name of letters, digits, ".", "_" and "-"');
    // Stryker disable next-line ConditionalExpression: equivalent, a port below 1 is all zeros and starts with 0
    if (port !== undefined && (Number(port) < 1 || Number(port) > 65535 || port.startsWith('0')))
      return refused('must have a port from 1 to 65535');
    const problem = remotePathProblem(repoPath);
    if (problem) return refused(problem);
    const defaultPort = scheme === 'https' ? '443' : '22';
    const canonicalHost = `${host.toLowerCase()}${port === undefined || port === defaultPort ? '' : `:${port}`}`;
    return {
      kind: 'remote',
      canonical: `${scheme}://${user === undefined ? '' : `${user}@`}${canonicalHost}${tidyPath(repoPath)}`,
    };
  }
  // scp-style `[user@]host:path`: git reads it so when a ":" comes before any "/".
  const colon = repo.indexOf(':');
  if (colon === -1 || repo.slice(0, colon).includes('/')) {
    return refused(
      "must be an absolute path, file:///path, https://, ssh:// or user@host:path (a relative path would depend on the worker's directory)",
    );
  }
  const authority = repo.slice(0, colon);
  const repoPath = repo.slice(colon + 1);
  if (repoPath.includes('@'))
    return refused(/^[^/@]*@/.test(repoPath) ? NO_CREDENTIALS : 'must use "@" only between the user name and the host');
  const at = authority.lastIndexOf('@');
  const user = at === -1 ? undefined : authority.slice(0, at);
  const host = authority.slice(at + 1);
  if (host.startsWith('-') || user?.startsWith('-') || repoPath.startsWith('-'))
    return refused('must not have a host, user or path starting with "-" (ssh would read it as an option)');
  if (!REPO_HOST.test(host))
    return refused('must name a host as letters, digits, "." and "-" (e.g. git@git.example.com:acme/chat.git)');
  if (['file', 'http', 'https', 'ssh', 'git'].includes(host.toLowerCase()) && user === undefined)
    return refused(
      `reads as a host named "${host}"; write a URL with "://" (e.g. ${host.toLowerCase()}:///…) or user@host:path`,
    );
  if (user !== undefined && !REPO_USER.test(user))
    return refused('must have a user name of letters, digits, ".", "_" and "-"');
  const problem = remotePathProblem(repoPath);
  if (problem) return refused(problem);
  const prefix = `${user === undefined ? '' : `${user}@`}${host.toLowerCase()}`;
  // An absolute (or ~user) path reads the same as the ssh:// URL git would build; a path
  // relative to the login directory has no ssh:// spelling that every server accepts.
  if (repoPath.startsWith('/')) return { kind: 'remote', canonical: `ssh://${prefix}${tidyPath(repoPath)}` };
  if (repoPath.startsWith('~')) return { kind: 'remote', canonical: `ssh://${prefix}/${tidyPath(repoPath)}` };
  return { kind: 'remote', canonical: `${prefix}:${tidyPath(repoPath)}` };
}

/**
 * A git remote: an absolute path, file:///path, https://, ssh:// or scp-style `user@host:path`
 * (see parseRepoLocation). Credentials never belong here: they would land in history and the ledger.
 */
export const RepoLocation = z
  .string()
  .min(1, 'must name a git remote')
  .max(500, 'must be at most 500 characters')
  .superRefine((repo, ctx) => {
    const form = parseRepoLocation(repo);
    if (form.kind === 'refused') ctx.addIssue({ code: 'custom', message: form.message });
  });
