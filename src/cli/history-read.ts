// `history --environment E`: what is deployed in an environment now, since when and by whom, and
// every release before it, newest first, each with the commits it added over the previous good
// release (git log in the release's repo). Read from the ledger file alone (no Temporal): the
// entries as `ledger show` reads them, the target references as the worker computes them.
import pc from 'picocolors';
import { withCacheClone } from '../activities/git';
import { gitComplaint, redactGitText } from '../activities/git-failures';
import { git, GitError } from '../activities/git-process';
import { BranchName, FULL_SHA } from '../domain';
import { fieldText, parseLedger, type ParsedEntry } from '../ledger/format';
import type { LedgerLocation } from '../ledger/location';
import {
  driftReference,
  emptyTargetReferences,
  lastKnownGood,
  noteEntry,
  type TargetReference,
} from '../ledger/target-references';
import { fieldList, readLedgerOf } from './ledger';
import { oneLine, parseLedgerApproval, renderTable, utcTime, type LedgerApproval } from './render';

/** Commits listed per release: in the table, and at most in --json (the rest is counted as more). */
const TABLE_COMMITS = 10;
const JSON_COMMITS = 100;

export interface HistoryCommits {
  /** The commit the range starts after: the previous good release's branch tip. */
  over?: string;
  /** The release that left the branch there. */
  overRelease?: string;
  /** `git log --oneline over..sha` (for a rollback: the commits it took out, to..from). */
  list?: Array<{ sha: string; subject: string }>;
  /** More commits than listed. */
  more?: boolean;
  /** Why there is no list: first release, same commit, the repo unreachable, … */
  note?: string;
}

export interface HistoryRelease {
  releaseId: string;
  type: string;
  /** What the branch was left at (a promotion: its commit; a rollback: where it went back to). */
  sha?: string;
  /** The release id's time (UTC, to the minute): when its id was reserved. */
  when?: string;
  operator?: string;
  approvals: LedgerApproval[];
  result?: string;
  notes?: string;
  repo?: string;
  branch?: string;
  commits: HistoryCommits;
}

export interface HistoryNow {
  repo?: string;
  branch?: string;
  sha: string;
  since?: string;
  /** The entry that left the branch there. */
  releaseId: string;
  type?: string;
  result?: string;
  operator?: string;
  /** For a rollback: the promotion that first released this commit. */
  releasedBy?: { releaseId: string; operator?: string; approvals: LedgerApproval[] };
  approvals: LedgerApproval[];
}

export interface History {
  environment: string;
  ledger: string;
  /** The first problem `ledger verify` finds, when the file does not verify. */
  problem?: { line: number; message: string };
  now: HistoryNow[];
  releases: HistoryRelease[];
  /** Older releases not shown (--limit). */
  older: number;
}

