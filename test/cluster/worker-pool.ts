// The cluster tier's two worker processes: `tsx src/worker.ts` as test/worker-process.ts starts
// it, on one task queue, sharing one ledger file and git cache (as docker-compose.yml's two
// replicas share their volume). A worker that dies (a test SIGKILLs one) is started again, as
// compose's `restart: unless-stopped` does.
import { setTimeout as delay } from 'node:timers/promises';
import { descendantsOf, startWorker, WorkerProcess } from '../worker-process';

export interface WorkerPoolConfig {
  taskQueue: string;
  ledgerPath: string;
  gitCacheDir: string;
}

export interface WorkerPool {
  stop(): Promise<void>;
}

function ended(worker: WorkerProcess): Promise<void> {
  if (worker.proc.exitCode !== null || worker.proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => worker.proc.once('exit', () => resolve()));
}

/** SIGTERM (the worker finishes its in-flight tasks and leaves), then SIGKILL of the tsx wrapper and its node after 20 s. */
async function terminate(worker: WorkerProcess): Promise<void> {
  worker.proc.kill('SIGTERM');
  if (await Promise.race([ended(worker).then(() => true), delay(20_000).then(() => false)])) return;
  const pid = worker.proc.pid as number;
  for (const victim of [...descendantsOf(pid), pid]) {
    try {
      process.kill(victim, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await ended(worker);
}

export async function startWorkerPool(config: WorkerPoolConfig, size: number): Promise<WorkerPool> {
  let stopping = false;
  const slots: WorkerProcess[] = [];
  const restarts = new Set<Promise<void>>();
  const keep = (slot: number, worker: WorkerProcess) => {
    slots[slot] = worker;
    void ended(worker).then(() => {
      if (stopping) return;
      const restart = (async () => {
        // Not at once: a worker that cannot start would otherwise spin.
        await delay(1_000);
        if (stopping) return;
        try {
          const again = await startWorker(config);
          if (stopping) await terminate(again);
          else keep(slot, again);
        } catch (err) {
          console.error(`cluster tier: worker ${slot} did not start again: ${(err as Error).message}`);
        }
      })();
      restarts.add(restart);
      void restart.finally(() => restarts.delete(restart));
    });
  };
  const stop = async () => {
    stopping = true;
    await Promise.all([...restarts]);
    await Promise.all(slots.map(terminate));
  };
  try {
    for (let slot = 0; slot < size; slot++) keep(slot, await startWorker(config));
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop };
}
