// Git for promotions: the canonical repo (a target's identity), the cache clone, resolving a
// commit on the source branch, reading a branch tip and moving the release branch with a lease.
// git itself runs through git-process.ts; its failures are typed by git-failures.ts.
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, realpath, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { parseRepoLocation } from '../domain';
import { failure, retryableFailure } from '../failures';
import { gitComplaint, redactGitText, typedGit } from './git-failures';
import { git, GitError } from './git-process';

/**
 * The canonical spelling of a repo: the target's identity (its lock, cache clone, drift
 * reference and last known good) and what git is given. A local repo (an absolute path or
 * file:///path) is its real path, so `/srv/x.git`, `file:///srv/x.git`, `/srv/x.git/../x.git`
 * and a symlink to it are one target; a remote is parseRepoLocation's canonical URL. Throws
 * `refusal` (naming repo) for a repo validation refuses or a local path that does not exist.
 */
export async function canonicalRepo(
  repo: string,
  refusal: 'InvalidPromotionRequest' | 'InvalidRollbackRequest',
  options: { readBefore?: boolean } = {},
): Promise<string> {
  const form = parseRepoLocation(repo);
  if (form.kind === 'refused') throw failure(refusal, `repo: ${form.message}`);
  if (form.kind === 'remote') return form.canonical;
  try {
    return await realpath(form.path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // `readBefore`: the path comes from a workflow that read the repo there (a compensating
    // rollback's parent): gone now is an outage (a mount, a rename), retried like any other.
    if (options.readBefore)
      throw retryableFailure(
        'RepoUnreachable',
        `${redactGitText(form.path)} cannot be resolved on the worker (${code ?? 'error'}), though the promotion read it there; retried a few times before the rollback gives up`,
      );
    throw failure(
      refusal,
      `repo: ${redactGitText(form.path)} ${code === 'ENOENT' || code === 'ENOTDIR' ? 'does not exist on the worker' : `cannot be resolved on the worker (${code ?? 'error'})`}; check the path`,
    );
  }
}

// The cache clone's cross-process lock: held for a whole fetch, which may take a while on a big
// repo or a slow link, so the holder refreshes it every CACHE_LOCK_UPDATE_MS and only a lock left
// CACHE_LOCK_STALE_MS without a refresh (its process died) is taken over. Waiters poll for about
// two minutes (600 tries, backing off to 200 ms), the git activities' start-to-close: past that,
// the attempt fails and the activity's retry policy decides.
const CACHE_LOCK_STALE_MS = 30_000;
const CACHE_LOCK_UPDATE_MS = 5_000;
const CACHE_LOCK_RETRIES = { retries: 600, minTimeout: 20, maxTimeout: 200 };

/**
 * The cache clone for a remote: one bare repository per remote under `cacheDir`, used under a
 * cross-process lock so two activities (or two workers) never fetch into it at once.
 */
export async function withCacheClone<T>(cacheDir: string, repo: string, work: (dir: string) => Promise<T>): Promise<T> {
  const dir = path.join(cacheDir, `${createHash('sha256').update(repo).digest('hex').slice(0, 24)}.git`);
  await mkdir(cacheDir, { recursive: true });
  try {
    await stat(dir);
  } catch {
    // Build it beside and rename, so a crash never leaves a half-made cache behind.
    const partial = `${dir}.${process.pid}.${randomUUID()}.partial`; // unique even for two calls in one ms
    try {
      await git(['init', '--bare', '--quiet', '--template=', partial]); // no sample hooks: nothing runs in the cache
    } catch (err) {
      // The worker's own disk, not the remote: no GitError, so it is never read as the repo's refusal.
      throw new Error(
        `cannot create a git cache clone in ${cacheDir} (${err instanceof GitError ? gitComplaint(err) : String(err)}); check GIT_CACHE_DIR`,
        { cause: err },
      );
    }
    try {
      await rename(partial, dir);
    } catch {
      await rm(partial, { recursive: true, force: true }); // another process won the race
    }
  }
  const release = await lockfile.lock(dir, {
    stale: CACHE_LOCK_STALE_MS,
    update: CACHE_LOCK_UPDATE_MS,
    retries: CACHE_LOCK_RETRIES,
    realpath: false,
  });
  try {
    return await work(dir);
  } finally {
    await release().catch(() => undefined);
  }
}

/** Fetches the branches into the cache in one call; `field` names the request field a missing branch came from. */
async function fetchBranches(
  dir: string,
  repo: string,
  wanted: Array<{ field: string; branch: string }>,
): Promise<void> {
  const branches = [...new Set(wanted.map((w) => w.branch))];
  try {
    await git(
      [
        'fetch',
        '--quiet',
        '--no-tags',
        '--force',
        '--',
        repo,
        ...branches.map((b) => `+refs/heads/${b}:refs/remotes/cache/${b}`),
      ],
      { cwd: dir, remote: repo },
    );
  } catch (err) {
    const stderr = err instanceof GitError ? err.stderr : '';
    const missing = /couldn't find remote ref (?:refs\/heads\/)?(\S+)/i.exec(stderr)?.[1];
    if (missing !== undefined) {
      const { field, branch } =
        wanted.find((w) => w.branch === missing) ?? (wanted[0] as { field: string; branch: string });
      throw failure(
        'InvalidPromotionRequest',
        `${field}: branch "${branch}" does not exist in ${redactGitText(repo)}; name an existing branch (a new release branch is created by hand first, e.g. git push <repo> <sha>:refs/heads/${branch})`,
      );
    }
    throw err; // typedGit types it: a refusal, or transport trouble the activity's bounded retry policy decides
  }
}

async function objectExists(dir: string, sha: string): Promise<boolean> {
  try {
    await git(['cat-file', '-e', `${sha}^{commit}`], { cwd: dir });
    return true;
  } catch {
    return false;
  }
}

/** Whether `ancestor` is an ancestor of `descendant`; 'missing' when the cache lacks either commit. */
async function isAncestor(dir: string, ancestor: string, descendant: string): Promise<boolean | 'missing'> {
  try {
    await git(['merge-base', '--is-ancestor', ancestor, descendant], { cwd: dir });
    return true;
  } catch (err) {
    if (err instanceof GitError && err.exitCode === 1) return false;
    if (err instanceof GitError && err.exitCode === 128) return 'missing';
    throw err;
  }
}

/**
 * Resolves a 7–40 hex sha to the full commit and checks it is reachable from `fromBranch`, and
 * that `toBranch` (the branch a promotion will move) exists: a mistyped name must be refused,
 * not pushed as a new branch. Throws CommitNotOnSourceBranch, InvalidPromotionRequest (repo or
 * branch unreadable, ambiguous sha).
 */
export async function resolveCommit(
  cacheDir: string,
  args: { repo: string; fromBranch: string; toBranch?: string; commitSha: string },
): Promise<string> {
  const shown = redactGitText(args.repo);
  return typedGit(args.repo, 'InvalidPromotionRequest', () =>
    withCacheClone(cacheDir, args.repo, async (dir) => {
      await fetchBranches(dir, args.repo, [
        { field: 'fromBranch', branch: args.fromBranch },
        ...(args.toBranch ? [{ field: 'toBranch', branch: args.toBranch }] : []),
      ]);
      // One git call answers both questions: the merge base of the commit and the branch is the
      // commit itself (its full sha, starting with the given prefix) exactly when the branch
      // contains it. An unknown or ambiguous sha is an error instead.
      let base: string;
      try {
        base = (
          await git(
            ['merge-base', '--end-of-options', `${args.commitSha}^{commit}`, `refs/remotes/cache/${args.fromBranch}`],
            { cwd: dir },
          )
        ).trim();
      } catch (err) {
        if (err instanceof GitError && /ambiguous/i.test(err.stderr)) {
          throw failure(
            'InvalidPromotionRequest',
            `commitSha: "${args.commitSha}" is ambiguous in ${shown}; give more characters of the sha`,
          );
        }
        if (err instanceof GitError && err.exitCode === 1)
          base = ''; // unrelated histories: no merge base
        else {
          throw failure(
            'CommitNotOnSourceBranch',
            `commit ${args.commitSha} is not on ${args.fromBranch} in ${shown}; merge it to ${args.fromBranch} first, or check the sha`,
          );
        }
      }
      if (!base.startsWith(args.commitSha.toLowerCase())) {
        throw failure(
          'CommitNotOnSourceBranch',
          `commit ${args.commitSha} is not reachable from ${args.fromBranch} in ${shown}; merge it to ${args.fromBranch} first`,
        );
      }
      return base;
    }),
  );
}

/** The commit a branch points at in the remote, or null when the branch does not exist. */
export async function readBranchTip(args: { repo: string; branch: string }): Promise<string | null> {
  // Read after admission (under the lock, for the ledger, by the CLI): a refusal is no longer the request's.
  const out = await typedGit(args.repo, 'RepoUnreachable', () =>
    git(['ls-remote', '--heads', '--', args.repo, `refs/heads/${args.branch}`], { remote: args.repo }),
  );
  const line = out.split('\n').find((l) => l.endsWith(`\trefs/heads/${args.branch}`));
  return line ? (line.split('\t')[0] ?? null) : null;
}

/**
 * Whether `sha` is on `branch` and descends from (or is) `ancestor`: staging that deploys the
 * source branch's tip runs a descendant of the commit being promoted, and a newer promotion may
 * supersede only promotions of its commit's ancestors. Anything that is not a full sha, or a
 * commit the branch lacks, is not. Throws RepoUnreachable (retryable) when the remote cannot be read.
 */
export async function descendsOnBranch(
  cacheDir: string,
  args: { repo: string; branch: string; ancestor: string; sha: string },
): Promise<boolean> {
  if (!/^[0-9a-f]{40}$/.test(args.sha) || !/^[0-9a-f]{40}$/.test(args.ancestor)) return false;
  return typedGit(args.repo, 'RepoUnreachable', () =>
    withCacheClone(cacheDir, args.repo, async (dir) => {
      await fetchBranches(dir, args.repo, [{ field: 'fromBranch', branch: args.branch }]);
      if (!(await objectExists(dir, args.sha))) return false;
      return (
        (await isAncestor(dir, args.sha, `refs/remotes/cache/${args.branch}`)) === true &&
        (await isAncestor(dir, args.ancestor, args.sha)) === true
      );
    }),
  );
}

export interface MoveBranchArgs {
  repo: string;
  branch: string;
  /** The tip the caller saw; the push only lands if the branch is still there. */
  expectedTip: string | null;
  targetSha: string;
  /** Where to fetch `targetSha` from when this worker's cache lacks it. */
  sourceBranch: string;
  allowDowngrade: boolean;
}

export interface MoveBranchResult {
  /** false when the branch was already on the target (a retry after a push that landed). */
  pushed: boolean;
  downgrade: boolean;
}

/**
 * Moves `branch` from `expectedTip` to `targetSha` with a lease. Safe to retry: a branch already
 * on the target is success. Throws ReleaseBranchMoved (someone else moved it), DowngradeRefused.
 */
export async function moveBranch(cacheDir: string, args: MoveBranchArgs): Promise<MoveBranchResult> {
  return typedGit(args.repo, 'RepoUnreachable', () =>
    withCacheClone(cacheDir, args.repo, async (dir) => {
      const fetchBoth = () =>
        fetchBranches(dir, args.repo, [
          { field: 'toBranch', branch: args.branch },
          { field: 'fromBranch', branch: args.sourceBranch },
        ]);
      let downgrade = false;
      if (args.expectedTip === null) {
        if (!(await objectExists(dir, args.targetSha))) await fetchBoth();
      } else if (
        // Stryker disable next-line ConditionalExpression: equivalent, a commit is its own ancestor, so the same push follows
        args.expectedTip !== args.targetSha
      ) {
        // The lease below guarantees the branch is still on expectedTip when the push lands, so
        // the descendant check can be made against it without asking the remote first. The cache
        // usually holds both commits already (resolving the commit fetched them); if not, fetch once.
        let ancestor = await isAncestor(dir, args.expectedTip, args.targetSha);
        if (ancestor === 'missing') {
          await fetchBoth();
          ancestor = await isAncestor(dir, args.expectedTip, args.targetSha);
          if (ancestor === 'missing')
            throw new GitError(
              `git merge-base: ${args.expectedTip} or ${args.targetSha} is not in ${redactGitText(args.repo)}`,
              '',
              128,
            );
        }
        downgrade = !ancestor;
        if (downgrade && !args.allowDowngrade) {
          throw failure(
            'DowngradeRefused',
            `${args.targetSha} is not a descendant of ${args.branch}'s tip ${args.expectedTip}; moving there would drop commits. Set allowDowngrade: true to do it on purpose`,
          );
        }
      }
      const lease = `--force-with-lease=refs/heads/${args.branch}:${args.expectedTip ?? ''}`;
      try {
        const out = await git(
          ['push', '--porcelain', lease, '--', args.repo, `${args.targetSha}:refs/heads/${args.branch}`],
          { cwd: dir, remote: args.repo },
        );
        // "=" is git's porcelain flag for a ref already at the pushed value: a retry, nothing moved.
        // Stryker disable next-line Regex: equivalent, "=\t" starts a line only: the other lines are "To <repo>" and "Done"
        return { pushed: !/^=\t/m.test(out), downgrade };
      } catch (err) {
        // The lease failed: a retry of a push that already landed, or someone else moved the branch.
        const now = await readBranchTip({ repo: args.repo, branch: args.branch });
        if (now === args.targetSha) return { pushed: false, downgrade };
        if (now !== args.expectedTip) {
          throw failure(
            'ReleaseBranchMoved',
            `${args.branch} moved from ${args.expectedTip ?? '(none)'} to ${now ?? '(deleted)'} while this promotion ran; nothing was overwritten. Check who moved it, then start a new promotion`,
          );
        }
        throw err; // transport trouble: typed by typedGit, retried by the activity's policy
      }
    }),
  );
}
