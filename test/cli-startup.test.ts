// What starting the CLI costs: bin/ runs the compiled CLI, which connects through
// src/connection.ts (@temporalio/client) and so never loads the worker's native runtime
// (@temporalio/worker and its Rust core bridge), tsx or the workflow definitions.
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BIN, buildDist, ROOT, runCli } from './cli-process';

const HOOK = path.join(__dirname, 'fixtures', 'record-loaded-modules.js');
const LEDGER = path.join(__dirname, 'fixtures', 'seed-release-log.md');

let tmp: string;
beforeAll(async () => {
  buildDist();
  tmp = await mkdtemp(path.join(os.tmpdir(), 'release-promoter-cli-startup-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** The files of the CommonJS modules a CLI run loaded, and how it ended. */
async function modulesLoadedBy(args: string[]): Promise<{ code: number | null; stdout: string; modules: string[] }> {
  const record = path.join(tmp, `${args.join('-').replace(/[^a-z-]/gi, '')}.json`);
  const run = await runCli(
    args,
    { PATH: process.env.PATH, NO_COLOR: '1', RECORD_LOADED_MODULES: record },
    { nodeArgs: ['--require', HOOK] },
  );
  return { code: run.code, stdout: run.stdout, modules: JSON.parse(await readFile(record, 'utf8')) as string[] };
}

const under = (modules: string[], dir: string) => modules.filter((file) => file.startsWith(`${dir}${path.sep}`));
// By package name wherever node found it (a symlinked or hoisted node_modules is still caught).
const ofPackage = (modules: string[], name: string) =>
  modules.filter((file) => file.includes(`${path.sep}node_modules${path.sep}${name}${path.sep}`));

test.each([
  ['ledger verify <file>', ['ledger', 'verify', LEDGER], /^ok /],
  ['--help', ['--help'], /^Usage: release-promoter/],
])(
  'release-promoter %s runs the compiled CLI without the worker runtime, tsx or workflow code',
  async (_name, args, output) => {
    const { code, stdout, modules } = await modulesLoadedBy(args);
    expect(code).toBe(0);
    expect(stdout).toMatch(output);
    // The record holds the compiled CLI itself (so it is a record of this run) and no TypeScript.
    expect(modules).toContain(path.join(ROOT, 'dist', 'cli', 'index.js'));
    expect(under(modules, path.join(ROOT, 'src'))).toEqual([]);
    expect(ofPackage(modules, path.join('@temporalio', 'worker'))).toEqual([]);
    expect(ofPackage(modules, path.join('@temporalio', 'core-bridge'))).toEqual([]);
    expect(ofPackage(modules, 'tsx')).toEqual([]);
    // Workflows are started by name; only their message definitions (queries, updates) load.
    expect(modules).not.toContain(path.join(ROOT, 'dist', 'workflows', 'index.js'));
  },
);

// What a person waits for most often: help and a mistyped command answer without the Temporal
// SDK (its client alone costs ~0.35 s to load here); commands load it once they run.
test.each([
  ['--help', ['--help'], 0, /^Usage: release-promoter/],
  ['start --help', ['start', '--help'], 0, /--min-approvals/],
  ['an unknown option', ['start', '--classs', 'A'], 2, /unknown option '--classs'/],
  ['approve without an identity', ['approve', 'promotion-x'], 2, /--as <name> or set RELEASE_PROMOTER_IDENTITY/],
  ['list --stage bogus', ['list', '--stage', 'bogus'], 2, /"bogus" is not a stage/],
])('release-promoter %s loads no Temporal package', async (_name, args, exitCode, output) => {
  const { code, stdout, modules } = await modulesLoadedBy(args);
  const stderr = code === 0 ? '' : (await runCli(args, { PATH: process.env.PATH, NO_COLOR: '1' })).stderr;
  expect(code).toBe(exitCode);
  expect(`${stdout}${stderr}`).toMatch(output);
  expect(modules).toContain(path.join(ROOT, 'dist', 'cli', 'index.js'));
  expect(ofPackage(modules, '@temporalio')).toEqual([]);
  expect(ofPackage(modules, '@grpc')).toEqual([]);
});

test('bin says how to build when the compiled CLI is missing, instead of a stack trace', async () => {
  // A copy of bin/ with no dist/ beside it: the real dist/ stays for suites running meanwhile.
  await mkdir(path.join(tmp, 'clone', 'bin'), { recursive: true });
  const bin = path.join(tmp, 'clone', 'bin', 'release-promoter.js');
  await copyFile(BIN, bin);
  const run = await runCli(['--help'], { PATH: process.env.PATH }, { bin, cwd: tmp });
  expect(run.code).toBe(2);
  expect(run.stderr).toContain(
    `release-promoter: ${path.join('clone', 'dist', 'cli', 'index.js')} is missing; run \`npm run build\``,
  );
});
