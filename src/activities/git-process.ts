// The one way the worker runs git: a long-lived runner process (git-runner.js) that forks each
// git call, with an argument array (no shell), no prompts, bounded in time and output, and only
// the file, https and ssh transports. A failed call is a GitError carrying git's stderr; turning
// it into a typed failure is git-failures.ts's.
import { ChildProcess, fork } from 'node:child_process';
import path from 'node:path';

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

export function git(args: string[], options: { cwd?: string } = {}): Promise<string> {
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
      env: {
        ...process.env,
        GIT_ALLOW_PROTOCOL: GIT_ALLOWED_PROTOCOLS,
        GIT_TERMINAL_PROMPT: '0',
        GIT_ASKPASS: 'true',
        SSH_ASKPASS: 'true',
        LC_ALL: 'C',
      },
    });
  });
}
