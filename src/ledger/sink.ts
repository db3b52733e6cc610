// The ledger as activities and commands use it, whichever sink holds it (SPEC §6 "Two sinks, one
// format"): the file on the worker's disk (store.ts) or the git branch (git-ledger.ts). Both decide
// what to add with ledger-change.ts and read with the same index, so they cannot disagree.
import { readFile } from 'node:fs/promises';
import type { AppendResult, LedgerRecord } from './entry';
import { LedgerFiles, nodeLedgerFiles } from './files';
import { GitLedger } from './git-ledger';
import type { ReservationRequest } from './ledger-change';
import { indexText, ledgerIndex, type LedgerIndex } from './ledger-index';
import { ledgerName, type LedgerLocation } from './location';
import { appendLedgerEntry, lastRecordedTip, ledgerStartupProblem, reserveReleaseId } from './store';
import type { TargetReference } from './target-references';

export interface LedgerTarget {
  repo: string;
  branch: string;
  environment: string;
}

export interface LedgerSink {
  /** How messages name it: the file's path, or the `git:` form with the remote redacted. */
  readonly name: string;
  /** A release id for the workflow (its earlier one on a retry). Throws InvalidPromotionRequest for a taken requested id. */
  reserve(args: ReservationRequest): Promise<string>;
  /** The record's entry, once per release id + workflow id. Throws ReleaseIdConflict. */
  append(record: LedgerRecord, readTip: () => Promise<string | null>): Promise<AppendResult>;
  /** The target's drift reference, from a ledger that verifies (else LedgerDoesNotVerify). */
  driftReference(target: LedgerTarget): Promise<TargetReference | null>;
  /** Why appends would stop, or undefined. */
  startupProblem(): Promise<string | undefined>;
}

/** The file ledger at `ledgerPath`: store.ts's functions, under the file's lock. */
export function fileLedger(ledgerPath: string, files: LedgerFiles = nodeLedgerFiles): LedgerSink {
  return {
    name: ledgerPath,
    reserve: (args) => reserveReleaseId({ ...args, ledgerPath }, files),
    append: (record, readTip) => appendLedgerEntry(ledgerPath, record, readTip, files),
    driftReference: (target) => lastRecordedTip(ledgerPath, target, files),
    startupProblem: () => ledgerStartupProblem(ledgerPath, files),
  };
}

/** The sink for a location; a git ledger keeps its clone under `gitCacheDir`. */
export function openLedger(location: LedgerLocation, gitCacheDir: string, files?: LedgerFiles): LedgerSink {
  return location.kind === 'file' ? fileLedger(location.path, files) : new GitLedger(location, gitCacheDir);
}

/** A ledger as a reader sees it: its whole text and its index (the same the worker keeps). */
export interface LedgerReading {
  name: string;
  text: string;
  index: LedgerIndex;
  /** The git ledger's branch tip the text was read at. */
  tip?: string;
}

/**
 * The ledger as it is now, for commands: the file read, or the branch fetched into the cache clone
 * and read at its tip. Undefined when there is no ledger there (no file; no branch or no file in it).
 */
export async function readLedger(location: LedgerLocation, gitCacheDir: string): Promise<LedgerReading | undefined> {
  const name = ledgerName(location);
  if (location.kind === 'file') {
    let text: string;
    try {
      text = await readFile(location.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return { name, text, index: await ledgerIndex(location.path) };
  }
  const snapshot = await new GitLedger(location, gitCacheDir).snapshot();
  if (snapshot.ledger === null || snapshot.tip === null) return undefined;
  return { name, text: snapshot.ledger, index: indexText(snapshot.ledger), tip: snapshot.tip };
}
