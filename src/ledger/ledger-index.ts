// What appends need to know about a ledger (ids, each id's workflow, the chain head, the last
// branch tip per environment), kept per process and brought up to date by reading only the bytes
// appended since the last look. Without it every append would re-parse the whole release log.
import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { fieldText, GENESIS_CHAIN, ParsedEntry, scanLedger } from './format';

export interface IndexedEntry {
  workflowId?: string;
  chain?: string;
  branchTipAfter?: string;
}

export interface LedgerIndex {
  ids: Map<string, IndexedEntry>;
  /** The chain head the file ends at. */
  head: string;
  /** environment + "\0" + branch → the last entry's branch_tip_after there (drift check reference). */
  tips: Map<string, { releaseId: string; tip: string }>;
}

interface Cached {
  index: LedgerIndex;
  ino: number;
  size: number;
  mtimeMs: number;
  /** sha256 of the last bytes before `size`: an append keeps them, a rewrite does not. */
  tailHash: string;
}

const TAIL_BYTES = 512;
const cache = new Map<string, Cached>();

export function tipKey(environment: string, branch: string): string {
  return `${environment}\0${branch}`;
}

function addEntry(index: LedgerIndex, entry: ParsedEntry): void {
  index.ids.set(entry.releaseId, { workflowId: fieldText(entry, 'workflow_id'), chain: entry.chain, branchTipAfter: fieldText(entry, 'branch_tip_after') });
  if (entry.chain) index.head = entry.chain;
  const environment = fieldText(entry, 'environment');
  const tip = fieldText(entry, 'branch_tip_after');
  // A failed promotion that names no rollback never pushed, so it did not move the branch and
  // is no reference for the drift check: it may have been written without the target's lock
  // (failed gates, a rejection) while another promotion moved the branch, or, refused for
  // drift, it saw the drifted tip, which must not make the drift look reconciled.
  const unpushed = fieldText(entry, 'type') === 'promotion' && fieldText(entry, 'result') === 'fail' && !fieldText(entry, 'rollback_release_id');
  if (!environment || !tip || !/^[0-9a-f]{40}$/.test(tip) || unpushed) return;
  index.tips.set(tipKey(environment, fieldText(entry, 'to_branch') ?? '*'), { releaseId: entry.releaseId, tip });
}

async function readRange(file: string, start: number, end: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(end - start);
    let read = 0;
    while (read < buffer.length) {
      const { bytesRead } = await handle.read(buffer, read, buffer.length - read, start + read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    return buffer.subarray(0, read);
  } finally {
    await handle.close();
  }
}

const hashOf = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** The index of `file` as it is now. Call under the ledger lock when the answer must not go stale. */
export async function ledgerIndex(file: string): Promise<LedgerIndex> {
  const st = await stat(file);
  const cached = cache.get(file);
  if (cached && cached.ino === st.ino && cached.size === st.size && cached.mtimeMs === st.mtimeMs) return cached.index;
  if (cached && cached.ino === st.ino && st.size > cached.size) {
    const from = Math.max(0, cached.size - TAIL_BYTES);
    const bytes = await readRange(file, from, st.size);
    const keptTail = bytes.subarray(0, cached.size - from);
    if (hashOf(keptTail) === cached.tailHash) {
      const added: ParsedEntry[] = [];
      const problems = scanLedger(bytes.subarray(cached.size - from).toString('utf8'), (e) => added.push(e));
      if (problems.length === 0) {
        for (const entry of added) addEntry(cached.index, entry);
        Object.assign(cached, { size: st.size, mtimeMs: st.mtimeMs, tailHash: hashOf(bytes.subarray(Math.max(0, bytes.length - TAIL_BYTES))) });
        return cached.index;
      }
    }
  }
  // First look, or the file changed other than by appending whole entries: read it all.
  const bytes = await readRange(file, 0, st.size);
  const index: LedgerIndex = { ids: new Map(), head: GENESIS_CHAIN, tips: new Map() };
  scanLedger(bytes.toString('utf8'), (entry) => addEntry(index, entry));
  cache.set(file, { index, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, tailHash: hashOf(bytes.subarray(Math.max(0, bytes.length - TAIL_BYTES))) });
  return index;
}

/** The last recorded tip for an environment's branch (rollback entries name their branch too; hand-written ones may not). */
export function recordedTip(index: LedgerIndex, environment: string, branch: string): { releaseId: string; tip: string } | undefined {
  const exact = index.tips.get(tipKey(environment, branch));
  const loose = index.tips.get(tipKey(environment, '*'));
  if (!exact) return loose;
  if (!loose) return exact;
  // Whichever was written later wins: compare their positions via insertion order of ids.
  for (const id of [...index.ids.keys()].reverse()) {
    if (id === exact.releaseId) return exact;
    if (id === loose.releaseId) return loose;
  }
  return exact;
}
