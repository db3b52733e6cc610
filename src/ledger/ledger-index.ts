// What appends need to know about a ledger (ids, each id's workflow, the chain head, whether the
// file verifies, the drift reference and last known good per target), kept per process and
// brought up to date by reading only the bytes appended since the last look. Without it every
// append would re-parse the whole release log.
//
// Also the file layer every ledger read and write goes through (LedgerFiles): the real one by
// default; tests inject one that fails (EACCES, EPERM, ENOSPC, short writes), since they run as
// root and chmod stops nothing.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';
import lockfile from 'proper-lockfile';
import { retryableFailure } from '../failures';
import { fieldText, GENESIS_CHAIN, ParsedEntry } from './format';
import { LedgerProblem, LedgerVerifier } from './verify';

// ---- the file layer -----------------------------------------------------------------------------

export interface LedgerStat {
  ino: number;
  size: number;
  mtimeMs: number;
}

/** The part of node's FileHandle the ledger uses. */
export interface LedgerFileHandle {
  stat(): Promise<LedgerStat>;
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  /** Writes at the end (files are opened with O_APPEND). */
  write(buffer: Buffer, offset: number, length: number): Promise<{ bytesWritten: number }>;
  truncate(length: number): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface LedgerLock {
  release(): Promise<void>;
  /** Set when the lock was lost while held (another process took it as stale). */
  compromised(): Error | undefined;
}

export interface LedgerFiles {
  open(file: string, flags: number, mode?: number): Promise<LedgerFileHandle>;
  /** mkdir -p */
  mkdir(dir: string): Promise<void>;
  /** The cross-process lock of `file` (held by every reserve and append). */
  lock(file: string): Promise<LedgerLock>;
}

// O_NOFOLLOW refuses a symlink in the last component, so a symlink swapped in after the worker
// checked its configuration cannot redirect reads or writes. (Symlinked parent directories are
// still followed: /tmp is one on some systems.)
const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
export const OPEN_READ = constants.O_RDONLY | NOFOLLOW;
/** Append, and read the last byte; the file must exist (ensureLedgerFile creates the ledger). */
export const OPEN_APPEND = constants.O_RDWR | constants.O_APPEND | NOFOLLOW;
/** Append, creating the file (the reservations file). */
export const OPEN_APPEND_CREATE = OPEN_APPEND | constants.O_CREAT;
/** Create, failing when anything (a symlink too) is already there. */
export const OPEN_CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NOFOLLOW;

export const nodeLedgerFiles: LedgerFiles = {
  open: (file, flags, mode = 0o644) => open(file, flags, mode),
  mkdir: async (dir) => {
    await mkdir(dir, { recursive: true });
  },
  async lock(file) {
    let compromised: Error | undefined;
    // proper-lockfile recovers the lock of a killed process once it is `stale` ms old; a
    // compromised lock is reported so the caller aborts instead of risking a second writer.
    const release = await lockfile.lock(file, {
      stale: 10_000,
      update: 2_000,
      realpath: false,
      retries: { retries: 2_000, minTimeout: 2, maxTimeout: 25, factor: 1.3 },
      onCompromised: (err) => {
        compromised = err;
      },
    });
    return { release: () => release(), compromised: () => compromised };
  },
};

const HINTS: Record<string, string> = {
  ELOOP: 'it is a symbolic link, which the worker never follows',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted (an immutable or append-only attribute?)',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EIO: 'I/O error',
  ENOENT: 'no such file or directory',
};

/**
 * Any error of a ledger file operation as the typed, retryable LedgerUnwritable naming the file,
 * what was being done and the errno. Typed failures pass through unchanged.
 */
export function ledgerUnwritable(err: unknown, file: string, doing: string, outcome = 'nothing was written'): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const e = err as NodeJS.ErrnoException | undefined;
  const errno = e?.code ?? 'no errno';
  const hint = e?.code ? HINTS[e.code] : undefined;
  return retryableFailure(
    'LedgerUnwritable',
    `the ledger ${file} could not be used (${doing}): ${errno}${hint ? `, ${hint}` : ''} (${e?.message ?? String(err)}); ${outcome}. ` +
      `Fix the file or its directory and the attempt is retried; check it with: release-promoter ledger verify ${file}`,
    { path: file, errno, doing },
  );
}

