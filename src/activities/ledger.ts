// The release log on disk: reserve release ids and append entries under a cross-process lock,
// one write + fsync each, keyed by release id + workflow id so a retry never appends twice.
import path from 'node:path';
import type { GateResult } from '../domain';
import { failure } from '../failures';
import { describeThrottling } from '../gates/throttle';
import { LEDGER_HEADING, LedgerFields, renderBlock } from '../ledger/format';
import {
  driftReference,
  LedgerFileHandle,
  LedgerFiles,
  ledgerIndex,
  ledgerIo,
  ledgerUnwritable,
  nodeLedgerFiles,
  OPEN_APPEND,
  OPEN_APPEND_CREATE,
  OPEN_CREATE_NEW,
  OPEN_READ,
  requireVerified,
} from '../ledger/ledger-index';
import { redact } from '../redact';

export interface PromotionRecord {
  type: 'promotion';
  releaseId: string;
  workflowId: string;
  evidenceRef: string;
  commitSha: string;
  environment: string;
  /** The canonical repo (see canonicalRepo): with toBranch, the target the drift reference and last known good belong to. */
  repo: string;
  fromBranch: string;
  toBranch: string;
  stagingBase: string;
  stagingGateCommand: string;
  stagingGateResult: 'pass' | 'fail' | 'not run';
  gatesRun: GateResult[];
  changeClass: string;
  prodVerification: GateResult[];
  result: 'pass' | 'fail';
  rollbackPlan: string;
  notes: string;
  operator: string;
  evidenceRefs?: string;
  approvals: string[];
  /** Extra facts (drift, downgrade, rollback id) written after the template's keys. */
  extras: Array<[string, string]>;
}

export interface RollbackRecord {
  type: 'rollback';
  releaseId: string;
  workflowId: string;
  evidenceRef: string;
  trigger: string;
  fromSha: string;
  toSha: string;
  environment: string;
  /** The canonical repo, as in PromotionRecord. */
  repo: string;
  actions: string[];
  postRollbackVerification: GateResult[];
  result: 'completed' | 'partial';
  notes: string;
  operator: string;
  evidenceRefs?: string;
  promotionReleaseId?: string;
  /** Not in the seed's template; written as an extra so the drift check knows which branch moved. */
  toBranch: string;
  extras: Array<[string, string]>;
}

export type LedgerRecord = PromotionRecord | RollbackRecord;

/** `health: pass (200, 12 ms)`; bursts and commands say what they counted. */
export function gateLine(gate: GateResult): string {
  const verdict = gate.pass ? 'pass' : 'fail';
  if (gate.counts) return `${gate.name}: ${verdict} (${gate.detail})`;
  const status = gate.status === undefined ? 'no answer' : String(gate.status);
  return `${gate.name}: ${verdict} (${status}, ${gate.latencyMs} ms${gate.throttled ? `, ${describeThrottling(gate.throttled)}` : ''})`;
}

function evidence(record: LedgerRecord): string {
  return redact([record.evidenceRef, record.evidenceRefs].filter(Boolean).join('; '));
}

/** The record as the seed's template keys, in order, then extras (the target's `repo` first). */
export function ledgerFields(record: LedgerRecord, branchTipAfter: string | null): LedgerFields {
  // Not redacted: validation keeps credentials out of a repo, and a masked key would name no
  // target. A record from a workflow started before records had a repo has none: its entry is
  // then matched like the seed's, by environment and branch, rather than written as "undefined".
  const repo: LedgerFields = record.repo ? [['repo', record.repo]] : [];
  const tail: LedgerFields = [
    ...record.extras.map(([k, v]): [string, string] => [k, redact(v)]),
    ['workflow_id', record.workflowId],
    ['branch_tip_after', branchTipAfter ?? '(branch missing)'],
  ];
  if (record.type === 'promotion') {
    const costGate = record.gatesRun.find((g) => g.name === 'cost_gate_chat');
    const breaker = record.gatesRun.find((g) => g.name === 'breaker_drill');
    return [
      ['release_id', record.releaseId],
      ['type', 'promotion'],
      ['commit_sha', record.commitSha],
      ['environment', record.environment],
      ['from_branch', record.fromBranch],
      ['to_branch', record.toBranch],
      ['staging_base', record.stagingBase],
      ['staging_gate_command', record.stagingGateCommand],
      ['staging_gate_result', record.stagingGateResult],
      ['gates_run', record.gatesRun.map(gateLine)],
      ['change_class', record.changeClass],
      ['prod_verification', record.prodVerification.map(gateLine)],
      ['result', record.result],
      ['rollback_plan', redact(record.rollbackPlan)],
      ['notes', redact(record.notes)],
      ['operator', record.operator],
      ['evidence_refs', evidence(record)],
      [
        'cost_control_evidence',
        [
          costGate ? `cost_gate_chat: ${costGate.pass ? 'pass' : 'fail'} (${costGate.status ?? 'no answer'})` : 'cost_gate_chat: not run',
          breaker ? `breaker_drill: ${breaker.pass ? 'pass' : 'fail'} (${breaker.detail.split(':')[0]})` : 'breaker_drill: not run',
        ],
      ],
      ...repo,
      ['approvals', record.approvals.map(redact)],
      ...tail,
    ];
  }
  return [
    ['release_id', record.releaseId],
    ['type', 'rollback'],
    ['trigger', redact(record.trigger)],
    ['from_sha', record.fromSha],
    ['to_sha', record.toSha],
    ['environment', record.environment],
    ['actions', record.actions.map(redact)],
    ['post_rollback_verification', record.postRollbackVerification.map(gateLine)],
    ['result', record.result],
    ['notes', redact(record.notes)],
    ['operator', record.operator],
    ['evidence_refs', evidence(record)],
    ...repo,
    ...(record.promotionReleaseId ? ([['promotion_release_id', record.promotionReleaseId]] as LedgerFields) : []),
    ['to_branch', record.toBranch],
    ...tail,
  ];
}

