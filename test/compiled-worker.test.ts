// The worker as the Dockerfile runs it: `node --optimize-for-size dist/worker.js`, compiled
// JavaScript with the workflow bundle `npm run build` wrote beside it, no TypeScript loader.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { WORKER_V8_FLAGS } from '../src/worker-command';
import { promotionWorkflow } from '../src/workflows';
import { buildDist, ROOT } from './cli-process';
import { createHarness, Harness, uniqueId, waitFor } from './helpers';

const HOOK = path.join(__dirname, 'fixtures', 'record-loaded-modules.js');

let h: Harness;
beforeAll(async () => {
  buildDist();
  const bundled = spawnSync(
    process.execPath,
    [path.join(ROOT, 'dist', 'bundle.js'), path.join(ROOT, 'dist', 'workflow-bundle.js')],
    { encoding: 'utf8' },
  );
  if (bundled.status !== 0) throw new Error(`bundling into dist/ failed:\n${bundled.stderr}`);
  h = await createHarness();
}, 120_000);
afterAll(async () => {
  await h?.close();
});

test('the compiled worker loads the prebuilt workflow bundle, no TypeScript, and promotes a commit', async () => {
  const taskQueue = uniqueId('compiled-worker');
  const tmpdir = path.join(h.tmp, 'worker-tmp');
  await mkdir(tmpdir);
  const record = path.join(h.tmp, 'worker-modules.json');
  const worker = spawn(
    process.execPath,
    [...WORKER_V8_FLAGS, '--require', HOOK, path.join(ROOT, 'dist', 'worker.js')],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        PATH: process.env.PATH,
        TMPDIR: tmpdir,
        TEMPORAL_ADDRESS: process.env.TEMPORAL_TEST_ADDRESS,
        TEMPORAL_TASK_QUEUE: taskQueue,
        RELEASE_LEDGER_PATH: path.join(h.tmp, 'compiled-worker-ledger.md'),
        GIT_CACHE_DIR: path.join(h.tmp, 'compiled-worker-git'),
        RECORD_LOADED_MODULES: record,
      },
    },
  );
  let stderr = '';
  worker.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => worker.on('exit', (code) => resolve((exitCode = code))));
  try {
    // A worker that stops before polling (it cannot find its bundle, say) fails at once with its stderr.
    await waitFor(
      'the compiled worker to poll',
      async () => {
        if (exitCode !== undefined)
          throw new Error(`the compiled worker exited (${exitCode}) before polling:\n${stderr}`);
        return stderr.includes('polling');
      },
      60_000,
    );
    const sha = await h.repo.commit('feature: promoted by the compiled worker');
    const handle = await h.env.client.workflow.start(promotionWorkflow, {
      taskQueue,
      workflowId: uniqueId('compiled'),
      args: [h.request(sha) as never],
    });
    expect((await handle.result()).stage).toBe('promoted');
    expect(await h.repo.tip('release')).toBe(sha);
  } finally {
    worker.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
  // Bundling at start-up (the fallback) makes a directory in the temp dir first: none was made.
  expect(existsSync(path.join(tmpdir, 'release-promoter-bundles'))).toBe(false);
  const modules = JSON.parse(await readFile(record, 'utf8')) as string[];
  expect(modules).toContain(path.join(ROOT, 'dist', 'worker.js'));
  expect(
    modules.filter(
      (file) =>
        file.startsWith(path.join(ROOT, 'src') + path.sep) ||
        file.includes(`${path.sep}node_modules${path.sep}tsx${path.sep}`),
    ),
  ).toEqual([]);
}, 120_000);
