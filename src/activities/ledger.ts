// The release log on disk: reserve release ids and append entries under a cross-process lock,
// one write + fsync each, keyed by release id + workflow id so a retry never appends twice.
import { mkdir, open, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import type { GateResult } from '../domain';
import { failure } from '../failures';
import { describeThrottling } from '../gates/throttle';
import { LEDGER_HEADING, LedgerFields, renderBlock } from '../ledger/format';
import { ledgerIndex, recordedTip } from '../ledger/ledger-index';
import { redact } from '../redact';

export interface PromotionRecord {
  type: 'promotion';
  releaseId: string;
  workflowId: string;
  evidenceRef: string;
  commitSha: string;
  environment: string;
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

/** The record as the seed's template keys, in order, then extras. */
export function ledgerFields(record: LedgerRecord, branchTipAfter: string | null): LedgerFields {
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

/** Creates the ledger with the seed's heading when missing; never touches an existing file. */
export async function ensureLedgerFile(ledgerPath: string): Promise<void> {
  if (ensured.has(ledgerPath)) {
    try {
      await stat(ledgerPath);
      return;
    } catch {
      ensured.delete(ledgerPath); // removed since: create it again
    }
  }
  await mkdir(path.dirname(ledgerPath), { recursive: true });
  try {
    await writeFile(ledgerPath, LEDGER_HEADING, { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  ensured.add(ledgerPath);
}
const ensured = new Set<string>();

/**
 * Runs `work` holding the ledger's cross-process lock. proper-lockfile recovers the lock of a
 * killed process once it is `stale` ms old; a compromised lock aborts instead of risking a
 * second writer.
 */
export async function withLedgerLock<T>(ledgerPath: string, work: () => Promise<T>): Promise<T> {
  // Activities of one worker queue here, in order, instead of all polling the lock file.
  const previous = localQueues.get(ledgerPath) ?? Promise.resolve();
  let done!: () => void;
  const mine = new Promise<void>((resolve) => (done = resolve));
  const tail = previous.then(() => mine);
  localQueues.set(ledgerPath, tail);
  await previous;
  try {
    return await withFileLock(ledgerPath, work);
  } finally {
    done();
    if (localQueues.get(ledgerPath) === tail) localQueues.delete(ledgerPath);
  }
}
const localQueues = new Map<string, Promise<void>>();

async function withFileLock<T>(ledgerPath: string, work: () => Promise<T>): Promise<T> {
  await ensureLedgerFile(ledgerPath);
  let compromised: Error | undefined;
  const release = await lockfile.lock(ledgerPath, {
    stale: 10_000,
    update: 2_000,
    realpath: false,
    retries: { retries: 2_000, minTimeout: 2, maxTimeout: 25, factor: 1.3 },
    onCompromised: (err) => {
      compromised = err;
    },
  });
  try {
    const result = await work();
    if (compromised) throw new Error(`ledger lock was compromised while writing: ${compromised.message}`);
    return result;
  } finally {
    await release().catch(() => undefined);
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
async function reservations(ledgerPath: string): Promise<ReservationIndex> {
  const file = reservationsPath(ledgerPath);
  let st;
  try {
    st = await stat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ino: 0, size: 0, byId: new Map(), byWorkflow: new Map() };
    throw err;
  }
  let index = reservationIndexes.get(file);
  if (!index || index.ino !== st.ino || st.size < index.size) {
    index = { ino: st.ino, size: 0, byId: new Map(), byWorkflow: new Map() };
    reservationIndexes.set(file, index);
  }
  if (st.size === index.size) return index;
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(st.size - index.size);
    await handle.read(buffer, 0, buffer.length, index.size);
    const text = buffer.toString('utf8');
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
  } finally {
    await handle.close();
  }
  return index;
}

/** Appends with one write and an fsync, so a crash leaves the whole text or none of it. */
async function appendDurably(file: string, text: string): Promise<void> {
  const handle = await open(file, 'a+');
  try {
    // A crash mid-line leaves a torn last line; start on a fresh line so ours stays whole.
    const { size } = await handle.stat();
    let prefix = '';
    if (size > 0) {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) prefix = '\n';
    }
    let data = Buffer.from(prefix + text, 'utf8');
    while (data.length > 0) {
      const { bytesWritten } = await handle.write(data);
      if (bytesWritten <= 0) throw new Error(`could not append to ${file}: nothing written`);
      data = data.subarray(bytesWritten); // a short write (e.g. a full disk) must not pass as success
    }
    await handle.sync();
  } finally {
    await handle.close();
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
export async function reserveReleaseId(args: ReserveArgs): Promise<string> {
  return withLedgerLock(args.ledgerPath, async () => {
    const reserved = await reservations(args.ledgerPath);
    const mine = reserved.byWorkflow.get(args.workflowId)?.find((id) => id.includes(`-${args.kind}`));
    if (mine) return mine;
    const ledger = await ledgerIndex(args.ledgerPath);
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
    await appendDurably(reservationsPath(args.ledgerPath), `${JSON.stringify(line)}\n`);
    return releaseId;
  });
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
export async function appendLedgerEntry(ledgerPath: string, record: LedgerRecord, readTip: () => Promise<string | null>): Promise<AppendResult> {
  const branchTipAfter = await readTip();
  return withLedgerLock(ledgerPath, async () => {
    const ledger = await ledgerIndex(ledgerPath);
    const existing = ledger.ids.get(record.releaseId);
    if (existing) {
      if (existing.workflowId === record.workflowId) {
        return { chainHead: existing.chain ?? ledger.head, branchTipAfter: existing.branchTipAfter ?? null, appended: false };
      }
      throw failure('ReleaseIdConflict', `release id ${record.releaseId} is already in the ledger for another workflow (${existing.workflowId ?? 'written by hand'}); nothing was appended`);
    }
    const owner = (await reservations(ledgerPath)).byId.get(record.releaseId);
    if (owner && owner !== record.workflowId) {
      throw failure('ReleaseIdConflict', `release id ${record.releaseId} is reserved by workflow ${owner}; nothing was appended`);
    }
    const block = renderBlock(ledgerFields(record, branchTipAfter), ledger.head);
    await appendDurably(ledgerPath, block.text);
    return { chainHead: block.chain, branchTipAfter, appended: true };
  });
}

/** The `branch_tip_after` of the last entry for `environment` and `toBranch`, if any (the drift check's reference). */
export async function lastRecordedTip(ledgerPath: string, environment: string, toBranch: string): Promise<{ releaseId: string; tip: string } | null> {
  return withLedgerLock(ledgerPath, async () => recordedTip(await ledgerIndex(ledgerPath), environment, toBranch) ?? null);
}
