// The CLI as a user runs it: `node bin/release-promoter.js …`, a real process with real exit
// codes. bin/ runs the compiled dist/, so the suites that use this compile src/ first (tsc is
// incremental): a suite run right after an edit tests the edit, not the last build.
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..');
export const BIN = path.join(ROOT, 'bin', 'release-promoter.js');

let built = false;

/**
 * `tsc -p tsconfig.build.json`, once per suite. Type errors elsewhere in the tree (tsc's exit
 * code 2: errors, output written anyway) are printed and tolerated, since typechecking is `npm run
 * typecheck`'s job; anything else (no output written) fails the suite.
 */
export function buildDist(): void {
  if (built) return;
  const tsc = spawnSync(path.join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (tsc.status === 2)
    console.warn(`tsc reported type errors; testing the JavaScript it wrote anyway:\n${tsc.stdout}`);
  else if (tsc.status !== 0)
    throw new Error(`building dist/ failed (${tsc.status ?? tsc.signal}):\n${tsc.stdout}${tsc.stderr}`);
  built = true;
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** node options before the script (e.g. --require). */
  nodeArgs?: string[];
  /** Another copy of bin/release-promoter.js. */
  bin?: string;
  cwd?: string;
}

/** Runs the CLI with `env` as its whole environment. */
export function runCli(args: string[], env: NodeJS.ProcessEnv, options: CliOptions = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), options.bin ?? BIN, ...args], {
      env,
      cwd: options.cwd,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