interface Reservation {
  releaseId: string;
  workflowId: string;
  at: string;
}

export function reservationsPath(ledgerPath: string): string {
  return `${ledgerPath}.reservations`;
}

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
    throw ledgerUnwritable(err, ledgerPath, 'writing its heading', 'the file was created but may be empty or torn: delete it and it is created again');
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** Writes all of `data` at the end; a short write continues, a write of nothing is an error. */
async function writeAll(handle: LedgerFileHandle, data: Buffer): Promise<void> {
  let written = 0;
  while (written < data.length) {
    const { bytesWritten } = await handle.write(data, written, data.length - written);
    if (bytesWritten <= 0) throw Object.assign(new Error(`a write of ${data.length - written} bytes wrote nothing`), { code: 'ENOSPC' });
    written += bytesWritten;
  }
}

/**
 * Runs `work` holding the ledger's cross-process lock. proper-lockfile recovers the lock of a
 * killed process once it is `stale` ms old; a compromised lock aborts instead of risking a
 * second writer.
 */
export async function withLedgerLock<T>(ledgerPath: string, work: () => Promise<T>, files: LedgerFiles = nodeLedgerFiles): Promise<T> {
  // Activities of one worker queue here, in order, instead of all polling the lock file.
  const previous = localQueues.get(ledgerPath) ?? Promise.resolve();
  let done!: () => void;
  const mine = new Promise<void>((resolve) => (done = resolve));
  const tail = previous.then(() => mine);
  localQueues.set(ledgerPath, tail);
  await previous;
  try {
    return await withFileLock(ledgerPath, work, files);
  } catch (err) {
    // Whatever failed on the way (a lock directory that cannot be made, a read), it leaves as a
    // typed, retryable failure naming the file, never as a bare Error("EPERM").
    throw ledgerUnwritable(err, ledgerPath, 'reading or locking it');
  } finally {
    done();
    if (localQueues.get(ledgerPath) === tail) localQueues.delete(ledgerPath);
  }
}
const localQueues = new Map<string, Promise<void>>();

async function withFileLock<T>(ledgerPath: string, work: () => Promise<T>, files: LedgerFiles): Promise<T> {
  await ledgerIo(ledgerPath, 'creating its directory', () => files.mkdir(path.dirname(ledgerPath)));
  const lock = await ledgerIo(ledgerPath, 'taking its lock', () => files.lock(ledgerPath));
  try {
    await ensureLedgerFile(ledgerPath, files);
    const result = await work();
    const compromised = lock.compromised();
    if (compromised) throw ledgerUnwritable(compromised, ledgerPath, 'holding its lock', 'another process took the lock meanwhile; the retry finds the entry if it was written');
    return result;
  } finally {
    await lock.release().catch(() => undefined);
  }
}

interface ReservationIndex {
  ino: number;
  /** Bytes consumed so far: always the end of a complete line. */
  size: number;
  byId: Map<string, string>;
  byWorkflow: Map<string, string[]>;
}
const reservationIndexes = new Map<string, ReservationIndex>();

/** The reservations file as an index, reading only lines added since the last call. */
async function reservations(ledgerPath: string, files: LedgerFiles): Promise<ReservationIndex> {
  const file = reservationsPath(ledgerPath);
  let handle: LedgerFileHandle;
  try {
    handle = await files.open(file, OPEN_READ);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ino: 0, size: 0, byId: new Map(), byWorkflow: new Map() };
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
    const buffer = Buffer.alloc(st.size - index.size);
    let read = 0;
    while (read < buffer.length) {
      const { bytesRead } = await handle.read(buffer, read, buffer.length - read, index.size + read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    const text = buffer.subarray(0, read).toString('utf8');
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
    return index;
  } catch (err) {
    throw ledgerUnwritable(err, file, 'reading its reservations');
  } finally {
    await handle.close().catch(() => undefined);
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
      if (last[0] !== 0x0a) prefix = '\n';
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
        undone ? `nothing was written (the partial bytes were truncated away, back to ${size} bytes)` : `the partial bytes after byte ${size} could not be truncated away: remove them`,
      );
    }
  } finally {
    await handle.close().catch(() => undefined);
  }
}

