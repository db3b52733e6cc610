// The two references the ledger keeps per target (SPEC §6 "Targets"), each defined once here and
// used by the worker and every command: the drift reference (where a workflow last left or tried
// to leave the branch) and the last known good (the latest release that held). A target is the
// canonical repo + branch; entries written before entries named their repo are matched by
// environment + branch. The index (ledger-index.ts) feeds every entry in through noteEntry.
import { FULL_SHA } from '../domain';
import { fieldText, type ParsedEntry } from './format';

/** An entry that touched a target, as the references need it; `seq` is its position in the file. */
export interface TargetEntry {
  releaseId: string;
  tip: string;
  seq: number;
}

/** What the references are computed from, per target key (part of the ledger's index). */
export interface TargetReferences {
  /** target key → the latest entry that moved the branch or tried to restore it (drift reference). */
  moves: Map<string, TargetEntry>;
  /** target key → every `pass` promotion and `completed` rollback, in file order (last known good). */
  goods: Map<string, TargetEntry[]>;
}

/** A reference: the entry and the `branch_tip_after` it recorded. */
export interface TargetReference {
  releaseId: string;
  tip: string;
}

export function emptyTargetReferences(): TargetReferences {
  return { moves: new Map(), goods: new Map() };
}

// Entries carry the canonical repo (`repo`); entries written before that key existed are matched
// by environment and branch instead. A missing to_branch (hand-written or the seed's rollback
// template) matches any branch.
const repoKey = (repo: string, branch: string) => `repo\0${repo}\0${branch}`;
const legacyKey = (environment: string, branch: string) => `env\0${environment}\0${branch}`;
const ANY_BRANCH = '\0*';

function targetKey(entry: ParsedEntry): string | undefined {
  const repo = fieldText(entry, 'repo');
  const branch = fieldText(entry, 'to_branch') ?? ANY_BRANCH;
  if (repo) return repoKey(repo, branch);
  const environment = fieldText(entry, 'environment');
  return environment ? legacyKey(environment, branch) : undefined;
}

/** The keys an entry of target (repo, branch, environment) may be indexed under. */
function candidateKeys(repo: string, branch: string, environment: string): string[] {
  return [
    repoKey(repo, branch),
    repoKey(repo, ANY_BRANCH),
    legacyKey(environment, branch),
    legacyKey(environment, ANY_BRANCH),
  ];
}

/** Files the `seq`-th entry of the ledger under its target, as a drift reference and/or a known good. */
export function noteEntry(refs: TargetReferences, entry: ParsedEntry, seq: number): void {
  const key = targetKey(entry);
  const tip = fieldText(entry, 'branch_tip_after');
  if (!key || !tip || !FULL_SHA.test(tip)) return;
  const type = fieldText(entry, 'type');
  const result = fieldText(entry, 'result');
  const at: TargetEntry = { releaseId: entry.releaseId, tip, seq };
  // A failed promotion that names no rollback never pushed, so it did not move the branch and
  // is no reference for the drift check: it may have been written without the target's lock
  // (failed gates, a rejection) while another promotion moved the branch, or, refused for
  // drift, it saw the drifted tip, which must not make the drift look reconciled. An entry the
  // target's lock wrote for a holder that closed (`closed_while_holding`) was written under the
  // lock with the tip found: it is a reference.
  const unpushed =
    type === 'promotion' &&
    result === 'fail' &&
    !fieldText(entry, 'rollback_release_id') &&
    !fieldText(entry, 'closed_while_holding');
  if (!unpushed) refs.moves.set(key, at);
  if ((type === 'promotion' && result === 'pass') || (type === 'rollback' && result === 'completed')) {
    const list = refs.goods.get(key);
    if (list) list.push(at);
    else refs.goods.set(key, [at]);
  }
}

/**
 * The drift check's reference for a target (canonical `repo` + `branch`; `environment` finds the
 * entries written before entries named their repo): the `branch_tip_after` of the target's latest
 * entry whose workflow moved the branch or tried to restore it (SPEC §6).
 */
export function driftReference(
  refs: TargetReferences,
  repo: string,
  branch: string,
  environment: string,
): TargetReference | undefined {
  let best: TargetEntry | undefined;
  for (const key of candidateKeys(repo, branch, environment)) {
    const found = refs.moves.get(key);
    // Stryker disable next-line EqualityOperator: equivalent, no two entries share a position
    if (found && (!best || found.seq > best.seq)) best = found;
  }
  return best && { releaseId: best.releaseId, tip: best.tip };
}

/**
 * The last known good of a target (canonical `repo` + `branch`, `environment` for entries written
 * before the `repo` key): the `branch_tip_after` of its latest `pass` promotion or `completed`
 * rollback. `unlike` skips entries that left the branch at that commit: a rollback's default
 * target is the last known good that differs from where the branch is now.
 */
export function lastKnownGood(
  refs: TargetReferences,
  repo: string,
  branch: string,
  environment: string,
  options: { unlike?: string } = {},
): TargetReference | undefined {
  const entries = candidateKeys(repo, branch, environment).flatMap((key) => refs.goods.get(key) ?? []);
  const found = entries.sort((a, b) => b.seq - a.seq).find((entry) => entry.tip !== options.unlike);
  return found && { releaseId: found.releaseId, tip: found.tip };
}
