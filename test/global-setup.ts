// One real Temporal dev server and one workflow bundle for the whole run.
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflows } from '../src/bundle';
import { DEV_SERVER_LIMITS, resolveTemporalCli } from '../src/temporal-cli';
import { SEARCH_ATTRIBUTE_KEYS } from '../src/workflows/messages';

export default async function globalSetup(): Promise<void> {
  const cli = resolveTemporalCli();
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: cli },
      ip: '127.0.0.1',
      searchAttributes: SEARCH_ATTRIBUTE_KEYS,
      extraArgs: ['--dynamic-config-value', 'frontend.enableUpdateWorkflowExecution=true', ...DEV_SERVER_LIMITS],
    },
  });
  (globalThis as { __temporalEnv?: TestWorkflowEnvironment }).__temporalEnv = env;
  // The same bundle the worker loads (preloaded modules included).
  const bundlePath = path.join(os.tmpdir(), `release-promoter-workflows-${process.pid}.js`);
  await bundleWorkflows(bundlePath);
  process.env.TEMPORAL_TEST_ADDRESS = env.address;
  process.env.TEMPORAL_TEST_BUNDLE = bundlePath;
  process.env.TEMPORAL_CLI_RESOLVED = cli;
}
