// The git ledger (SPEC §6 "Two sinks, one format"): the release log and its reservations as two
// files in a branch of a remote, shared by any number of workers on any hosts. Every reservation
// and append is one commit that only appends to those files, pushed with a lease on the tip it was
// decided on; a push that loses the race reads the branch again and decides again, so two writers
// never take one id and a retry whose push already landed finds its entry instead of adding one.
import { setTimeout as delay } from 'node:timers/promises';
import { retryableFailure } from '../failures';
import type { AppendResult, LedgerRecord } from './entry';
import { LEDGER_HEADING } from './format';
import { appendChange, ReservationRequest, reservationChange, separatorAfter } from './ledger-change';
import { indexText, LedgerIndex, requireVerified } from './ledger-index';
import { ledgerName, type GitLedgerLocation } from './location';
import { reservationsOfText } from './reservations';
import type { LedgerSink, LedgerTarget } from './sink';
import { driftReference, TargetReference } from './target-references';
import {
  commitFiles,
  fetchSnapshot,
  GitLedgerSnapshot,
  gitLedgerFailure,
  pushWithLease,
  reservationsPathOf,
  withLedgerClone,
} from './git-clone';

// Pushes per reservation or append before giving up with LedgerContended (the activity's retry
// policy then runs it again). Each lost race means another writer's commit landed, so the bound is
// only reached when writers keep landing one after another for seconds.
const MAX_PUSHES = 40;
// After a lost race the branch has just moved, so the first retry goes at once (waiting would hand
// the next round to the writer that won); later ones wait a jittered, growing while, so writers
// that keep colliding fall out of step.
const RACE_WAIT_STEP_MS = 10;
const RACE_WAIT_MAX_MS = 200;

/** What one decision adds: text appended to either file, and what the caller gets back. */
interface Change<T> {
  result: T;
  ledger?: string;
  reservations?: string;
  message: string;
}

/** A branch's state as the decisions need it: the texts (a missing ledger file reads as the seed's heading) and their indexes. */
interface BranchState {
  snapshot: GitLedgerSnapshot;
  ledgerText: string;
  index: LedgerIndex;
}

export class GitLedger implements LedgerSink {
  readonly name: string;
  // The last ledger text indexed, so reading an unchanged tip again costs no parse.
  private lastIndexed?: { text: string; index: LedgerIndex };

  constructor(
    readonly location: GitLedgerLocation,
    private readonly gitCacheDir: string,
  ) {
    this.name = ledgerName(location);
  }

  async reserve(args: ReservationRequest): Promise<string> {
    return this.change('reserving a release id', async (state) => {
      const change = reservationChange(state.index, reservationsOfText(state.snapshot.reservations ?? ''), args);
      return {
        result: change.releaseId,
        reservations: change.line,
        message: `ledger: reserve ${change.releaseId}`,
      };
    });
  }

  async append(record: LedgerRecord, readTip: () => Promise<string | null>): Promise<AppendResult> {
    // Read before the clone is taken: a round trip to the service's repo must not hold up other appends.
    const branchTipAfter = await readTip();
    return this.change('appending an entry', async (state) => {
      const reservations = async () => reservationsOfText(state.snapshot.reservations ?? '');
      const change = await appendChange(state.index, reservations, record, branchTipAfter);
      return {
        result: change.result,
        ledger: change.text,
        message: `ledger: ${record.releaseId} ${record.type} ${record.result}`,
      };
    });
  }

  async driftReference(target: LedgerTarget): Promise<TargetReference | null> {
    const state = await this.read('reading the drift reference');
    requireVerified(state.index, this.name);
    return driftReference(state.index, target.repo, target.branch, target.environment) ?? null;
  }

  async startupProblem(): Promise<string | undefined> {
    try {
      requireVerified((await this.read('reading it at start-up')).index, this.name);
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }

  /** The branch's tip as it is on the remote now (for readers: `ledger show`, `history`, `rollback`). */
  async snapshot(): Promise<GitLedgerSnapshot> {
    return (await this.read('reading it')).snapshot;
  }

  private async read(doing: string): Promise<BranchState> {
    return withLedgerClone(this.location, this.gitCacheDir, doing, async (dir) =>
      this.stateOf(await fetchSnapshot(dir, this.location)),
    );
  }

  private stateOf(snapshot: GitLedgerSnapshot): BranchState {
    // A branch or file not there yet is created by the first change with the seed's heading, as
    // the file ledger creates its file.
    const ledgerText = snapshot.ledger ?? LEDGER_HEADING;
    if (this.lastIndexed?.text !== ledgerText) this.lastIndexed = { text: ledgerText, index: indexText(ledgerText) };
    return { snapshot, ledgerText, index: this.lastIndexed.index };
  }

  /**
   * Decides on the branch as fetched and pushes the decision as one commit with a lease on that
   * tip; a lost race fetches and decides again. A decision with nothing to add (the workflow's id
   * or entry is there already) pushes nothing. The ledger must verify before anything is added.
   */
  private async change<T>(doing: string, decide: (state: BranchState) => Promise<Change<T>>): Promise<T> {
    return withLedgerClone(this.location, this.gitCacheDir, doing, async (dir) => {
      for (let push = 1; ; push++) {
        const state = this.stateOf(await fetchSnapshot(dir, this.location));
        requireVerified(state.index, this.name);
        const change = await decide(state);
        if (!change.ledger && !change.reservations) return change.result;
        const { snapshot } = state;
        const files = new Map<string, string>();
        if (change.ledger || snapshot.ledger === null)
          files.set(this.location.path, appended(state.ledgerText, change.ledger ?? ''));
        if (change.reservations)
          files.set(reservationsPathOf(this.location), appended(snapshot.reservations ?? '', change.reservations));
        const commit = await commitFiles(dir, snapshot.tip, files, change.message);
        let outcome: 'pushed' | 'lost';
        try {
          outcome = await pushWithLease(dir, this.location, snapshot.tip, commit);
        } catch (err) {
          throw gitLedgerFailure(
            err,
            this.location,
            `${doing}: pushing`,
            'the push may or may not have landed; the retry reads the branch and finds the change if it did',
          );
        }
        if (outcome === 'pushed') return change.result;
        if (push >= MAX_PUSHES)
          throw retryableFailure(
            'LedgerContended',
            `the git ledger ${this.name} moved under each of ${MAX_PUSHES} pushes (${doing}): other writers kept landing first; nothing of this attempt was written, and it is retried`,
            { location: this.name, pushes: MAX_PUSHES },
          );
        if (push > 1) await delay(Math.random() * Math.min(RACE_WAIT_MAX_MS, RACE_WAIT_STEP_MS * 2 ** push));
      }
    });
  }
}

/** `existing` with `addition` after it, on a fresh line (the same bytes the file ledger writes). */
function appended(existing: string, addition: string): string {
  if (addition === '') return existing;
  const last = existing.length > 0 ? existing.charCodeAt(existing.length - 1) : undefined;
  return existing + separatorAfter(last) + addition;
}
