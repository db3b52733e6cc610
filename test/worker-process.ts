// Real worker processes for tests: `tsx src/worker.ts` started as the user starts it, and
// SIGKILLed the way a crash kills it.
import { ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

const ROOT = path.resolve(__dirname, '..');

export interface WorkerProcess {
  proc: ChildProcess;
  stderr: () => string;
}

const workers = new Set<WorkerProcess>();

/** Workers started and not yet killed: an afterEach kills them all. */
export function runningWorkers(): WorkerProcess[] {
  return [...workers];
}

/** Child pids of `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) found.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

export function descendantsOf(pid: number): number[] {
  return childrenOf(pid).flatMap((child) => [...descendantsOf(child), child]);
}

/** Alive = present and not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * SIGKILLs the worker. `tsx` runs the script in a child node process and cannot forward a
 * SIGKILL, so the real worker (the child) is killed first, then the tsx wrapper.
 */
export async function killWorker(worker: WorkerProcess): Promise<void> {
  workers.delete(worker);
  const pid = worker.proc.pid as number;
  const exited =
    worker.proc.exitCode !== null || worker.proc.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => worker.proc.once('exit', () => resolve()));
  const victims = [...descendantsOf(pid), pid];
  for (const victim of victims) {
    try {
      process.kill(victim, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await exited;
  for (let i = 0; i < 100 && victims.some(alive); i++) await delay(20);
  expect(victims.filter(alive)).toEqual([]);
}

/**
 * Starts `tsx src/worker.ts` (or the compiled worker) as its own process on the test dev server and resolves once it
 * polls its task queue. `env` adds or overrides worker variables (e.g. METRICS_ADDRESS); one set
 * to undefined is removed (e.g. TEMPORAL_ADDRESS, for a worker that connects through a profile).
 */
export async function startWorker(
  config: { taskQueue: string; ledgerPath: string; gitCacheDir: string },
  env: Record<string, string | undefined> = {},
  options: { cwd?: string; compiled?: boolean } = {},
): Promise<WorkerProcess> {
  const workerEnv: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: process.env.TEMPORAL_TEST_ADDRESS,
    TEMPORAL_TASK_QUEUE: config.taskQueue,
    RELEASE_LEDGER_PATH: config.ledgerPath,
    GIT_CACHE_DIR: config.gitCacheDir,
    LOG_LEVEL: 'WARN',
    ...env,
  };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete workerEnv[name];
  // `options.cwd`: the worker's own working directory (tsx still compiles with the project's tsconfig).
  if (options.cwd) workerEnv.TSX_TSCONFIG_PATH = path.join(ROOT, 'tsconfig.json');
  // `options.compiled`: `node dist/worker.js` (built by the tier's `npm run build`), which polls in
  // about a second where tsx first compiles the sources: suites that start dozens of workers use it.
  const [command, args] = options.compiled
    ? [process.execPath, [path.join(ROOT, 'dist/worker.js')]]
    : [path.join(ROOT, 'node_modules/.bin/tsx'), [path.join(ROOT, 'src/worker.ts')]];
  const proc = spawn(command, args, {
    cwd: options.cwd ?? ROOT,
    detached: false,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: workerEnv,
  });
  let stderr = '';
  proc.stdout?.resume();
  const worker: WorkerProcess = { proc, stderr: () => stderr };
  workers.add(worker);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start polling within 90 s:\n${stderr}`)), 90_000);
    proc.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      if (stderr.includes('polling')) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`worker exited (${code ?? signal}) before polling:\n${stderr}`));
    });
  });
  return worker;
}
