// A git ledger's remote for tests: a real bare repository in a temp dir, read and changed from
// outside the worker with git itself (a person's clone, a force-push, hooks that hold a push).
import { execFileSync, spawn, ChildProcess } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { GitLedgerLocation } from '../src/ledger/location';

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Someone',
  GIT_AUTHOR_EMAIL: 'someone@example.com',
  GIT_COMMITTER_NAME: 'Someone',
  GIT_COMMITTER_EMAIL: 'someone@example.com',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_TERMINAL_PROMPT: '0',
};

export function gitOut(args: string[], cwd?: string): string {
  return execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export const BRANCH = 'release-log';
export const LEDGER_FILE = 'RELEASE_LOG.md';

export interface LedgerRemote {
  bare: string;
  location: GitLedgerLocation;
  /** `git:<bare>#release-log:RELEASE_LOG.md` */
  spec: string;
  /** A file at the branch's tip, or null. */
  file(name?: string): string | null;
  tip(): string | null;
  /** Commits on the branch, oldest first. */
  commits(): string[];
  /** A person's clone of the branch: change it with `edit`, then it is pushed (force when asked). */
  commitByHand(edit: (work: string) => void, options?: { force?: boolean; message?: string }): string;
  /** A hook script in the remote (pre-receive, post-receive), as shell text. */
  hook(name: string, script: string): void;
}

export function createLedgerRemote(dir: string, name = 'ledger.git'): LedgerRemote {
  const bare = path.join(dir, name);
  gitOut(['init', '--quiet', '--bare', '--initial-branch=main', bare]);
  const location: GitLedgerLocation = { kind: 'git', remote: bare, branch: BRANCH, path: LEDGER_FILE };
  let clones = 0;
  const remote: LedgerRemote = {
    bare,
    location,
    spec: `git:${bare}#${BRANCH}:${LEDGER_FILE}`,
    file(file = LEDGER_FILE) {
      try {
        return gitOut(['--git-dir', bare, 'show', `refs/heads/${BRANCH}:${file}`]);
      } catch {
        return null;
      }
    },
    tip() {
      try {
        return gitOut(['--git-dir', bare, 'rev-parse', '--verify', `refs/heads/${BRANCH}`]).trim();
      } catch {
        return null;
      }
    },
    commits() {
      const tip = remote.tip();
      return tip ? gitOut(['--git-dir', bare, 'rev-list', '--reverse', tip]).split('\n').filter(Boolean) : [];
    },
    commitByHand(edit, options = {}) {
      const work = path.join(dir, `${name}-hand-${++clones}`);
      gitOut(['clone', '--quiet', '--branch', BRANCH, bare, work]);
      edit(work);
      gitOut(['add', '-A'], work);
      gitOut(['commit', '--quiet', '-m', options.message ?? 'by hand'], work);
      gitOut(['push', '--quiet', ...(options.force ? ['--force'] : []), 'origin', `HEAD:refs/heads/${BRANCH}`], work);
      return gitOut(['rev-parse', 'HEAD'], work).trim();
    },
    hook(hookName, script) {
      const file = path.join(bare, 'hooks', hookName);
      writeFileSync(file, `#!/bin/sh\n${script}\n`);
      chmodSync(file, 0o755);
    },
  };
  return remote;
}

/** The writer process (test/git-ledger-writer.ts): `count` entries at once, or one given entry. */
export function spawnWriter(
  location: GitLedgerLocation,
  gitCacheDir: string,
  prefix: string,
  count: number,
  releaseId?: string,
): ChildProcess {
  const root = path.resolve(__dirname, '..');
  return spawn(
    process.execPath,
    [
      '--require',
      'tsx/cjs',
      path.join(__dirname, 'git-ledger-writer.ts'),
      JSON.stringify(location),
      gitCacheDir,
      prefix,
      String(count),
      ...(releaseId ? [releaseId] : []),
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

export interface WriterRun {
  code: number | null;
  lines: Array<{ releaseId: string; workflowId: string; chainHead: string; appended: boolean }>;
  stderr: string;
}

export function finished(child: ChildProcess): Promise<WriterRun> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) =>
    child.on('close', (code) =>
      resolve({
        code,
        stderr,
        lines: stdout
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as WriterRun['lines'][number]),
      }),
    ),
  );
}
