import { rm } from 'node:fs/promises';
import type { ClusterTierState } from './global-setup';

export default async function globalTeardown(): Promise<void> {
  const state = (globalThis as { __clusterTier?: ClusterTierState }).__clusterTier;
  if (!state) return;
  // Workers first (they would retry against a server that is going away), then the cluster.
  await state.workers.stop();
  await state.cluster.stop();
  await rm(state.tmp, { recursive: true, force: true });
}
