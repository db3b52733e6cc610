// A temporal-server left running by a cluster run that was killed (SIGKILL, a crash): its pid
// file is still in the data directory, and it would go on retrying PostgreSQL forever.
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';

function isTemporalServer(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]?.endsWith('temporal-server') === true;
  } catch {
    return false;
  }
}

/** Stops the temporal-server named by `pidFile` if it still runs (SIGTERM, then SIGKILL after 30 s). */
export async function stopStaleServer(pidFile: string): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return;
  }
  if (Number.isInteger(pid) && pid > 0 && isTemporalServer(pid)) {
    process.kill(pid, 'SIGTERM');
    for (let waited = 0; isTemporalServer(pid) && waited < 30_000; waited += 200) await delay(200);
    if (isTemporalServer(pid)) process.kill(pid, 'SIGKILL');
  }
  await rm(pidFile, { force: true });
}
