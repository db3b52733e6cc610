// The release log on disk (SPEC §6): reserve release ids and append entries under a
// cross-process lock, one write + fsync each, keyed by release id + workflow id so a retry never
// appends twice. What to append is ledger-change.ts's (shared with the git ledger), what an entry
// says entry.ts's, its text format.ts's, the file layer files.ts's.
import path from 'node:path';
import { AppendResult, LedgerRecord } from './entry';
import {
  LedgerFileHandle,
  LedgerFiles,
  ledgerIo,
  ledgerUnwritable,
  nodeLedgerFiles,
  OPEN_APPEND,
  OPEN_APPEND_CREATE,
  OPEN_CREATE_NEW,
  writeAll,
} from './files';
import { LEDGER_HEADING } from './format';
import { appendChange, ReservationRequest, reservationChange, separatorAfter } from './ledger-change';
import { ledgerIndex, requireVerified } from './ledger-index';
import { inLocalQueue } from './local-queue';
import { readReservations, reservationsPath } from './reservations';
import { driftReference, TargetReference } from './target-references';

/**
 * Creates the ledger with the seed's heading when missing; never touches an existing file (nor
 * follows a symlink in its place: O_EXCL fails on one). Callers hold the ledger's lock, so nobody
 * reads the new file before its heading is in.
 */
