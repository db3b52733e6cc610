// The cluster tier's one cluster (PostgreSQL + temporal-server, scripts/cluster.ts) and its two
// worker processes for the whole run. Suites reach them through the variables set here.
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Cluster, startCluster } from '../../scripts/cluster';
import { resolveTemporalCli } from '../../src/temporal-cli';
import { startWorkerPool, WorkerPool } from './worker-pool';

export interface ClusterTierState {
  cluster: Cluster;
  workers: WorkerPool;
  tmp: string;
}

export default async function globalSetup(): Promise<void> {
  const cluster = await startCluster({ progress: (line) => console.error(`cluster tier: ${line}`) });
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'release-promoter-cluster-tier-'));
  const state: ClusterTierState = { cluster, tmp, workers: { stop: async () => undefined } };
  (globalThis as { __clusterTier?: ClusterTierState }).__clusterTier = state;
  process.env.TEMPORAL_TEST_ADDRESS = cluster.address;
  process.env.TEMPORAL_CLI_RESOLVED = resolveTemporalCli();
  process.env.CLUSTER_TEST_VERSION = cluster.version;
  process.env.CLUSTER_TEST_TASK_QUEUE = 'release-promotion-cluster-tier';
  process.env.CLUSTER_TEST_LEDGER = path.join(tmp, 'RELEASE_LOG.md');
  try {
    state.workers = await startWorkerPool(
      {
        taskQueue: process.env.CLUSTER_TEST_TASK_QUEUE,
        ledgerPath: process.env.CLUSTER_TEST_LEDGER,
        gitCacheDir: path.join(tmp, 'git-cache'),
      },
      2,
    );
  } catch (err) {
    // Jest runs no teardown after a failed setup: nothing may be left running.
    await cluster.stop();
    throw err;
  }
}
