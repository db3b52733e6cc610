// Repo locations (SPEC §3 Input "repo"): which spellings are refused and why, and the one
// canonical spelling of each remote (a target's identity depends on it). Pure: no git runs here.
import { describeIssues, parseRepoLocation, RepoLocation } from '../src/domain';

const WHITESPACE = 'must not contain whitespace or control characters';
const TRANSPORT =
  'must not use git\'s "<transport>::<address>" syntax (it runs a remote helper such as ext:: or fd::); give the URL itself, e.g. https://host/acme/chat.git';
const LEADING_DASH = 'must not start with "-" (it would be read as a git option)';
const BACKSLASH = 'must not contain a backslash; write the path with "/"';
const QUERY =
  'must not have a query or fragment: a "?access_token=…" would land in history and the ledger; configure a git credential helper on the worker instead';
const PERCENT = 'must not contain percent-encoding (%); write the path as it is, so one repo has one spelling';
const LOCAL_DASH = 'must not have a path component starting with "-" (git would read it as an option)';
const INSECURE = (scheme: string) =>
  `must not use ${scheme}:// (nothing authenticates the server, so anyone on the path can serve other commits); use https:// or ssh://`;
const FILE_HOST = 'must be file:///absolute/path (three slashes, no host)';
const UNSUPPORTED = (scheme: string) =>
  `uses unsupported scheme "${scheme}://" (use an absolute path, file://, https://, ssh:// or user@host:path)`;
const CREDENTIALS =
  'must not carry credentials (they would land in history and the ledger); configure a git credential helper or SSH agent on the worker instead';
const AT_IN_PATH = 'must use "@" only between the user name and the host';
const URL_DASH = 'must not have a host or user starting with "-" (ssh would read it as an option)';
const URL_HOST = (scheme: string) =>
  `must name a host as letters, digits, "." and "-" (e.g. ${scheme}://git.example.com/acme/chat.git)`;
const USER = 'must have a user name of letters, digits, ".", "_" and "-"';
const PORT = 'must have a port from 1 to 65535';
const PATH_DASH = 'must not have a path component starting with "-" (git or ssh would read it as an option)';
const DOTS =
  'must not have "." or ".." path segments; spell the path the remote knows it by, so one repo has one spelling';
const NO_PATH = 'must name a repository path, e.g. /srv/git/chat.git';
const RELATIVE =
  "must be an absolute path, file:///path, https://, ssh:// or user@host:path (a relative path would depend on the worker's directory)";
const SCP_DASH = 'must not have a host, user or path starting with "-" (ssh would read it as an option)';
const SCP_HOST = 'must name a host as letters, digits, "." and "-" (e.g. git@git.example.com:acme/chat.git)';
const SCHEME_HOST = (host: string) =>
  `reads as a host named "${host}"; write a URL with "://" (e.g. ${host.toLowerCase()}:///…) or user@host:path`;

describe('parseRepoLocation: local paths', () => {
  test.each([
    ['/srv/git/chat.git', '/srv/git/chat.git'],
    // Kept as written: symlinks and ".." are resolved by the activity that plans, on the worker.
    ['/srv/git/../git/chat.git', '/srv/git/../git/chat.git'],
    ['/srv/git/chat-', '/srv/git/chat-'],
    ['/srv/a-b/chat.git/', '/srv/a-b/chat.git/'],
    ['file:///srv/git/chat.git', '/srv/git/chat.git'],
    ['FILE:///srv/git/chat.git', '/srv/git/chat.git'],
    ['file:////srv', '//srv'],
  ])('%s is the local path %s', (repo, path) => {
    expect(parseRepoLocation(repo)).toEqual({ kind: 'local', path });
  });
});