export async function ensureLedgerFile(ledgerPath: string, files: LedgerFiles = nodeLedgerFiles): Promise<void> {
  let handle: LedgerFileHandle;
  try {
    handle = await files.open(ledgerPath, OPEN_CREATE_NEW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw ledgerUnwritable(err, ledgerPath, 'creating it');
  }
  try {
    await writeAll(handle, Buffer.from(LEDGER_HEADING, 'utf8'));
    await handle.sync();
  } catch (err) {
    // Left empty, the file would not verify ("not a release log") and stop every append.
    await handle.truncate(0).catch(() => undefined);
    throw ledgerUnwritable(
      err,
      ledgerPath,
      'writing its heading',
      'the file was created but may be empty or torn: delete it and it is created again',
    );
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/**
 * Runs `work` holding the ledger's cross-process lock (files.ts: a killed holder's lock is
 * recovered once stale); a compromised lock aborts instead of risking a second writer.
 */
export async function withLedgerLock<T>(
  ledgerPath: string,
  work: () => Promise<T>,
  files: LedgerFiles = nodeLedgerFiles,
): Promise<T> {
  // Activities of one worker queue here, in order, instead of all polling the lock file.
  return inLocalQueue(ledgerPath, async () => {
    try {
      return await withFileLock(ledgerPath, work, files);
    } catch (err) {
      // Whatever failed on the way (a lock directory that cannot be made, a read), it leaves as a
      // typed, retryable failure naming the file, never as a bare Error("EPERM").
      throw ledgerUnwritable(err, ledgerPath, 'reading or locking it');
    }
  });
}

async function withFileLock<T>(ledgerPath: string, work: () => Promise<T>, files: LedgerFiles): Promise<T> {
  await ledgerIo(ledgerPath, 'creating its directory', () => files.mkdir(path.dirname(ledgerPath)));
  const lock = await ledgerIo(ledgerPath, 'taking its lock', () => files.lock(ledgerPath));
  try {
    await ensureLedgerFile(ledgerPath, files);
    const result = await work();
    const compromised = lock.compromised();
    if (compromised)
      throw ledgerUnwritable(
        compromised,
        ledgerPath,
        'holding its lock',
        'another process took the lock meanwhile; the retry finds the entry if it was written',
      );
    return result;
  } finally {
    await lock.release().catch(() => undefined);
  }
}

/**
 * Appends with one write and an fsync, so a crash leaves the whole text or none of it. Any
 * failure (a short write that cannot finish, ENOSPC, EPERM, a failed fsync) truncates the file
 * back to the size it had: the caller holds the ledger's lock, so those bytes are all ours, and a
 * retry must not build on half an entry. Should the truncation fail too, the torn entry is an
 * unclosed fence, which the check before every append refuses (LedgerDoesNotVerify) rather than
 * appending after it.
 */
async function appendDurably(files: LedgerFiles, file: string, text: string, flags: number): Promise<void> {
  const handle = await ledgerIo(file, 'opening it to append', () => files.open(file, flags));
  try {
    const { size } = await ledgerIo(file, 'reading its size', () => handle.stat());
    // A crash mid-line leaves a torn last line; start on a fresh line so ours stays whole.
    let prefix = '';
    if (size > 0) {
      const last = Buffer.alloc(1);
      await ledgerIo(file, 'reading its last byte', () => handle.read(last, 0, 1, size - 1));
      prefix = separatorAfter(last[0]);
    }
    try {
      await writeAll(handle, Buffer.from(prefix + text, 'utf8'));
      await handle.sync();
    } catch (err) {
      const undone = await handle
        .truncate(size)
        .then(() => handle.sync())
        .then(
          () => true,
          () => false,
        );
      throw ledgerUnwritable(
        err,
        file,
        'appending',
        undone
          ? `nothing was written (the partial bytes were truncated away, back to ${size} bytes)`
          : `the partial bytes after byte ${size} could not be truncated away: remove them`,
      );
    }
  } finally {
    await handle.close().catch(() => undefined);
  }
}

export interface ReserveArgs extends ReservationRequest {
  ledgerPath: string;
}

/**
 * Reserves `YYYYMMDD-HHMM-rcN` (or `rbN`), N the first number free in the ledger and the
 * reservations file (reservationChange, shared with the git ledger). A retry by the same workflow
 * gets its earlier id back. Throws InvalidPromotionRequest when a requested id is taken.
 */
export async function reserveReleaseId(args: ReserveArgs, files: LedgerFiles = nodeLedgerFiles): Promise<string> {
  return withLedgerLock(
    args.ledgerPath,
    async () => {
      const ledger = await trustedIndex(args.ledgerPath, files);
      const change = reservationChange(ledger, await readReservations(args.ledgerPath, files), args);
      if (change.line) await appendDurably(files, reservationsPath(args.ledgerPath), change.line, OPEN_APPEND_CREATE);
      return change.releaseId;
    },
    files,
  );
}

/**
 * The ledger's index, read without following a symlink, when the file verifies; else the
 * retryable LedgerDoesNotVerify naming the line. The worker trusts nothing else: not for a free
 * id, not for a drift reference, and never to append after (an entry after a torn one, or inside
 * an unclosed fence, would be invisible to every reader).
 */
async function trustedIndex(ledgerPath: string, files: LedgerFiles) {
  const index = await ledgerIo(ledgerPath, 'reading it', () => ledgerIndex(ledgerPath, files));
  requireVerified(index, ledgerPath);
  return index;
}

/**
 * Appends the record's entry once per release id. The same release id + workflow id again is a
 * no-op that returns the existing chain head; the same id from another workflow is
 * ReleaseIdConflict. `readTip` runs before the ledger lock is taken (a git round trip must not
 * hold every other append up). A caller that pushed holds the target's lock, so the tip cannot
 * move; one that failed before the lock did not push, and its entry is no drift reference.
 */
export async function appendLedgerEntry(
  ledgerPath: string,
  record: LedgerRecord,
  readTip: () => Promise<string | null>,
  files: LedgerFiles = nodeLedgerFiles,
): Promise<AppendResult> {
  const branchTipAfter = await readTip();
  return withLedgerLock(
    ledgerPath,
    async () => {
      const ledger = await trustedIndex(ledgerPath, files);
      const change = await appendChange(ledger, () => readReservations(ledgerPath, files), record, branchTipAfter);
      if (change.text) await appendDurably(files, ledgerPath, change.text, OPEN_APPEND);
      return change.result;
    },
    files,
  );
}

/**
 * The target's drift reference (driftReference, the one definition) read under the ledger's lock.
 * LedgerDoesNotVerify when the ledger does not verify, since a reference read from it could be wrong.
 */
export async function lastRecordedTip(
  ledgerPath: string,
  target: { repo: string; branch: string; environment: string },
  files: LedgerFiles = nodeLedgerFiles,
): Promise<TargetReference | null> {
  return withLedgerLock(
    ledgerPath,
    async () =>
      driftReference(await trustedIndex(ledgerPath, files), target.repo, target.branch, target.environment) ?? null,
    files,
  );
}

/**
 * The worker's look at its ledger when it starts: created when missing, then indexed (so later
 * appends read only new bytes). Says why appends would stop, or undefined when they would not.
 */
export async function ledgerStartupProblem(
  ledgerPath: string,
  files: LedgerFiles = nodeLedgerFiles,
): Promise<string | undefined> {
  try {
    await withLedgerLock(ledgerPath, () => trustedIndex(ledgerPath, files), files);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
