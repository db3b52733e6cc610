// The file layer every ledger read and write goes through (LedgerFiles): the real one by
// default; tests inject one that fails (EACCES, EPERM, ENOSPC, short writes), since they run as
// root and chmod stops nothing. Also how a file error leaves: the typed, retryable LedgerUnwritable.
import { constants } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';
import lockfile from 'proper-lockfile';
import { retryableFailure } from '../failures';

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

// The ledger's cross-process lock (proper-lockfile: a lock directory whose mtime the holder
// keeps fresh). A killed holder's lock is taken over once it is LOCK_STALE_MS old: long enough
// that a worker stalled by GC or a slow disk is not robbed while it writes (which would be
// reported as compromised, and the append retried), short enough that a crash stops appends
// for seconds, not minutes. The holder refreshes every LOCK_UPDATE_MS, well inside the stale
// time so one slow refresh does not lose the lock.
const LOCK_STALE_MS = 10_000;
const LOCK_UPDATE_MS = 2_000;
// A waiter polls quickly (appends hold the lock for milliseconds) with a gentle backoff; the
// retries add up to about 50 s, past LOCK_STALE_MS, so a waiter outlasts a dead holder's lock
// before it gives up (and the activity's retry policy takes over).
const LOCK_RETRIES = { retries: 2_000, minTimeout: 2, maxTimeout: 25, factor: 1.3 };

export const nodeLedgerFiles: LedgerFiles = {
  open: (file, flags, mode = 0o644) => open(file, flags, mode),
  mkdir: async (dir) => {
    await mkdir(dir, { recursive: true });
  },
  async lock(file) {
    let compromised: Error | undefined;
    // A compromised lock is reported so the caller aborts instead of risking a second writer.
    const release = await lockfile.lock(file, {
      stale: LOCK_STALE_MS,
      update: LOCK_UPDATE_MS,
      realpath: false,
      retries: LOCK_RETRIES,
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
export function ledgerUnwritable(
  err: unknown,
  file: string,
  doing: string,
  outcome = 'nothing was written',
): ApplicationFailure {
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

/** Writes all of `data` at the end; a short write continues, a write of nothing is an error. */
export async function writeAll(handle: LedgerFileHandle, data: Buffer): Promise<void> {
  let written = 0;
  while (written < data.length) {
    const { bytesWritten } = await handle.write(data, written, data.length - written);
    if (bytesWritten <= 0)
      throw Object.assign(new Error(`a write of ${data.length - written} bytes wrote nothing`), { code: 'ENOSPC' });
    written += bytesWritten;
  }
}

/** Bytes `start` to `end` (fewer when the file is shorter), reading until done. */
export async function readRange(handle: LedgerFileHandle, start: number, end: number): Promise<Buffer> {
  const buffer = Buffer.alloc(end - start);
  let read = 0;
  while (read < buffer.length) {
    const { bytesRead } = await handle.read(buffer, read, buffer.length - read, start + read);
    if (bytesRead === 0) break;
    read += bytesRead;
  }
  return buffer.subarray(0, read);
}
