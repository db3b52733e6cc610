// A sample git remote for the demo, tests and bench: a bare repository with `main` and
// `release`, plus a working clone to add commits with (good ones, or ones whose service.json
// breaks production).
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

function run(args: string[], cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      args,
      {
        cwd,
        timeout: 30_000,
        env: {
          ...process.env,
          GIT_AUTHOR_NAME: 'Sample Dev',
          GIT_AUTHOR_EMAIL: 'dev@example.com',
          GIT_COMMITTER_NAME: 'Sample Dev',
          GIT_COMMITTER_EMAIL: 'dev@example.com',
          GIT_CONFIG_NOSYSTEM: '1',
          GIT_TERMINAL_PROMPT: '0',
        },
      },
      (err, stdout, stderr) =>
        err ? reject(new Error(`git ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout.trim()),
    );
  });
}

export interface SampleRepo {
  /** The remote promotions push to (a bare repository). */
  bare: string;
  work: string;
  /** The first commit; main and release both start here. */
  base: string;
  /** Commits `files` on the work clone's current branch and pushes it to `main`; returns the sha. */
  commit(message: string, files?: Record<string, string>): Promise<string>;
  /** Moves `branch` in the remote to `sha` (someone else pushing). */
  forcePush(branch: string, sha: string): Promise<void>;
  tip(branch: string): Promise<string | null>;
  /** Reflog lines of `branch` in the bare remote, newest first. */
  reflog(branch: string): Promise<string[]>;
}

export const HEALTHY_SERVICE = JSON.stringify({ faults: {} }, null, 2);
/**
 * A commit whose deployment breaks production: the database check fails and chat answers 500.
 * Its new driver fails only against production's database, so a staging instance that follows
 * the source branch (environment "staging") runs it healthy.
 */
export const BROKEN_SERVICE = JSON.stringify(
  { faults: { dbDown: true, chatStatus: 500 }, faultsIn: ['production'] },
  null,
  2,
);

export async function createSampleRepo(dir: string): Promise<SampleRepo> {
  const bare = path.join(dir, 'sample-service.git');
  const work = path.join(dir, 'sample-service-work');
  await mkdir(dir, { recursive: true });
  await run(['init', '--quiet', '--bare', '--initial-branch=main', bare]);
  // The bare remote keeps a reflog, so tests can count pushes from outside the workflow.
  await run(['config', 'core.logAllRefUpdates', 'always'], bare);
  await run(['init', '--quiet', '--initial-branch=main', work]);
  await run(['remote', 'add', 'origin', bare], work);
  let counter = 0;
  const commit = async (message: string, files: Record<string, string> = {}) => {
    counter++;
    const all = { 'service.json': HEALTHY_SERVICE, ...files, [`changes/${counter}.txt`]: `${message}\n` };
    for (const [name, content] of Object.entries(all)) {
      await mkdir(path.dirname(path.join(work, name)), { recursive: true });
      await writeFile(path.join(work, name), content);
    }
    await run(['add', '--all'], work);
    await run(['commit', '--quiet', '-m', message], work);
    const sha = await run(['rev-parse', 'HEAD'], work);
    await run(['push', '--quiet', 'origin', 'HEAD:refs/heads/main'], work);
    return sha;
  };
  const base = await commit('initial sample service');
  await run(['push', '--quiet', 'origin', `${base}:refs/heads/release`], work);
  return {
    bare,
    work,
    base,
    commit,
    forcePush: async (branch, sha) => {
      await run(['push', '--quiet', '--force', 'origin', `${sha}:refs/heads/${branch}`], work);
    },
    tip: async (branch) => {
      try {
        return await run(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`], bare);
      } catch {
        return null;
      }
    },
    reflog: async (branch) => {
      const out = await run(['reflog', 'show', '--format=%H %gs', `refs/heads/${branch}`], bare);
      return out.split('\n').filter(Boolean);
    },
  };
}
