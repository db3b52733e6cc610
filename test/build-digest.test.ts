// A checkout edited since `npm run build` never runs its old workflow bundle by surprise: the
// digest `npm run build` writes beside dist/workflow-bundle.js is compared with src/ as it is.
import { spawnSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { digestFileOf, sourcesDigest } from '../src/build-digest';
import { buildDist, ROOT } from './cli-process';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'release-promoter-build-digest-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('sourcesDigest', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmp, 'src-'));
    await mkdir(path.join(dir, 'workflows'));
    await writeFile(path.join(dir, 'workflows', 'a.ts'), 'export const a = 1;\n');
    await writeFile(path.join(dir, 'b.ts'), 'export const b = 2;\n');
  });

  test('is the same for the same files, and changes with an edit, a new file or a rename', async () => {
    const before = sourcesDigest(dir);
    expect(sourcesDigest(dir)).toBe(before);
    await writeFile(path.join(dir, 'workflows', 'a.ts'), 'export const a = 3;\n');
    const edited = sourcesDigest(dir);
    expect(edited).not.toBe(before);
    await writeFile(path.join(dir, 'workflows', 'c.ts'), '');
    const added = sourcesDigest(dir);
    expect(added).not.toBe(edited);
    await rename(path.join(dir, 'workflows', 'c.ts'), path.join(dir, 'workflows', 'd.ts'));
    expect(sourcesDigest(dir)).not.toBe(added);
  });

  test('a file moved to another directory, same name and content, is a change', async () => {
    const before = sourcesDigest(dir);
    await rename(path.join(dir, 'b.ts'), path.join(dir, 'workflows', 'b.ts'));
    expect(sourcesDigest(dir)).not.toBe(before);
  });

  test('files that are not sources (notes, maps) do not count', async () => {
    const before = sourcesDigest(dir);
    await writeFile(path.join(dir, 'NOTES.md'), 'scratch');
    expect(sourcesDigest(dir)).toBe(before);
  });
});

describe('the compiled worker in a checkout', () => {
  let checkout: string;
  /** `node dist/worker.js` of the copy, against a port nobody listens on. */
  const runWorker = () =>
    spawnSync(process.execPath, [path.join(checkout, 'dist', 'worker.js')], {
      cwd: checkout,
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        PATH: process.env.PATH,
        TEMPORAL_ADDRESS: '127.0.0.1:9',
        RELEASE_LEDGER_PATH: path.join(checkout, 'RELEASE_LOG.md'),
        GIT_CACHE_DIR: path.join(checkout, 'git-cache'),
      },
    });

  beforeAll(async () => {
    buildDist();
    checkout = path.join(tmp, 'checkout');
    await cp(path.join(ROOT, 'src'), path.join(checkout, 'src'), { recursive: true });
    await cp(path.join(ROOT, 'dist'), path.join(checkout, 'dist'), { recursive: true });
    await symlink(path.join(ROOT, 'node_modules'), path.join(checkout, 'node_modules'), 'dir');
    // The copy's bundle was "built" from its sources as they are now.
    const bundle = path.join(checkout, 'dist', 'workflow-bundle.js');
    await writeFile(bundle, '// the bundle is not loaded: the worker stops before or at its connection\n');
    await writeFile(digestFileOf(bundle), `${sourcesDigest(path.join(checkout, 'src'))}\n`);
  });

  test('with src/ as built, it goes past the bundle and stops at the connection', () => {
    const run = runWorker();
    expect(run.status).toBe(1);
    expect(run.stderr).not.toMatch(/built from other sources/);
    expect(run.stderr).toMatch(/127\.0\.0\.1:9|connect|ECONNREFUSED|transport/i);
  });

  test('after an edit of src/, it refuses before connecting and says to run npm run build', async () => {
    const file = path.join(checkout, 'src', 'workflows', 'approval-rules.ts');
    await writeFile(file, `${await readFile(file, 'utf8')}\n// an edit after the build\n`);
    const run = runWorker();
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`dist/ was built from other sources than ${path.join(checkout, 'src')}`);
    expect(run.stderr).toContain('run `npm run build`');
    expect(run.stderr).not.toMatch(/ECONNREFUSED|transport/i);
  });
});
