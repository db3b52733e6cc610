// The reservations file beside the ledger (`<ledger>.reservations`, SPEC §6): one JSON line per
// reserved release id with its workflow id, read as an index that takes in only the lines added
// since the last look. Written by the store (reserveReleaseId), under the ledger's lock.
import { LedgerFileHandle, LedgerFiles, ledgerUnwritable, OPEN_READ, readRange } from './files';

export interface Reservation {
  releaseId: string;
  workflowId: string;
  at: string;
}

export function reservationsPath(ledgerPath: string): string {
  return `${ledgerPath}.reservations`;
}

export interface ReservationIndex {
  ino: number;
  /** Bytes consumed so far: always the end of a complete line. */
  size: number;
  byId: Map<string, string>;
  byWorkflow: Map<string, string[]>;
}
const reservationIndexes = new Map<string, ReservationIndex>();

/** The reservations file as an index, reading only lines added since the last call. */
export async function readReservations(ledgerPath: string, files: LedgerFiles): Promise<ReservationIndex> {
  const file = reservationsPath(ledgerPath);
  let handle: LedgerFileHandle;
  try {
    handle = await files.open(file, OPEN_READ);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      return { ino: 0, size: 0, byId: new Map(), byWorkflow: new Map() };
    throw ledgerUnwritable(err, file, 'reading its reservations');
  }
  try {
    const st = await handle.stat();
    let index = reservationIndexes.get(file);
    if (!index || index.ino !== st.ino || st.size < index.size) {
      index = { ino: st.ino, size: 0, byId: new Map(), byWorkflow: new Map() };
      reservationIndexes.set(file, index);
    }
    if (st.size === index.size) return index;
    addReservationLines(index, (await readRange(handle, index.size, st.size)).toString('utf8'));
    return index;
  } catch (err) {
    throw ledgerUnwritable(err, file, 'reading its reservations');
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** Takes in the complete lines of `text` (which starts where the index's `size` ends). */
function addReservationLines(index: ReservationIndex, text: string): void {
  const complete = text.lastIndexOf('\n') + 1;
  for (const line of text.slice(0, complete).split('\n')) {
    if (!line.trim()) continue;
    let r: Reservation;
    try {
      r = JSON.parse(line) as Reservation;
    } catch {
      continue; // a torn line from a crash mid-write holds no reservation
    }
    index.byId.set(r.releaseId, r.workflowId);
    index.byWorkflow.set(r.workflowId, [...(index.byWorkflow.get(r.workflowId) ?? []), r.releaseId]);
  }
  index.size += Buffer.byteLength(text.slice(0, complete));
}

/** The reservations file's whole text (the git ledger's, at a commit) as an index, by the same rules. */
export function reservationsOfText(text: string): ReservationIndex {
  const index: ReservationIndex = { ino: 0, size: 0, byId: new Map(), byWorkflow: new Map() };
  addReservationLines(index, text);
  return index;
}