describe('parseRepoLocation: remotes in their one canonical spelling', () => {
  test.each([
    ['https://git.example.com/acme/chat.git', 'https://git.example.com/acme/chat.git'],
    ['HTTPS://Git.Example.COM:443/Acme/chat.git/', 'https://git.example.com/Acme/chat.git'],
    ['https://git.example.com:8443/acme/chat.git', 'https://git.example.com:8443/acme/chat.git'],
    ['https://git.example.com:22/acme/chat.git', 'https://git.example.com:22/acme/chat.git'],
    ['https://git.example.com:8080/acme/chat.git', 'https://git.example.com:8080/acme/chat.git'],
    ['https://git.example.com/acme/chat', 'https://git.example.com/acme/chat'],
    ['https://a/b-c/d~e_f.g', 'https://a/b-c/d~e_f.g'],
    ['https://git.example.com/acme//chat.git//', 'https://git.example.com/acme/chat.git'],
    ['ssh://git.example.com/srv/chat.git', 'ssh://git.example.com/srv/chat.git'],
    ['SSH://Git.Example.com/srv/chat.git', 'ssh://git.example.com/srv/chat.git'],
    ['ssh://git@Git.Example.com:22/srv//git/chat.git', 'ssh://git@git.example.com/srv/git/chat.git'],
    ['ssh://Git@git.example.com/srv/chat.git', 'ssh://Git@git.example.com/srv/chat.git'],
    ['ssh://git@git.example.com:2222/srv/chat.git', 'ssh://git@git.example.com:2222/srv/chat.git'],
    ['ssh://git@git.example.com:2220/srv/chat.git', 'ssh://git@git.example.com:2220/srv/chat.git'],
    ['ssh://git.example.com:443/srv/chat.git', 'ssh://git.example.com:443/srv/chat.git'],
    ['ssh://host:1/x', 'ssh://host:1/x'],
    ['ssh://host:65535/x', 'ssh://host:65535/x'],
    ['ssh://git_user.x-y@host/~/chat.git', 'ssh://git_user.x-y@host/~/chat.git'],
    ['ssh://a.b-c.d/x', 'ssh://a.b-c.d/x'],
    // scp-style: an absolute (or ~) path reads as the ssh:// URL git would run.
    ['git@GIT.example.com:/srv/git/chat.git', 'ssh://git@git.example.com/srv/git/chat.git'],
    ['host:/srv//git/chat.git/', 'ssh://host/srv/git/chat.git'],
    ['git@git.example.com:~/chat.git', 'ssh://git@git.example.com/~/chat.git'],
    ['host:~user/chat.git', 'ssh://host/~user/chat.git'],
    ['host:~//x/', 'ssh://host/~/x'],
    // Relative to the login directory: no ssh:// spelling every server accepts, so kept scp-style.
    ['git@GitHub.com:acme/chat.git', 'git@github.com:acme/chat.git'],
    ['Git@host:Acme/chat.git', 'Git@host:Acme/chat.git'],
    ['host:acme//chat.git/', 'host:acme/chat.git'],
    ['host:chat-', 'host:chat-'],
    ['git-@host:chat.git', 'git-@host:chat.git'],
    ['git@https:acme/chat.git', 'git@https:acme/chat.git'],
    ['a:https://host/x', 'a:https:/host/x'],
  ])('%s is %s', (repo, canonical) => {
    expect(parseRepoLocation(repo)).toEqual({ kind: 'remote', canonical });
  });
});