/** `work` with any error it throws turned into LedgerUnwritable (see ledgerUnwritable). */
export async function ledgerIo<T>(file: string, doing: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw ledgerUnwritable(err, file, doing);
  }
}

// ---- the index ----------------------------------------------------------------------------------

export interface IndexedEntry {
  workflowId?: string;
  chain?: string;
  branchTipAfter?: string;
}

/** An entry that touched a target, as the references need it; `seq` is its position in the file. */
export interface TargetEntry {
  releaseId: string;
  tip: string;
  seq: number;
}

export interface LedgerIndex {
  ids: Map<string, IndexedEntry>;
  /** The chain head the file ends at. */
  head: string;
  entries: number;
  /** The first problem `ledger verify` (without --head) reports; undefined when the file verifies. */
  problem?: LedgerProblem;
  /** target key → the latest entry that moved the branch or tried to restore it (drift reference). */
  moves: Map<string, TargetEntry>;
  /** target key → every `pass` promotion and `completed` rollback, in file order (last known good). */
  goods: Map<string, TargetEntry[]>;
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

const TAIL_BYTES = 512;
const cache = new Map<string, Cached>();
const FULL_SHA = /^[0-9a-f]{40}$/;

// Entries carry the canonical repo (`repo`); entries written before that key existed are matched
// by environment and branch instead (SPEC §6 "Targets"). A missing to_branch (hand-written or the
// seed's rollback template) matches any branch.
const repoKey = (repo: string, branch: string) => `repo\0${repo}\0${branch}`;
const legacyKey = (environment: string, branch: string) => `env\0${environment}\0${branch}`;
const ANY_BRANCH = '\0*';

function targetKey(entry: ParsedEntry): string | undefined {
  const repo = fieldText(entry, 'repo');
  const branch = fieldText(entry, 'to_branch') ?? ANY_BRANCH;
  if (repo) return repoKey(repo, branch);
  const environment = fieldText(entry, 'environment');
  return environment ? legacyKey(environment, branch) : undefined;
}

/** The keys an entry of target (repo, branch, environment) may be indexed under. */
function candidateKeys(repo: string, branch: string, environment: string): string[] {
  return [repoKey(repo, branch), repoKey(repo, ANY_BRANCH), legacyKey(environment, branch), legacyKey(environment, ANY_BRANCH)];
}

function addEntry(index: LedgerIndex, entry: ParsedEntry): void {
  index.ids.set(entry.releaseId, { workflowId: fieldText(entry, 'workflow_id'), chain: entry.chain, branchTipAfter: fieldText(entry, 'branch_tip_after') });
  const seq = index.entries++;
  const key = targetKey(entry);
  const tip = fieldText(entry, 'branch_tip_after');
  if (!key || !tip || !FULL_SHA.test(tip)) return;
  const type = fieldText(entry, 'type');
  const result = fieldText(entry, 'result');
  const at: TargetEntry = { releaseId: entry.releaseId, tip, seq };
  // A failed promotion that names no rollback never pushed, so it did not move the branch and
  // is no reference for the drift check: it may have been written without the target's lock
  // (failed gates, a rejection) while another promotion moved the branch, or, refused for
  // drift, it saw the drifted tip, which must not make the drift look reconciled. An entry the
  // target's lock wrote for a holder that closed (`closed_while_holding`) was written under the
  // lock with the tip found: it is a reference.
  const unpushed = type === 'promotion' && result === 'fail' && !fieldText(entry, 'rollback_release_id') && !fieldText(entry, 'closed_while_holding');
  if (!unpushed) index.moves.set(key, at);
  if ((type === 'promotion' && result === 'pass') || (type === 'rollback' && result === 'completed')) {
    const list = index.goods.get(key);
    if (list) list.push(at);
    else index.goods.set(key, [at]);
  }
}

async function readRange(handle: LedgerFileHandle, start: number, end: number): Promise<Buffer> {
  const buffer = Buffer.alloc(end - start);
  let read = 0;
  while (read < buffer.length) {
    const { bytesRead } = await handle.read(buffer, read, buffer.length - read, start + read);
    if (bytesRead === 0) break;
    read += bytesRead;
  }
  return buffer.subarray(0, read);
}

const hashOf = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

function newlines(bytes: Buffer): number {
  let n = 0;
  for (let i = bytes.indexOf(0x0a); i !== -1; i = bytes.indexOf(0x0a, i + 1)) n++;
  return n;
}

function emptyIndex(): LedgerIndex {
  return { ids: new Map(), head: GENESIS_CHAIN, entries: 0, moves: new Map(), goods: new Map() };
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
    if (cached && cached.ino === st.ino && cached.size === st.size && cached.mtimeMs === st.mtimeMs) return cached.index;
    // Only appended bytes are read, and only onto a state that verified and ended a line: then
    // the scanner is outside any fence there, and scanning the new bytes alone is scanning the file.
    if (cached && cached.ino === st.ino && st.size > cached.size && !cached.index.problem && cached.endsWithNewline) {
      const from = Math.max(0, cached.size - TAIL_BYTES);
      const bytes = await readRange(handle, from, st.size);
      const keptTail = bytes.subarray(0, cached.size - from);
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
    const index = emptyIndex();
    const verifier = new LedgerVerifier();
    verifier.scan(bytes.toString('utf8'), 0, (entry) => addEntry(index, entry));
    index.head = verifier.head;
    index.problem = verifier.problem;
    cache.set(file, {
      index,
      verifier,
      ino: st.ino,
      size: bytes.length,
      mtimeMs: st.mtimeMs,
      lines: newlines(bytes),
      endsWithNewline: bytes.length > 0 && bytes[bytes.length - 1] === 0x0a,
      tailHash: hashOf(bytes.subarray(Math.max(0, bytes.length - TAIL_BYTES))),
    });
    return index;
  } finally {
    await handle.close();
  }
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

function latest(index: LedgerIndex, repo: string, branch: string, environment: string): TargetEntry | undefined {
  let best: TargetEntry | undefined;
  for (const key of candidateKeys(repo, branch, environment)) {
    const found = index.moves.get(key);
    if (found && (!best || found.seq > best.seq)) best = found;
  }
  return best;
}

/**
 * The drift check's reference for a target (canonical `repo` + `branch`; `environment` finds the
 * entries written before entries named their repo): the `branch_tip_after` of the target's latest
 * entry whose workflow moved the branch or tried to restore it (SPEC §6).
 */
export function driftReference(index: LedgerIndex, repo: string, branch: string, environment: string): { releaseId: string; tip: string } | undefined {
  const found = latest(index, repo, branch, environment);
  return found && { releaseId: found.releaseId, tip: found.tip };
}

/**
 * The last known good of a target (canonical `repo` + `branch`, `environment` for entries written
 * before the `repo` key): the `branch_tip_after` of its latest `pass` promotion or `completed`
 * rollback. `unlike` skips entries that left the branch at that commit: a rollback's default
 * target is the last known good that differs from where the branch is now. The one definition;
 * the worker and every command use it.
 */
export function lastKnownGood(index: LedgerIndex, repo: string, branch: string, environment: string, options: { unlike?: string } = {}): { releaseId: string; tip: string } | undefined {
  const entries = candidateKeys(repo, branch, environment).flatMap((key) => index.goods.get(key) ?? []);
  const found = entries.sort((a, b) => b.seq - a.seq).find((entry) => entry.tip !== options.unlike);
  return found && { releaseId: found.releaseId, tip: found.tip };
}
