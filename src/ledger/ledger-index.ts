// What appends need to know about a ledger (ids, each id's workflow, the chain head, whether the
// file verifies, the target references), kept per process and brought up to date by reading only
// the bytes appended since the last look. Without it every append would re-parse the whole log.
import { createHash } from 'node:crypto';
import { retryableFailure } from '../failures';
import { LedgerFiles, nodeLedgerFiles, OPEN_READ, readRange } from './files';
import { fieldText, GENESIS_CHAIN, ParsedEntry } from './format';
import { emptyTargetReferences, noteEntry, TargetReferences } from './target-references';
import { LedgerProblem, LedgerVerifier } from './verify';

export interface IndexedEntry {
  workflowId?: string;
  chain?: string;
  branchTipAfter?: string;
}

/** The index; as TargetReferences it answers driftReference and lastKnownGood (target-references.ts). */
export interface LedgerIndex extends TargetReferences {
  ids: Map<string, IndexedEntry>;
  /** The chain head the file ends at. */
  head: string;
  entries: number;
  /** The first problem `ledger verify` (without --head) reports; undefined when the file verifies. */
  problem?: LedgerProblem;
}

interface Cached {
  index: LedgerIndex;
  verifier: LedgerVerifier;
  ino: number;
  size: number;
  mtimeMs: number;
  /** Newlines in the first `size` bytes: the line number the next appended byte is on, minus one. */
  lines: number;
  endsWithNewline: boolean;
  /** sha256 of the last bytes before `size`: an append keeps them, a rewrite does not. */
  tailHash: string;
}

// The bytes before the cached end that an incremental read re-reads and compares: a file that was
// rewritten and grown, rather than appended to, almost always differs there (its last entry's
// chain line); a fixed, small size keeps the check one short read per append.
const TAIL_BYTES = 512;
const cache = new Map<string, Cached>();

function addEntry(index: LedgerIndex, entry: ParsedEntry): void {
  index.ids.set(entry.releaseId, {
    workflowId: fieldText(entry, 'workflow_id'),
    chain: entry.chain,
    branchTipAfter: fieldText(entry, 'branch_tip_after'),
  });
  noteEntry(index, entry, index.entries++);
}

const hashOf = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

function newlines(bytes: Buffer): number {
  let n = 0;
  for (let i = bytes.indexOf(0x0a); i !== -1; i = bytes.indexOf(0x0a, i + 1)) n++;
  return n;
}

function emptyIndex(): LedgerIndex {
  return { ids: new Map(), head: GENESIS_CHAIN, entries: 0, ...emptyTargetReferences() };
}

/**
 * The index of `file` as it is now, opened without following a symlink. Call under the ledger
 * lock when the answer must not go stale. File errors are thrown as they come (callers make them
 * LedgerUnwritable with ledgerIo); a file that does not verify is not an error here: see `problem`.
 */
export async function ledgerIndex(file: string, files: LedgerFiles = nodeLedgerFiles): Promise<LedgerIndex> {
  const handle = await files.open(file, OPEN_READ);
  try {
    const st = await handle.stat();
    const cached = cache.get(file);
    if (cached && cached.ino === st.ino && cached.size === st.size && cached.mtimeMs === st.mtimeMs)
      return cached.index;
    // Only appended bytes are read, and only onto a state that verified and ended a line: then
    // the scanner is outside any fence there, and scanning the new bytes alone is scanning the file.
    if (cached && cached.ino === st.ino && st.size > cached.size && !cached.index.problem && cached.endsWithNewline) {
      const from = Math.max(0, cached.size - TAIL_BYTES);
      const bytes = await readRange(handle, from, st.size);
      const keptTail = bytes.subarray(0, cached.size - from);
      // Stryker disable next-line ConditionalExpression: equivalent unless the file shrinks between stat and read
      if (bytes.length === st.size - from && hashOf(keptTail) === cached.tailHash) {
        const added = bytes.subarray(cached.size - from);
        cached.verifier.scan(added.toString('utf8'), cached.lines, (entry) => addEntry(cached.index, entry));
        Object.assign(cached.index, { head: cached.verifier.head, problem: cached.verifier.problem });
        Object.assign(cached, {
          size: st.size,
          mtimeMs: st.mtimeMs,
          lines: cached.lines + newlines(added),
          endsWithNewline: bytes[bytes.length - 1] === 0x0a,
          tailHash: hashOf(bytes.subarray(Math.max(0, bytes.length - TAIL_BYTES))),
        });
        return cached.index;
      }
    }
    // First look, or the file changed other than by appending to a verified file: read it all.
    const bytes = await readRange(handle, 0, st.size);
    const { index, verifier } = indexWith(bytes.toString('utf8'));
    cache.set(file, {
      index,
      verifier,
      ino: st.ino,
      size: bytes.length,
      mtimeMs: st.mtimeMs,
      lines: newlines(bytes),
      // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent, bytes[-1] is undefined
      endsWithNewline: bytes.length > 0 && bytes[bytes.length - 1] === 0x0a,
      tailHash: hashOf(bytes.subarray(Math.max(0, bytes.length - TAIL_BYTES))),
    });
    return index;
  } finally {
    await handle.close();
  }
}

function indexWith(text: string): { index: LedgerIndex; verifier: LedgerVerifier } {
  const index = emptyIndex();
  const verifier = new LedgerVerifier();
  verifier.scan(text, 0, (entry) => addEntry(index, entry));
  index.head = verifier.head;
  index.problem = verifier.problem;
  return { index, verifier };
}

/** The index of a ledger's whole text (the git ledger's file at a commit), by the same rules as a file's. */
export function indexText(text: string): LedgerIndex {
  return indexWith(text).index;
}

/** Throws the retryable LedgerDoesNotVerify naming the line when the indexed file does not verify. */
export function requireVerified(index: LedgerIndex, file: string): void {
  const { problem } = index;
  if (!problem) return;
  throw retryableFailure(
    'LedgerDoesNotVerify',
    `the ledger ${file} does not verify at line ${problem.line}: ${problem.message}. Nothing was written, and nothing will be until it verifies: ` +
      `run release-promoter ledger verify ${file}, repair the file (never edit existing entries; remove a torn last entry or close its fence), and the attempt is retried`,
    { path: file, line: problem.line, problem: problem.message },
  );
}
