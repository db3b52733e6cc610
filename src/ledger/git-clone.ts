// The git ledger's side of git: a cache clone of the ledger's remote (under GIT_CACHE_DIR/ledger,
// apart from the promotions' clones), the branch fetched into it, the two files read at a commit,
// and a commit that appends to them pushed with a lease. git runs as everywhere else in the worker
// (git-process.ts: argument arrays, no prompts, allowed transports only); its complaints are
// redacted before they go anywhere.
import { randomUUID } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { withCacheClone } from '../activities/git';
import { gitComplaint } from '../activities/git-failures';
import { git, GitError } from '../activities/git-process';
import { retryableFailure } from '../failures';
import { ledgerName, type GitLedgerLocation } from './location';
import { inLocalQueue } from './local-queue';

/** The branch's tip and the two files as they are there (null: no such branch, or no such file). */
export interface GitLedgerSnapshot {
  tip: string | null;
  ledger: string | null;
  reservations: string | null;
}

/** The commits that write the ledger name the worker, never a person or a credential. */
const IDENTITY = ['-c', 'user.name=release-promoter', '-c', 'user.email=release-promoter@localhost'];

export const reservationsPathOf = (location: GitLedgerLocation) => `${location.path}.reservations`;
const localRef = (location: GitLedgerLocation) => `refs/ledger/${location.branch}`;

/**
 * Runs `work` with the ledger's cache clone to itself: one at a time in this process (queued),
 * and across processes on this host by the clone's lock. Anything that fails on the way leaves
 * as the retryable LedgerUnwritable naming the ledger (see gitLedgerFailure).
 */
export async function withLedgerClone<T>(
  location: GitLedgerLocation,
  gitCacheDir: string,
  doing: string,
  work: (dir: string) => Promise<T>,
): Promise<T> {
  const cacheDir = path.join(gitCacheDir, 'ledger');
  return inLocalQueue(`git-ledger\0${cacheDir}\0${location.remote}`, async () => {
    try {
      return await withCacheClone(cacheDir, location.remote, work);
    } catch (err) {
      throw gitLedgerFailure(err, location, doing);
    }
  });
}

/**
 * Any error of the git ledger as the typed, retryable LedgerUnwritable: the ledger's name and
 * git's first complaint, both redacted. Typed failures pass through unchanged. Retryable even when
 * the remote refuses the credentials: an entry is never given up, and the fix (the worker's
 * credentials, the remote's permissions) lets the retry through.
 */
export function gitLedgerFailure(err: unknown, location: GitLedgerLocation, doing: string, outcome?: string): Error {
  if (err instanceof ApplicationFailure) return err;
  const name = ledgerName(location);
  const complaint = err instanceof GitError ? gitComplaint(err) : ((err as Error)?.message ?? String(err));
  return retryableFailure(
    'LedgerUnwritable',
    `the git ledger ${name} could not be used (${doing}): ${complaint}; ${outcome ?? 'nothing was written'}. ` +
      `Check the remote, the branch and the worker's git credentials; the attempt is retried. Check the ledger with: release-promoter ledger verify ${name}`,
    { location: name, doing },
  );
}

/** Fetches the branch into the clone: its tip, or null when the remote has no such branch. */
export async function fetchBranch(dir: string, location: GitLedgerLocation): Promise<string | null> {
  const ref = localRef(location);
  try {
    await git(
      ['fetch', '--quiet', '--no-tags', '--force', '--', location.remote, `+refs/heads/${location.branch}:${ref}`],
      { cwd: dir, remote: location.remote },
    );
  } catch (err) {
    if (err instanceof GitError && /couldn't find remote ref/i.test(err.stderr)) {
      await git(['update-ref', '-d', ref], { cwd: dir }).catch(() => undefined);
      return null;
    }
    throw err;
  }
  return (await git(['rev-parse', '--verify', `${ref}^{commit}`], { cwd: dir })).trim();
}

