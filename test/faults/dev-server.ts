// A Temporal dev server of a suite's own (not the tier's shared one): the server faults stop it
// (SIGTERM or SIGKILL) and start it again on the same SQLite file and the same port, so every
// worker and client sees the same address go away and come back with its executions intact.
import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { freeLoopbackPort } from '../../src/free-port';
import { headlessDevServerArgs, resolveTemporalCli } from '../../src/temporal-cli';
import { SEARCH_ATTRIBUTE_KEYS } from '../../src/workflows/messages';

export interface Stopped {
  /** How the process ended: its exit code, or the signal that ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** SIGTERM did not end it within STOP_GRACE_MS, so it was SIGKILLed after all. */
  forced: boolean;
}

export interface DevServer {
  /** host:port, the same across restarts. */
  address: string;
  dbFile: string;
  /** The running server's pid; undefined while it is stopped. */
  pid(): number | undefined;
  /** Stops the server with `signal` and resolves once the process is gone. */
  stop(signal: 'SIGTERM' | 'SIGKILL'): Promise<Stopped>;
  /** Starts it again (same file, same port) and resolves once it serves the default namespace. */
  start(): Promise<void>;
  /** What the server printed (the last 64 KiB), for a failure message. */
  output(): string;
  /** Stops it for good (SIGKILL: nothing is left to keep). */
  close(): Promise<void>;
}

const READY_WITHIN_MS = 90_000;
const STOP_GRACE_MS = 30_000;

function cli(): string {
  return process.env.TEMPORAL_CLI_RESOLVED || resolveTemporalCli();
}

/** Starts `temporal server start-dev` on `<dir>/temporal.db` and a free loopback port. */
export async function startDevServer(dir: string): Promise<DevServer> {
  const port = await freeLoopbackPort();
  const address = `127.0.0.1:${port}`;
  const dbFile = path.join(dir, 'temporal.db');
  const args = headlessDevServerArgs(port, dbFile, [
    ...SEARCH_ATTRIBUTE_KEYS.flatMap((key) => ['--search-attribute', `${key.name}=Keyword`]),
    '--dynamic-config-value',
    'frontend.enableUpdateWorkflowExecution=true',
  ]);
  let proc: ChildProcess | undefined;
  let printed = '';
  const keep = (chunk: Buffer) => {
    printed = (printed + chunk.toString('utf8')).slice(-65_536);
  };

  const start = async () => {
    if (proc) throw new Error(`the dev server on ${address} is already running (pid ${proc.pid})`);
    const child = spawn(cli(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = child;
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let exitedEarly: string | undefined;
    child.once('exit', (code, signal) => {
      exitedEarly = `exited (${code ?? signal})`;
      if (proc === child) proc = undefined;
    });
    // Ready = the namespace answers and knows the search attributes: a worker checks both first.
    const deadline = Date.now() + READY_WITHIN_MS;
    for (;;) {
      if (exitedEarly) {
        throw new Error(`the dev server on ${address} ${exitedEarly} before it was ready:\n${printed}`);
      }
      let connection: Connection | undefined;
      try {
        connection = await Connection.connect({ address, connectTimeout: 1_000 });
        await connection.workflowService.describeNamespace({ namespace: 'default' });
        const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
        if (SEARCH_ATTRIBUTE_KEYS.every((key) => customAttributes?.[key.name] !== undefined)) return;
      } catch {
        // not up yet
      } finally {
        await connection?.close().catch(() => undefined);
      }
      if (Date.now() > deadline) throw new Error(`the dev server on ${address} was not ready in time:\n${printed}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };

  const stop = async (signal: 'SIGTERM' | 'SIGKILL'): Promise<Stopped> => {
    const child = proc;
    if (!child) throw new Error(`the dev server on ${address} is not running:\n${printed}`);
    let forced = false;
    const ended = new Promise<Stopped>((resolve) => {
      const done = () => resolve({ code: child.exitCode, signal: child.signalCode, forced });
      if (child.exitCode !== null || child.signalCode !== null) done();
      else child.once('exit', done);
    });
    child.kill(signal);
    const grace = setTimeout(() => {
      forced = true;
      child.kill('SIGKILL');
    }, STOP_GRACE_MS);
    try {
      return await ended;
    } finally {
      clearTimeout(grace);
      proc = undefined;
    }
  };

  await start();
  return {
    address,
    dbFile,
    pid: () => proc?.pid,
    stop,
    start,
    output: () => printed,
    close: async () => {
      if (proc) await stop('SIGKILL');
    },
  };
}
