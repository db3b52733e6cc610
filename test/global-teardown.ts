import { rm } from 'node:fs/promises';
import type { TestWorkflowEnvironment } from '@temporalio/testing';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __temporalEnv?: TestWorkflowEnvironment }).__temporalEnv?.teardown();
  if (process.env.TEMPORAL_TEST_BUNDLE) await rm(process.env.TEMPORAL_TEST_BUNDLE, { force: true });
}
