// `ledger verify git:…`: everything `ledger verify` checks of the file at the branch's tip, and the
// branch's history commit by commit: one line of commits, each only appending to the ledger and its
// reservations (no other path, no byte of theirs changed). With --head, that the branch still holds
// an entry with that chain: a force-push that rewrote and re-chained the history has none.
import { git } from '../activities/git-process';
import { blobsAt, fetchBranch, readBlob, reservationsPathOf, withLedgerClone } from './git-clone';
import type { GitLedgerLocation } from './location';
import { LedgerProblem, LedgerVerifier, VerifyReport } from './verify';

export interface GitVerifyReport extends VerifyReport {
  tip: string;
  /** Commits checked, the first one included. */
  commits: number;
  /** A problem in the history names its commit (its line is 0). */
  problem?: LedgerProblem & { commit?: string };
}

/** Why a commit breaks the append-only rule, or undefined. `current` holds each file's text at the parent and is updated. */
async function commitProblem(
  dir: string,
  location: GitLedgerLocation,
  parent: string,
  commit: string,
  current: Map<string, string>,
): Promise<string | undefined> {
  const allowed = [location.path, reservationsPathOf(location)];
  const out = await git(['diff-tree', '-r', '-z', '--no-renames', '--no-commit-id', parent, commit], { cwd: dir });
  const fields = out.split('\0');
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const [, , newMode, , newSha, status] = (fields[i] as string).split(/[: ]/) as string[];
    const file = fields[i + 1] as string;
    if (!allowed.includes(file)) return `changes ${file}; a ledger commit may only append to ${allowed.join(' and ')}`;
    if (status === 'D') return `deletes ${file}`;
    if (newMode !== '100644') return `makes ${file} something other than a regular file (mode ${newMode})`;
    const before = current.get(file) ?? '';
    const after = await readBlob(dir, newSha as string);
    if (!after.startsWith(before)) {
      let at = 0;
      while (at < before.length && before[at] === after[at]) at++;
      const line = before.slice(0, at).split('\n').length;
      return `changes existing bytes of ${file} (line ${line}); a ledger commit may only append`;
    }
    current.set(file, after);
  }
  return undefined;
}

/**
 * Verifies the git ledger as the remote has it now. Undefined when the remote has no such branch.
 * `expectedHead` (hex): an entry's chain that the branch must still contain.
 */
export async function verifyGitLedger(
  location: GitLedgerLocation,
  gitCacheDir: string,
  expectedHead?: string,
): Promise<GitVerifyReport | undefined> {
  return withLedgerClone(location, gitCacheDir, 'verifying it', async (dir) => {
    const tip = await fetchBranch(dir, location);
    if (tip === null) return undefined;
    const lines = (await git(['rev-list', '--reverse', '--topo-order', '--parents', tip], { cwd: dir }))
      .split('\n')
      .filter(Boolean);
    const current = new Map<string, string>();
    const report = (problem: LedgerProblem & { commit?: string }, text = ''): GitVerifyReport => {
      const verifier = new LedgerVerifier();
      verifier.scan(text);
      return {
        ok: false,
        entries: verifier.entries,
        chained: verifier.chained,
        head: verifier.head,
        tip,
        commits: lines.length,
        problem,
      };
    };
    for (const [n, line] of lines.entries()) {
      const [commit, ...parents] = line.split(' ') as [string, ...string[]];
      if (parents.length > 1)
        return report({
          line: 0,
          commit,
          message: `commit ${commit} is a merge; the ledger's branch must be one line of commits`,
        });
      if (parents.length === 0 && n > 0)
        return report({
          line: 0,
          commit,
          message: `commit ${commit} is a second root; the ledger's branch must be one line of commits`,
        });
      if (parents.length === 0) {
        // The first commit is the base the rest appends to (a migrated file ledger, or the seed).
        for (const [file, sha] of await blobsAt(dir, commit, [location.path, reservationsPathOf(location)]))
          current.set(file, await readBlob(dir, sha));
        continue;
      }
      const problem = await commitProblem(dir, location, parents[0] as string, commit, current);
      if (problem)
        return report({ line: 0, commit, message: `commit ${commit} ${problem}` }, current.get(location.path));
    }
    const text = current.get(location.path);
    if (text === undefined)
      return report({ line: 0, commit: tip, message: `no ${location.path} at the branch's tip ${tip}` });
    const verifier = new LedgerVerifier({ keepHeads: expectedHead !== undefined });
    verifier.scan(text);
    let problem: GitVerifyReport['problem'] = verifier.problem;
    const wanted = expectedHead?.toLowerCase();
    if (!problem && wanted !== undefined && wanted !== verifier.head && !verifier.heads?.has(wanted)) {
      problem = {
        line: 0,
        commit: tip,
        message: `the branch no longer contains an entry with chain ${expectedHead} (it ends at ${verifier.head}): its history was rewritten (a force-push), or the head is another ledger's. Protect the ledger's branch, and compare with a copy of the history you trust`,
      };
    }
    return {
      ok: !problem,
      entries: verifier.entries,
      chained: verifier.chained,
      head: verifier.head,
      tip,
      commits: lines.length,
      ...(problem ? { problem } : {}),
    };
  });
}
