// A ledger file layer that fails on purpose. Tests run as root, so chmod and chattr stop no
// write; faults are injected here instead, per operation and path, and healed at will. Every
// operation that is not failed goes to the real file system.
import { nodeLedgerFiles } from '../src/ledger/files';
import type { LedgerFileHandle, LedgerFiles, LedgerLock, LedgerStat } from '../src/ledger/files';

export type FaultOp = 'open' | 'stat' | 'read' | 'write' | 'truncate' | 'sync' | 'mkdir' | 'lock';

interface Fault {
  op: FaultOp;
  path?: string;
  code: string;
  times: number;
}

interface ShortWrite {
  path?: string;
  bytes: number;
  thenFail?: string;
}

/** An error shaped like node's own (code, syscall, path), as the fs module throws them. */
export function errnoError(code: string, syscall: string, file: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected fault, ${syscall} '${file}'`), {
    code,
    errno: -1,
    syscall,
    path: file,
  });
}

export class FaultyLedgerFiles implements LedgerFiles {
  private faults: Fault[] = [];
  private shorts: ShortWrite[] = [];
  /** Every fault that fired, in order. */
  readonly fired: Array<{ op: FaultOp; path: string; code: string }> = [];

  /** `op` on `path` (any path when omitted) fails with errno `code`, `times` times (default: until healed). */
  fail(op: FaultOp, code: string, options: { path?: string; times?: number } = {}): this {
    this.faults.push({ op, code, path: options.path, times: options.times ?? Infinity });
    return this;
  }

  /** The next write to `path` writes only its first `bytes` bytes and says so; then, optionally, the write after it fails. */
  shortWrite(options: ShortWrite): this {
    this.shorts.push(options);
    return this;
  }

  heal(): void {
    this.faults = [];
    this.shorts = [];
  }

  private check(op: FaultOp, file: string): void {
    const fault = this.faults.find((f) => f.op === op && f.times > 0 && (f.path === undefined || f.path === file));
    if (!fault) return;
    fault.times--;
    this.fired.push({ op, path: file, code: fault.code });
    throw errnoError(fault.code, op, file);
  }

  async open(file: string, flags: number, mode?: number): Promise<LedgerFileHandle> {
    this.check('open', file);
    const real = await nodeLedgerFiles.open(file, flags, mode);
    return {
      stat: async (): Promise<LedgerStat> => {
        this.check('stat', file);
        return real.stat();
      },
      read: async (buffer, offset, length, position) => {
        this.check('read', file);
        return real.read(buffer, offset, length, position);
      },
      write: async (buffer, offset, length) => {
        this.check('write', file);
        const at = this.shorts.findIndex((s) => s.path === undefined || s.path === file);
        const short = at === -1 ? undefined : this.shorts.splice(at, 1)[0];
        if (short && short.bytes < length) {
          const written = await real.write(buffer, offset, short.bytes);
          this.fired.push({ op: 'write', path: file, code: `short write of ${short.bytes} of ${length} bytes` });
          if (short.thenFail) this.faults.unshift({ op: 'write', path: file, code: short.thenFail, times: 1 });
          return written;
        }
        return real.write(buffer, offset, length);
      },
      truncate: async (length) => {
        this.check('truncate', file);
        return real.truncate(length);
      },
      sync: async () => {
        this.check('sync', file);
        return real.sync();
      },
      close: () => real.close(),
    };
  }

  async mkdir(dir: string): Promise<void> {
    this.check('mkdir', dir);
    return nodeLedgerFiles.mkdir(dir);
  }

  async lock(file: string): Promise<LedgerLock> {
    this.check('lock', file);
    return nodeLedgerFiles.lock(file);
  }
}