const releaseTime = (releaseId: string): string | undefined => {
  const m = /^([0-9]{4})([0-9]{2})([0-9]{2})-([0-9]{2})([0-9]{2})-/.exec(releaseId);
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:00Z` : undefined;
};

const isPromotion = (e: ParsedEntry) => fieldText(e, 'type') === 'promotion';
const shaOf = (e: ParsedEntry) => (isPromotion(e) ? fieldText(e, 'commit_sha') : fieldText(e, 'to_sha'));
const targetOf = (e: ParsedEntry) => ({
  repo: fieldText(e, 'repo') ?? '',
  branch: fieldText(e, 'to_branch') ?? '',
  environment: fieldText(e, 'environment') ?? '',
});

/** The history of `environment` as the ledger at `location` (a file or a git branch) records it, with the commits from git. */
export async function readHistory(
  location: LedgerLocation,
  environment: string,
  limit: number,
  gitCacheDir: string,
): Promise<History> {
  const reading = await readLedgerOf(location, gitCacheDir, 'pass --ledger');
  const { index } = reading;
  const entries = parseLedger(reading.text).entries;
  const byId = new Map(entries.map((e) => [e.releaseId, e]));
  // The references grow entry by entry, so each release sees the last known good before it.
  const refs = emptyTargetReferences();
  const previousGood = new Map<ParsedEntry, TargetReference | undefined>();
  entries.forEach((e, seq) => {
    if (fieldText(e, 'environment') === environment) {
      const t = targetOf(e);
      previousGood.set(e, lastKnownGood(refs, t.repo, t.branch, t.environment));
    }
    noteEntry(refs, e, seq);
  });
  const ours = entries.filter((e) => fieldText(e, 'environment') === environment);
  const shown = ours.slice(-limit).reverse();

  const releases: HistoryRelease[] = shown.map((e) => ({
    releaseId: e.releaseId,
    type: fieldText(e, 'type') ?? '?',
    sha: shaOf(e),
    when: releaseTime(e.releaseId),
    operator: fieldText(e, 'operator'),
    approvals: fieldList(e, 'approvals').map(parseLedgerApproval),
    result: fieldText(e, 'result'),
    notes: fieldText(e, 'notes'),
    repo: fieldText(e, 'repo'),
    branch: fieldText(e, 'to_branch'),
    commits: {},
  }));
  await addCommits(
    shown.map((e, i) => ({ entry: e, release: releases[i] as HistoryRelease, previous: previousGood.get(e) })),
    gitCacheDir,
  );

  // What is deployed now: per target, the entry that last moved (or tried to restore) the branch.
  const now: HistoryNow[] = [];
  const targets = new Map<string, ReturnType<typeof targetOf>>();
  for (const e of ours) targets.set(`${targetOf(e).repo}\0${targetOf(e).branch}`, targetOf(e));
  for (const t of targets.values()) {
    const ref = driftReference(refs, t.repo, t.branch, t.environment);
    const entry = ref && byId.get(ref.releaseId);
    if (!ref || !entry) continue;
    const current: HistoryNow = {
      repo: t.repo || undefined,
      branch: t.branch || undefined,
      sha: ref.tip,
      since: releaseTime(entry.releaseId),
      releaseId: entry.releaseId,
      type: fieldText(entry, 'type'),
      result: fieldText(entry, 'result'),
      operator: fieldText(entry, 'operator'),
      approvals: fieldList(entry, 'approvals').map(parseLedgerApproval),
    };
    if (!isPromotion(entry) || fieldText(entry, 'result') !== 'pass') {
      // Rolled back (or left by a failed one): the promotion that first released this commit.
      const released = entries
        .slice(0, entries.indexOf(entry))
        .reverse()
        .find(
          (p) =>
            isPromotion(p) &&
            fieldText(p, 'result') === 'pass' &&
            fieldText(p, 'branch_tip_after') === ref.tip &&
            `${targetOf(p).repo}\0${targetOf(p).branch}` === `${t.repo}\0${t.branch}`,
        );
      if (released)
        current.releasedBy = {
          releaseId: released.releaseId,
          operator: fieldText(released, 'operator'),
          approvals: fieldList(released, 'approvals').map(parseLedgerApproval),
        };
    }
    now.push(current);
  }
  return {
    environment,
    ledger: reading.name,
    ...(index.problem ? { problem: { line: index.problem.line, message: index.problem.message } } : {}),
    now,
    releases,
    older: ours.length - shown.length,
  };
}

interface Wanted {
  entry: ParsedEntry;
  release: HistoryRelease;
  previous?: TargetReference;
}

/** The range each release's commits are: a promotion over the previous good tip, a rollback to..from. */
function rangeOf(w: Wanted): { from: string; to: string } | { note: string } {
  const e = w.entry;
  if (isPromotion(e)) {
    const sha = fieldText(e, 'commit_sha');
    if (!sha || !FULL_SHA.test(sha)) return { note: 'no commit recorded' };
    if (!w.previous) return { note: 'first release of this target in the ledger' };
    w.release.commits.over = w.previous.tip;
    w.release.commits.overRelease = w.previous.releaseId;
    if (w.previous.tip === sha) return { note: `no new commits (the same commit as ${w.previous.releaseId})` };
    if (!FULL_SHA.test(w.previous.tip)) return { note: 'the previous release recorded no commit' };
    return { from: w.previous.tip, to: sha };
  }
  const from = fieldText(e, 'from_sha');
  const to = fieldText(e, 'to_sha');
  if (!from || !to || !FULL_SHA.test(from) || !FULL_SHA.test(to)) return { note: 'no commits recorded' };
  if (from === to) return { note: 'nothing to take out' };
  w.release.commits.over = from;
  return { from: to, to: from };
}

/**
 * Fills each release's commits from its repo: one cache clone per repo (the worker's helper,
 * under its lock), the release branches fetched once, then `git log` per range, argument arrays
 * only. A repo that cannot be read says so in the releases' commits instead of failing.
 */
async function addCommits(wanted: Wanted[], gitCacheDir: string): Promise<void> {
  const byRepo = new Map<string, Array<{ w: Wanted; from: string; to: string }>>();
  for (const w of wanted) {
    const range = rangeOf(w);
    if ('note' in range) {
      w.release.commits.note = range.note;
      continue;
    }
    const repo = fieldText(w.entry, 'repo');
    if (!repo) {
      w.release.commits.note = 'the entry names no repo';
      continue;
    }
    const list = byRepo.get(repo) ?? [];
    list.push({ w, ...range });
    byRepo.set(repo, list);
  }
  for (const [repo, ranges] of byRepo) {
    const branches = new Set<string>();
    for (const { w } of ranges)
      for (const key of ['to_branch', 'from_branch']) {
        const branch = fieldText(w.entry, key);
        if (branch && BranchName.safeParse(branch).success) branches.add(branch);
      }
    try {
      await withCacheClone(gitCacheDir, repo, async (dir) => {
        await fetchBranches(dir, repo, [...branches]);
        for (const { w, from, to } of ranges)
          w.release.commits = { ...w.release.commits, ...(await log(dir, from, to)) };
      });
    } catch (err) {
      const why = err instanceof GitError ? gitComplaint(err) : err instanceof Error ? err.message : String(err);
      for (const { w } of ranges)
        w.release.commits.note = `repo unreachable: ${redactGitText(oneLine(why)).slice(0, 200)}`;
    }
  }
}

/** Fetches each branch that exists; throws (the first complaint) only when none could be fetched. */
async function fetchBranches(dir: string, repo: string, branches: string[]): Promise<void> {
  let first: unknown;
  let fetched = 0;
  for (const branch of branches) {
    try {
      await git(
        ['fetch', '--quiet', '--no-tags', '--force', '--', repo, `+refs/heads/${branch}:refs/remotes/cache/${branch}`],
        { cwd: dir, remote: repo },
      );
      fetched++;
    } catch (err) {
      first ??= err;
    }
  }
  if (fetched === 0 && first !== undefined) throw first;
}

async function log(dir: string, from: string, to: string): Promise<HistoryCommits> {
  try {
    const out = await git(
      ['log', '--oneline', '--no-decorate', '--no-color', `-n${JSON_COMMITS + 1}`, `${from}..${to}`, '--'],
      {
        cwd: dir,
      },
    );
    const lines = out.split('\n').filter(Boolean);
    const list = lines.slice(0, JSON_COMMITS).map((line) => {
      const space = line.indexOf(' ');
      return space === -1
        ? { sha: line, subject: '' }
        : { sha: line.slice(0, space), subject: oneLine(line.slice(space + 1)) };
    });
    return {
      list,
      ...(lines.length > JSON_COMMITS ? { more: true } : {}),
      ...(list.length ? {} : { note: 'no new commits' }),
    };
  } catch (err) {
    return { note: `not in the repo any more (${err instanceof GitError ? gitComplaint(err) : String(err)})` };
  }
}

// ---------------------------------------------------------------------------------------------
// Text

const names = (approvals: LedgerApproval[]) => (approvals.length ? approvals.map((a) => a.approver).join(', ') : '');
const short = (sha: string | undefined) => (sha ? sha.slice(0, 10) : '');

function nowLine(environment: string, n: HistoryNow, several: boolean): string {
  const where = several ? ` (${n.branch ?? '?'} of ${n.repo ?? '?'})` : '';
  const since = n.since ? ` since ${utcTime(n.since, true)}` : '';
  const head = `${pc.bold(`${environment} now${where}:`)} ${short(n.sha)}${since}`;
  const approved = (a: LedgerApproval[]) => (a.length ? `approved by ${names(a)}` : 'no approvals');
  if (n.type === 'promotion' && n.result === 'pass')
    return `${head}, release ${n.releaseId}, promoted by ${n.operator ?? '?'}, ${approved(n.approvals)}`;
  const by = n.releasedBy
    ? `; first released as ${n.releasedBy.releaseId} by ${n.releasedBy.operator ?? '?'}, ${approved(n.releasedBy.approvals)}`
    : '';
  if (n.type === 'rollback')
    return `${head}, ${n.result === 'completed' ? 'rolled back' : `rollback ${n.result ?? '?'}`} by ${n.operator ?? '?'} (${n.releaseId})${by}`;
  return `${head}, left there by ${n.releaseId} (${n.type ?? '?'} ${n.result ?? '?'}, ${n.operator ?? '?'})${by}`;
}

function commitLines(r: HistoryRelease): string[] {
  const c = r.commits;
  if (!c.list?.length) return [c.note ?? ''];
  const sign = r.type === 'rollback' ? '- ' : '';
  const lines = c.list.slice(0, TABLE_COMMITS).map((x) => `${sign}${x.sha} ${x.subject}`);
  const rest = c.list.length - TABLE_COMMITS;
  if (rest > 0 || c.more) lines.push(`… ${c.more ? 'and more' : `${rest} more`} (--json lists up to ${JSON_COMMITS})`);
  if (r.type === 'rollback') lines.unshift('took out:');
  return lines;
}

/** "fail: StagingGatesFailed" — a failed entry's notes start with the failure type. */
function resultText(r: HistoryRelease): string {
  const type =
    r.result !== 'pass' && r.result !== 'completed' ? /^([A-Z][A-Za-z]+):/.exec(r.notes ?? '')?.[1] : undefined;
  return `${r.result ?? '?'}${type ? `: ${type}` : ''}`;
}

export function historyText(h: History): string {
  if (!h.releases.length && !h.now.length) return `no releases of ${h.environment} in ${h.ledger}`;
  const lines = h.now.length
    ? h.now.map((n) => nowLine(h.environment, n, h.now.length > 1))
    : [`${pc.bold(`${h.environment} now:`)} no entry in the ledger moved its branch yet`];
  lines.push(
    renderTable(
      [
        { head: 'release id' },
        { head: 'sha' },
        { head: 'when (UTC)' },
        { head: 'operator' },
        { head: 'approvers', flex: true },
        {
          head: 'result',
          paint: (s) => (s === 'pass' || s === 'completed' ? pc.green(s) : pc.red(s)),
        },
        { head: 'commits added', flex: true },
      ],
      h.releases.map((r) => [
        r.releaseId,
        short(r.sha),
        r.when ? utcTime(r.when, true).replace(' UTC', '') : '',
        r.operator ?? '',
        names(r.approvals) || '—',
        resultText(r),
        commitLines(r),
      ]),
    ),
  );
  if (h.older) lines.push(pc.dim(`${h.older} older release${h.older === 1 ? '' : 's'} not shown (--limit)`));
  return lines.join('\n');
}