/** The blobs at `paths` in `commit`'s tree; a path that is not there is missing from the map. */
export async function blobsAt(dir: string, commit: string, paths: string[]): Promise<Map<string, string>> {
  const out = await git(['ls-tree', '-z', '--full-tree', commit, '--', ...paths], { cwd: dir });
  const blobs = new Map<string, string>();
  for (const record of out.split('\0')) {
    if (!record) continue;
    const [meta, file] = record.split('\t') as [string, string];
    const [mode, type, sha] = meta.split(' ') as [string, string, string];
    if (type !== 'blob' || mode !== '100644')
      throw new Error(`${file} at ${commit} is not a regular file (mode ${mode}, ${type}); the ledger must be one`);
    blobs.set(file, sha);
  }
  return blobs;
}

export async function readBlob(dir: string, sha: string): Promise<string> {
  return git(['cat-file', 'blob', sha], { cwd: dir });
}

/**
 * The branch as it is on the remote now: fetched, then both files read at its tip. Always read,
 * also right after this process's own push: a writer that skipped the reads would be the quicker
 * in every race and starve the others.
 */
export async function fetchSnapshot(dir: string, location: GitLedgerLocation): Promise<GitLedgerSnapshot> {
  const tip = await fetchBranch(dir, location);
  if (tip === null) return { tip, ledger: null, reservations: null };
  const blobs = await blobsAt(dir, tip, [location.path, reservationsPathOf(location)]);
  const read = (file: string) => {
    const sha = blobs.get(file);
    return sha === undefined ? Promise.resolve(null) : readBlob(dir, sha);
  };
  const [ledger, reservations] = await Promise.all([read(location.path), read(reservationsPathOf(location))]);
  return { tip, ledger, reservations };
}

/** A commit on `parent` (null: the branch's first) whose tree is the parent's with `files` set to new contents. */
export async function commitFiles(
  dir: string,
  parent: string | null,
  files: Map<string, string>,
  message: string,
): Promise<string> {
  // The clone is ours alone while we hold it (withLedgerClone), so its index file is too.
  await git(parent ? ['read-tree', parent] : ['read-tree', '--empty'], { cwd: dir });
  for (const [file, text] of files) {
    const scratch = path.join(dir, `ledger-blob-${process.pid}-${randomUUID()}`);
    await writeFile(scratch, text, 'utf8');
    try {
      const blob = (await git(['hash-object', '-w', '--no-filters', '--', scratch], { cwd: dir })).trim();
      await git(['update-index', '--add', '--cacheinfo', `100644,${blob},${file}`], { cwd: dir });
    } finally {
      await rm(scratch, { force: true });
    }
  }
  const tree = (await git(['write-tree'], { cwd: dir })).trim();
  return (
    await git([...IDENTITY, 'commit-tree', tree, ...(parent ? ['-p', parent] : []), '-m', message], { cwd: dir })
  ).trim();
}

// What git says when the branch moved under the lease, or another push won the ref's lock at the
// same moment: another writer was first, so read again and retry. Any other refusal (a hook, a
// protected branch) is not contention and is reported as it is.
const LOST_RACE =
  /\[rejected\]|\[remote rejected\].*\((?:cannot lock ref|failed to update ref|failed to lock|incorrect old value)/i;

/**
 * Pushes `commit` as the branch's new tip if the branch is still at `expected` (null: if it does
 * not exist yet): a compare-and-swap. 'lost' when another writer moved it first.
 */
export async function pushWithLease(
  dir: string,
  location: GitLedgerLocation,
  expected: string | null,
  commit: string,
): Promise<'pushed' | 'lost'> {
  const ref = `refs/heads/${location.branch}`;
  try {
    await git(['push', `--force-with-lease=${ref}:${expected ?? ''}`, '--', location.remote, `${commit}:${ref}`], {
      cwd: dir,
      remote: location.remote,
    });
  } catch (err) {
    if (err instanceof GitError && LOST_RACE.test(err.stderr)) return 'lost';
    throw err;
  }
  return 'pushed';
}
