// What a reservation or an append adds to a ledger, decided from what the ledger and its
// reservations already hold: the one decision both sinks make (the file under its lock, the git
// branch at the tip it pushes onto), so ids, idempotence, conflicts and bytes cannot differ.
import { failure } from '../failures';
import { AppendResult, LedgerRecord, ledgerFields } from './entry';
import { renderBlock } from './format';
import type { LedgerIndex } from './ledger-index';
import type { Reservation, ReservationIndex } from './reservations';

export interface ReservationRequest {
  workflowId: string;
  kind: 'rc' | 'rb';
  /** Workflow time, so the id says when the release started. */
  at: string;
  requested?: string;
}

export interface ReservationChange {
  releaseId: string;
  /** The reservations line to append; undefined when the workflow already holds its id (a retry). */
  line?: string;
}

function compactUtc(iso: string): string {
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}-${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}`;
}

/**
 * `YYYYMMDD-HHMM-rcN` (or `rbN`), N the first number free in the ledger and the reservations; the
 * workflow's earlier id of that kind when it has one. Throws InvalidPromotionRequest when a
 * requested id is taken.
 */
export function reservationChange(
  ledger: LedgerIndex,
  reserved: ReservationIndex,
  args: ReservationRequest,
  now: Date = new Date(),
): ReservationChange {
  const mine = reserved.byWorkflow.get(args.workflowId)?.find((id) => id.includes(`-${args.kind}`));
  if (mine) return { releaseId: mine };
  const taken = (id: string) => reserved.byId.has(id) || ledger.ids.has(id);
  let releaseId: string;
  if (args.requested) {
    if (taken(args.requested)) {
      const owner = reserved.byId.get(args.requested);
      throw failure(
        'InvalidPromotionRequest',
        `releaseId: ${args.requested} is already used${owner ? ` by workflow ${owner}` : ' in the ledger'}; omit releaseId to get a free one`,
      );
    }
    releaseId = args.requested;
  } else {
    const prefix = `${compactUtc(args.at)}-${args.kind}`;
    let n = 1;
    while (taken(`${prefix}${n}`)) n++;
    releaseId = `${prefix}${n}`;
  }
  const line: Reservation = { releaseId, workflowId: args.workflowId, at: now.toISOString() };
  return { releaseId, line: `${JSON.stringify(line)}\n` };
}

export interface AppendChange {
  result: AppendResult;
  /** The entry's text to append; undefined when the entry is there already (a retry). */
  text?: string;
}

/**
 * The record's entry, once per release id: the same release id + workflow id again is no change
 * (the existing chain head is the result); the same id from another workflow, in the ledger or
 * among the reservations, is ReleaseIdConflict. Reservations are read only when the id is new.
 */
export async function appendChange(
  ledger: LedgerIndex,
  reservations: () => Promise<ReservationIndex>,
  record: LedgerRecord,
  branchTipAfter: string | null,
): Promise<AppendChange> {
  const existing = ledger.ids.get(record.releaseId);
  if (existing) {
    if (existing.workflowId === record.workflowId) {
      return {
        result: {
          chainHead: existing.chain ?? ledger.head,
          branchTipAfter: existing.branchTipAfter ?? null,
          appended: false,
        },
      };
    }
    throw failure(
      'ReleaseIdConflict',
      `release id ${record.releaseId} is already in the ledger for another workflow (${existing.workflowId ?? 'written by hand'}); nothing was appended`,
    );
  }
  const owner = (await reservations()).byId.get(record.releaseId);
  if (owner && owner !== record.workflowId) {
    throw failure(
      'ReleaseIdConflict',
      `release id ${record.releaseId} is reserved by workflow ${owner}; nothing was appended`,
    );
  }
  const block = renderBlock(ledgerFields(record, branchTipAfter), ledger.head);
  return { result: { chainHead: block.chain, branchTipAfter, appended: true }, text: block.text };
}

/** What goes after a file whose last byte is `lastByte`: a crash mid-line left a torn line, so ours starts a fresh one. */
export function separatorAfter(lastByte: number | undefined): string {
  return lastByte === undefined || lastByte === 0x0a ? '' : '\n';
}