function compactUtc(iso: string): string {
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}-${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}`;
}

export interface ReserveArgs {
  ledgerPath: string;
  workflowId: string;
  kind: 'rc' | 'rb';
  /** Workflow time, so the id says when the release started. */
  at: string;
  requested?: string;
}

/**
 * Reserves `YYYYMMDD-HHMM-rcN` (or `rbN`), N the first number free in the ledger and the
 * reservations file. A retry by the same workflow gets its earlier id back.
 * Throws InvalidPromotionRequest when a requested id is taken.
 */
export async function reserveReleaseId(args: ReserveArgs, files: LedgerFiles = nodeLedgerFiles): Promise<string> {
  return withLedgerLock(args.ledgerPath, async () => {
    const ledger = await trustedIndex(args.ledgerPath, files);
    const reserved = await reservations(args.ledgerPath, files);
    const mine = reserved.byWorkflow.get(args.workflowId)?.find((id) => id.includes(`-${args.kind}`));
    if (mine) return mine;
    const taken = (id: string) => reserved.byId.has(id) || ledger.ids.has(id);
    let releaseId: string;
    if (args.requested) {
      if (taken(args.requested)) {
        const owner = reserved.byId.get(args.requested);
        throw failure('InvalidPromotionRequest', `releaseId: ${args.requested} is already used${owner ? ` by workflow ${owner}` : ' in the ledger'}; omit releaseId to get a free one`);
      }
      releaseId = args.requested;
    } else {
      const prefix = `${compactUtc(args.at)}-${args.kind}`;
      let n = 1;
      while (taken(`${prefix}${n}`)) n++;
      releaseId = `${prefix}${n}`;
    }
    const line: Reservation = { releaseId, workflowId: args.workflowId, at: new Date().toISOString() };
    await appendDurably(files, reservationsPath(args.ledgerPath), `${JSON.stringify(line)}\n`, OPEN_APPEND_CREATE);
    return releaseId;
  }, files);
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

export interface AppendResult {
  chainHead: string;
  branchTipAfter: string | null;
  /** false when the entry was already there (a retry). */
  appended: boolean;
}

/**
 * Appends the record's entry once per release id. The same release id + workflow id again is a
 * no-op that returns the existing chain head; the same id from another workflow is
 * ReleaseIdConflict. `readTip` runs before the ledger lock is taken (a git round trip must not
 * hold every other append up). A caller that pushed holds the target's lock, so the tip cannot
 * move; one that failed before the lock did not push, and its entry is no drift reference.
 */
export async function appendLedgerEntry(ledgerPath: string, record: LedgerRecord, readTip: () => Promise<string | null>, files: LedgerFiles = nodeLedgerFiles): Promise<AppendResult> {
  const branchTipAfter = await readTip();
  return withLedgerLock(ledgerPath, async () => {
    const ledger = await trustedIndex(ledgerPath, files);
    const existing = ledger.ids.get(record.releaseId);
    if (existing) {
      if (existing.workflowId === record.workflowId) {
        return { chainHead: existing.chain ?? ledger.head, branchTipAfter: existing.branchTipAfter ?? null, appended: false };
      }
      throw failure('ReleaseIdConflict', `release id ${record.releaseId} is already in the ledger for another workflow (${existing.workflowId ?? 'written by hand'}); nothing was appended`);
    }
    const owner = (await reservations(ledgerPath, files)).byId.get(record.releaseId);
    if (owner && owner !== record.workflowId) {
      throw failure('ReleaseIdConflict', `release id ${record.releaseId} is reserved by workflow ${owner}; nothing was appended`);
    }
    const block = renderBlock(ledgerFields(record, branchTipAfter), ledger.head);
    await appendDurably(files, ledgerPath, block.text, OPEN_APPEND);
    return { chainHead: block.chain, branchTipAfter, appended: true };
  }, files);
}

/**
 * The drift check's reference for the target (canonical repo + branch; environment for entries
 * written before entries named their repo): see driftReference. LedgerDoesNotVerify when the
 * ledger does not verify, since a reference read from it could be wrong.
 */
export async function lastRecordedTip(ledgerPath: string, target: { repo: string; branch: string; environment: string }, files: LedgerFiles = nodeLedgerFiles): Promise<{ releaseId: string; tip: string } | null> {
  return withLedgerLock(ledgerPath, async () => driftReference(await trustedIndex(ledgerPath, files), target.repo, target.branch, target.environment) ?? null, files);
}

/**
 * The worker's look at its ledger when it starts: created when missing, then indexed (so later
 * appends read only new bytes). Says why appends would stop, or undefined when they would not.
 */
export async function ledgerStartupProblem(ledgerPath: string, files: LedgerFiles = nodeLedgerFiles): Promise<string | undefined> {
  try {
    await withLedgerLock(ledgerPath, () => trustedIndex(ledgerPath, files), files);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
