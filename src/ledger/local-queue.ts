// One process's callers of a ledger, in order: they queue here instead of all polling a
// cross-process lock (the file's lock file, the git ledger's clone) at once.
const queues = new Map<string, Promise<void>>();

/** Runs `work` after every earlier call with the same `key` in this process has settled. */
export async function inLocalQueue<T>(key: string, work: () => Promise<T>): Promise<T> {
  const previous = queues.get(key) ?? Promise.resolve();
  let done!: () => void;
  const mine = new Promise<void>((resolve) => (done = resolve));
  const tail = previous.then(() => mine);
  queues.set(key, tail);
  await previous;
  try {
    return await work();
  } finally {
    done();
    if (queues.get(key) === tail) queues.delete(key);
  }
}
