// The CLI suites' shared setup: dist/ built, a harness (worker, sample services, repo, ledger),
// and the environment a CLI process needs to act on that harness.
import path from 'node:path';
import { buildDist, CliRun, runCli } from './cli-process';
import { createHarness, Harness } from './helpers';

/**
 * The CLI's environment for `h`: the shared dev server, its task queue, ledger and a git cache of
 * its own, as alice, with no registry or gate catalog from the caller's shell. `over` adds or
 * replaces variables; one set to undefined is removed (e.g. RELEASE_PROMOTER_IDENTITY).
 */
export function harnessCliEnv(h: Harness, over: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NO_COLOR: '1',
    TEMPORAL_ADDRESS: process.env.TEMPORAL_TEST_ADDRESS,
    TEMPORAL_TASK_QUEUE: h.taskQueue,
    RELEASE_LEDGER_PATH: h.ledgerPath,
    GIT_CACHE_DIR: path.join(h.tmp, 'cli-git-cache'),
    GATES_CONFIG: '',
    ENVIRONMENTS_CONFIG: '',
    RELEASE_PROMOTER_IDENTITY: 'alice',
    ...over,
  };
  for (const [name, value] of Object.entries(over)) if (value === undefined) delete env[name];
  return env;
}

/** Registers the suite's beforeAll (build, harness) and afterAll (close); the harness is `current()`. */
export function useCliHarness(): {
  current: () => Harness;
  cli: (args: string[], over?: NodeJS.ProcessEnv) => Promise<CliRun>;
} {
  let h: Harness | undefined;
  beforeAll(async () => {
    buildDist();
    h = await createHarness();
  });
  afterAll(async () => {
    await h?.close();
  });
  const current = (): Harness => {
    if (!h) throw new Error('the harness is not up yet: use it inside a test');
    return h;
  };
  return { current, cli: (args, over) => runCli(args, harnessCliEnv(current(), over)) };
}
