// The one way the worker runs git: a long-lived runner process (git-runner.js) that forks each
// git call, with an argument array (no shell), no prompts, bounded in time and output, and only
// the file, https and ssh transports. A failed call is a GitError carrying git's stderr; turning
// it into a typed failure is git-failures.ts's.
import { ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import { parseRepoLocation } from '../domain/repo-location';

// Each git call ends within half of the git activities' 2-minute start-to-close
// (workflows/activity-proxies.ts): a call that hangs (a stalled network, an ssh host that never
// answers) fails as a GitError the activity retries, instead of the whole attempt timing out.
const GIT_TIMEOUT_MS = 60_000;
// git's output here is small (ls-remote of one ref, push porcelain, a merge-base); the bound only
// stops a misbehaving remote or helper from filling the runner's memory.
const GIT_MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

/**
 * The transports git may use, whatever a repo string says: request validation refuses the rest,
 * and this holds even if it is bypassed (a hand-edited registry, a future caller). It replaces
 * git's protocol.allow configuration, so ext::, fd::, git:// and http:// never run.
 */
export const GIT_ALLOWED_PROTOCOLS = 'file:https:ssh';

export class GitError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
    readonly exitCode: number | null,
  ) {
    super(message);
    this.name = 'GitError';
  }
}

interface RunnerReply {
  id: number;
  error?: string;
  code: number | null;
  stdout: string;
  stderr: string;
}

let runner: ChildProcess | undefined;
let nextId = 0;
const pending = new Map<number, { args: string[]; resolve: (stdout: string) => void; reject: (err: Error) => void }>();

/** The git runner process, started on first use; it holds the event loop only while calls are pending. */
function gitRunner(): ChildProcess {
  if (runner?.connected) return runner;
  const child = fork(path.join(__dirname, 'git-runner.js'), [], {
    execArgv: [],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  child.on('message', (reply: RunnerReply) => {
    const call = pending.get(reply.id);
    if (!call) return;
    pending.delete(reply.id);
    if (pending.size === 0) child.channel?.unref();
    // Not reply.error as the message: Node's "Command failed: git …" repeats every argument, the remote included.
    if (reply.error !== undefined)
      call.reject(
        new GitError(
          `git ${call.args[0]} failed: ${reply.stderr.trim() || `exit ${reply.code ?? 'by signal or timeout'}`}`,
          reply.stderr,
          reply.code,
        ),
      );
    else call.resolve(reply.stdout);
  });
  child.on('exit', () => {
    if (runner === child) runner = undefined;
    // Calls in flight fail as transport errors: the activity's retry policy runs them again.
    for (const [id, call] of pending) {
      pending.delete(id);
      call.reject(new GitError(`the git runner exited during git ${call.args[0]}`, '', null));
    }
  });
  child.unref();
  child.channel?.unref();
  runner = child;
  return child;
}

/**
 * Which remotes git may reach with the worker's credentials (its ssh agent and keys, GIT_SSH_COMMAND,
 * credential helpers and the rest of its git config, ~/.netrc): `all` until the worker says which
 * (the CLI, run by a person with their own credentials, never does), then only the remotes the
 * platform owner registered. A caller-chosen repo gets none of them, so a request cannot borrow
 * the worker's identity to read or write a repo its operator could not.
 */
let credentialedRemotes: ReadonlySet<string> | 'all' = 'all';

/** Restricts the worker's credentials to `remotes` (registered repos and the ledger's remote), in any spelling. */
export function useCredentialsOnlyFor(remotes: Iterable<string>): void {
  credentialedRemotes = new Set([...remotes].map(remoteKey));
}

function remoteKey(remote: string): string {
  const form = parseRepoLocation(remote);
  return form.kind === 'remote' ? form.canonical : form.kind === 'local' ? form.path : remote;
}

export function mayUseCredentials(remote: string | undefined): boolean {
  if (credentialedRemotes === 'all') return true;
  return remote !== undefined && credentialedRemotes.has(remoteKey(remote));
}

// Where the environment would hand git or ssh a credential or another config: dropped for an
// uncredentialed call. GIT_CONFIG_GLOBAL/NOSYSTEM below then drop helpers, extra headers and
// insteadOf rewrites from the worker's git config; a HOME of nothing drops ~/.netrc.
const CREDENTIAL_VARIABLES = [
  'SSH_AUTH_SOCK',
  'SSH_AGENT_PID',
  'GIT_SSH',
  'GIT_SSH_COMMAND',
  'GIT_SSH_VARIANT',
  'GIT_CONFIG',
  'GIT_CONFIG_COUNT',
  'GIT_CONFIG_PARAMETERS',
  'GIT_CONFIG_SYSTEM',
  'GIT_CONFIG_GLOBAL',
  'GIT_COOKIE_FILE',
  'XDG_CONFIG_HOME',
];

/** The environment of one git call: bounded transports and no prompts always, credentials only when `remote` may use them. */
export function gitEnvironment(remote: string | undefined, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = {
    ...env,
    GIT_ALLOW_PROTOCOL: GIT_ALLOWED_PROTOCOLS,
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: 'true',
    SSH_ASKPASS: 'true',
    LC_ALL: 'C',
  };
  if (mayUseCredentials(remote)) return base;
  for (const name of CREDENTIAL_VARIABLES) delete base[name];
  for (const name of Object.keys(base))
    if (name.startsWith('GIT_CONFIG_KEY_') || name.startsWith('GIT_CONFIG_VALUE_')) delete base[name];
  return {
    ...base,
    HOME: '/nonexistent',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    // No config file, no agent, no key: an ssh remote is reached anonymously or not at all.
    GIT_SSH_COMMAND: 'ssh -F /dev/null -o IdentityAgent=none -o IdentityFile=/dev/null -o BatchMode=yes',
  };
}

/** Runs git; `remote` names the remote this call talks to (none for local work), which decides its credentials. */
export function git(args: string[], options: { cwd?: string; remote?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = gitRunner();
    const id = nextId++;
    pending.set(id, { args, resolve, reject });
    child.channel?.ref();
    child.send({
      id,
      args,
      cwd: options.cwd,
      timeout: GIT_TIMEOUT_MS,
      maxBuffer: GIT_MAX_OUTPUT_BYTES,
      env: gitEnvironment(options.remote),
    });
  });
}