describe('parseRepoLocation: refused spellings', () => {
  test.each([
    // Whitespace and control characters.
    [' /srv/git/chat.git', WHITESPACE],
    ['/srv/git/chat.git\n', WHITESPACE],
    ['/srv/git/ch\tat.git', WHITESPACE],
    ['/srv/\u0000x', WHITESPACE],
    ['/srv/\u001fx', WHITESPACE],
    ['/srv/\u007fx', WHITESPACE],
    ['/srv/\u0085x', WHITESPACE],
    ['/srv/\u009fx', WHITESPACE],
    ['/srv/\u2028x', WHITESPACE],
    ['/srv/\u2029x', WHITESPACE],
    // git's remote helpers, checked before anything else.
    ['ext::sh -c touch% /tmp/pwned', WHITESPACE],
    ['ext::sh', TRANSPORT],
    ['fd::0', TRANSPORT],
    ['https::https://github.com/acme/chat.git', TRANSPORT],
    ['-x::y', TRANSPORT],
    // Options, backslashes, queries, percent-encoding.
    ['-x', LEADING_DASH],
    ['--upload-pack=touch', LEADING_DASH],
    ['-u@host:x', LEADING_DASH],
    ['C:\\repos\\chat.git', BACKSLASH],
    ['https://github.com/acme/chat.git?access_token=x', QUERY],
    ['https://github.com/acme/chat.git#main', QUERY],
    ['/srv/git/chat.git?x', QUERY],
    ['https://git.example.com/acme/%2e%2e/chat.git', PERCENT],
    ['/srv/%2e%2e/chat.git', PERCENT],
    // Local paths.
    ['/srv/-x/chat.git', LOCAL_DASH],
    ['/srv/git/-chat.git', LOCAL_DASH],
    ['file:///srv/-x', LOCAL_DASH],
    // Schemes.
    ['git://git.example.com/acme/chat.git', INSECURE('git')],
    ['http://git.example.com/acme/chat.git', INSECURE('http')],
    ['HTTP://git.example.com/acme/chat.git', INSECURE('http')],
    ['file://otherhost/srv/git/chat.git', FILE_HOST],
    ['file://', FILE_HOST],
    ['ftp://git.example.com/x', UNSUPPORTED('ftp')],
    ['Git+SSH://git.example.com/x', UNSUPPORTED('git+ssh')],
    // Credentials and "@".
    ['https://ghs_token@github.com/acme/chat.git', CREDENTIALS],
    ['https://x-access-token:ghp_abc@github.com/acme/chat.git', CREDENTIALS],
    ['https://github.com/acme/chat@v1.git', CREDENTIALS],
    ['ssh://git:hunter2@git.example.com/srv/chat.git', CREDENTIALS],
    ['ssh://git.example.com/srv/chat@v1.git', AT_IN_PATH],
    ['ssh://git@git.example.com/srv/chat@v1.git', AT_IN_PATH],
    ['git:hunter2@git.example.com:acme/chat.git', CREDENTIALS],
    ['git@git.example.com:acme/chat@v1.git', AT_IN_PATH],
    ['host:a/b@c', AT_IN_PATH],
    // URL hosts, users and ports.
    ['ssh://-oProxyCommand=touch/x', URL_DASH],
    ['ssh://-u@host/x', URL_DASH],
    ['https://-host/x', URL_DASH],
    ['https://git_example.com/x', URL_HOST('https')],
    ['ssh://host-/x', URL_HOST('ssh')],
    ['ssh://a..b/x', URL_HOST('ssh')],
    ['ssh://host:abc/x', URL_HOST('ssh')],
    ['ssh://host:/x', URL_HOST('ssh')],
    ['ssh://host:123456/x', URL_HOST('ssh')],
    ['ssh:///srv/x', URL_HOST('ssh')],
    // With no path, the whole rest is the authority, and it is checked before the missing path.
    ['ssh://host-', URL_HOST('ssh')],
    ['ssh://git:pw@host', CREDENTIALS],
    ['ssh://g!t@host/x', USER],
    ['ssh://.git@host/x', USER],
    ['ssh://a@b@host/x', USER],
    ['ssh://host:0/x', PORT],
    ['ssh://host:00/x', PORT],
    ['ssh://host:022/x', PORT],
    ['ssh://host:65536/x', PORT],
    ['ssh://host:99999/x', PORT],
    ['ssh://host:0', PORT],
    // URL paths.
    ['https://git.example.com/acme/-chat.git', PATH_DASH],
    ['https://git.example.com/-x', PATH_DASH],
    ['https://git.example.com/acme/../chat.git', DOTS],
    ['https://git.example.com/./chat.git', DOTS],
    ['ssh://host/a/..', DOTS],
    ['https://git.example.com', NO_PATH],
    ['https://git.example.com/', NO_PATH],
    ['https://git.example.com//', NO_PATH],
    ['ssh://host/~', NO_PATH],
    ['ssh://host/~/', NO_PATH],
    // Neither a path nor a URL.
    ['sample-service.git', RELATIVE],
    ['../sample-service.git', RELATIVE],
    ['acme/chat.git:x', RELATIVE],
    ['', RELATIVE],
    // scp-style.
    ['host:-x', SCP_DASH],
    ['git@-host:x', SCP_DASH],
    ['git@git_host:x', SCP_HOST],
    [':x', SCP_HOST],
    ['host-:x', SCP_HOST],
    ['https:acme/chat.git', SCHEME_HOST('https')],
    ['HTTPS:acme/chat.git', SCHEME_HOST('HTTPS')],
    ['http:acme/chat.git', SCHEME_HOST('http')],
    ['file:srv/chat.git', SCHEME_HOST('file')],
    ['ssh:/srv/chat.git', SCHEME_HOST('ssh')],
    ['git:acme/chat.git', SCHEME_HOST('git')],
    ['g!t@host:x', USER],
    ['.git@host:x', USER],
    ['host:', NO_PATH],
    ['host:~', NO_PATH],
    ['host:a/../b', DOTS],
    ['host:./b', DOTS],
    ['host:a/-b', PATH_DASH],
  ])('%j is refused: %s', (repo, message) => {
    expect(parseRepoLocation(repo)).toEqual({ kind: 'refused', message });
  });
});

describe('RepoLocation', () => {
  const why = (repo: string): string => {
    const parsed = RepoLocation.safeParse(repo);
    return parsed.success ? `accepted ${parsed.data}` : describeIssues(parsed.error);
  };

  test('an accepted location is kept as written (the canonical spelling is the planning activity’s)', () => {
    expect(why('HTTPS://Git.Example.COM/acme/chat.git')).toBe('accepted HTTPS://Git.Example.COM/acme/chat.git');
    expect(why('/srv/git/chat.git')).toBe('accepted /srv/git/chat.git');
  });

  test('a refused location carries parseRepoLocation’s message', () => {
    expect(why('git://git.example.com/acme/chat.git')).toBe(`(request): ${INSECURE('git')}`);
  });

  test('a refused location is a custom zod issue, so describeIssues reads it as "field: message"', () => {
    const parsed = RepoLocation.safeParse('http://git.example.com/x');
    expect(parsed.success || parsed.error.issues.map((issue) => issue.code)).toEqual(['custom']);
  });

  test('an empty location is said to name no remote', () => {
    expect(why('')).toBe(`(request): must name a git remote; (request): ${RELATIVE}`);
  });

  test('500 characters are accepted and 501 refused with the length', () => {
    expect(why(`/${'r'.repeat(499)}`)).toBe(`accepted /${'r'.repeat(499)}`);
    expect(why(`/${'r'.repeat(500)}`)).toBe('(request): must be at most 500 characters');
  });
});
