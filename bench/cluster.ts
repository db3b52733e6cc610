// The concurrency rows on the PostgreSQL cluster tier (SPEC §8, issue 17): scripts/cluster.ts's
// cluster (PostgreSQL + temporal-server) for the length of the part, measured by the same
// function that measures the dev server, then stopped. A machine without the tier's tools gets a
// reason to skip instead of a several-minute Go build in the middle of a timed run.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { startCluster } from '../scripts/cluster';
import { postgresBinDir } from '../scripts/cluster/postgres';
import { connectClient } from '../src/connection';
import { localServerEnv, resolveConnection } from '../src/temporal-profile';

const root = path.resolve(__dirname, '..');

/** What a measurement needs of the server it runs on. */
export interface MeasuredServer {
  /** The variables that point a worker or client at the server (a Temporal profile of its own). */
  env: Record<string, string>;
  /**
   * The server's processes (on the cluster temporal-server and PostgreSQL's postmaster), whose CPU,
   * with their children's, the rows count.
   */
  pids: number[];
  client: Client;
}

/**
 * Why the cluster cannot start here without building or installing something, or undefined when
 * it can. The tools check is scripts/ensure-cluster-tools.sh's `cached`: that script builds
 * what is missing, which the bench must not do unasked.
 */
export function clusterUnavailable(): string | undefined {
  const compose = readFileSync(path.join(root, 'docker-compose.yml'), 'utf8');
  const version = /^\s*image:\s*temporalio\/server:(\d+\.\d+\.\d+)\s*$/m.exec(compose)?.[1];
  if (!version) return "docker-compose.yml has no 'image: temporalio/server:X.Y.Z' line";
  const tools = path.join(root, '.tools', `temporal-server-${version}`);
  const built = ['temporal-server', 'temporal-sql-tool', path.join('schema', 'postgresql', 'v12', 'visibility')].every(
    (part) => existsSync(path.join(tools, part)),
  );
  if (!built)
    return `temporal-server ${version} is not built in ${path.relative(root, tools)}: run \`bash scripts/ensure-cluster-tools.sh\` (several minutes, once)`;
  try {
    postgresBinDir();
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}

/**
 * Starts the cluster, hands it to `measure` and stops it (also when `measure` fails); returns
 * `measure`'s result and the server version.
 */
export async function onCluster<T>(
  dir: string,
  log: (line: string) => void,
  measure: (server: MeasuredServer) => Promise<T>,
): Promise<{ version: string; measured: T }> {
  // Its data in a temp dir of startCluster's own: the postgres user must reach it, which the
  // bench's 0700 directory does not allow; stop() removes it.
  const cluster = await startCluster({ progress: (line) => log(`cluster: ${line}`) });
  try {
    const env = await localServerEnv(path.join(dir, 'cluster-temporal.toml'), 'bench-cluster', cluster.address);
    const connection = await connectClient(resolveConnection({ ...process.env, ...env }));
    try {
      const pids = [cluster.serverPid, cluster.postgresPid()].filter((pid): pid is number => pid !== undefined);
      const measured = await measure({ env, pids, client: new Client({ connection }) });
      return { version: cluster.version, measured };
    } finally {
      await connection.close();
    }
  } finally {
    await cluster.stop();
    log('cluster: stopped');
  }
}
