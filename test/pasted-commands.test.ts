// Every command the demo and the README print works when pasted (issue 16). Runs `npm run demo --
// --keep` as a real process (its own dev server on a free port, its data in a temp dir), waits for
// its ready-to-paste block, then runs each printed `$ ` command in a fresh `bash -c` that has only
// the block and a minimal environment (HOME, a PATH without the temporal binary, npm offline), and
// then the README's runnable blocks against the same demo. Last, Ctrl-C (SIGINT) stops the demo.
//
// Which commands run:
// - demo: every line it prints as `  $ <command>`. Those after the paste block run with the block
//   first (it does the cd and the exports); those before it run in the clone, as the demo's own
//   shell would. Lines the demo shows as `ran: …` are what it ran itself and are not pasted again.
// - README: every ```sh or ```bash block follows a marker line. After `<!-- pasted-commands: run -->`
//   it runs, command by command (`\` continues a line), with the demo's block first. After
//   `<!-- pasted-commands: skip: <why> -->` it is listed as skipped with its reason (it needs a
//   real cluster, Docker, your own repo and URLs, or it would rebuild the tree). A block with
//   neither fails the test, so a new block is classified when it is written.
// - A command is expected to exit 0, or N when its comment says `# exit N`.
import { ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freeLoopbackPort } from '../src/free-port';
import { resolveTemporalCli } from '../src/temporal-cli';
import { buildDist, ROOT } from './cli-process';

const BLOCK_START = '# --- release-promoter demo environment: paste into another shell ---';
const BLOCK_END = '# --- end of the demo environment ---';
const RUN_MARKER = '<!-- pasted-commands: run -->';
const SKIP_MARKER = /^<!-- pasted-commands: skip: (.+) -->$/;

jest.setTimeout(600_000);

/** What one pasted command should do: the exit code its comment gives (else 0). */
function expectedExit(command: string): number {
  const comment = /\s#\s(.*)$/.exec(command)?.[1] ?? '';
  const exit = /\bexit (\d+)\b/.exec(comment);
  return exit ? Number(exit[1]) : 0;
}

/** Commands of a shell text: `\`-continued lines joined, blank and comment-only lines dropped. */
function shellCommands(text: string): string[] {
  const out: string[] = [];
  let current = '';
  for (const line of text.split('\n')) {
    if (!current && (/^\s*$/.test(line) || /^\s*#/.test(line))) continue;
    if (/\\\s*$/.test(line)) {
      current += `${line.replace(/\\\s*$/, '')} `;
      continue;
    }
    out.push((current + line).trim());
    current = '';
  }
  if (current) out.push(current.trim());
  return out;
}

interface ReadmeBlock {
  section: string;
  line: number;
  lang: string;
  text: string;
  /** run: after the run marker; skip: after a skip marker (its reason); neither: unclassified. */
  mode: 'run' | 'skip' | undefined;
  reason?: string;
}

/** The README's ```sh / ```bash blocks, each with its section and whether the run marker precedes it. */
function readmeBlocks(readme: string): ReadmeBlock[] {
  const lines = readme.split('\n');
  const blocks: ReadmeBlock[] = [];
  let section = '(top)';
  let lastNonBlank = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const heading = /^#{1,6}\s+(.*)$/.exec(line);
    if (heading) section = heading[1] as string;
    const fence = /^```(\S*)\s*$/.exec(line);
    if (fence) {
      const start = i;
      const body: string[] = [];
      for (i++; i < lines.length && !/^```\s*$/.test(lines[i] as string); i++) body.push(lines[i] as string);
      const lang = fence[1] ?? '';
      const marker = lastNonBlank.trim();
      const skip = SKIP_MARKER.exec(marker);
      if (lang === 'sh' || lang === 'bash')
        blocks.push({
          section,
          line: start + 1,
          lang,
          text: body.join('\n'),
          mode: marker === RUN_MARKER ? 'run' : skip ? 'skip' : undefined,
          reason: skip?.[1],
        });
      lastNonBlank = '```';
      continue;
    }
    if (line.trim()) lastNonBlank = line;
  }
  return blocks;
}

interface Shell {
  code: number | null;
  stdout: string;
  stderr: string;
}

const ansi = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

let tmp: string;
let demo: ChildProcess;
let demoOut = '';
let demoErr = '';
let demoExit: Promise<number | null>;
let minimalEnv: NodeJS.ProcessEnv;
let demoAddress = '';

/** A fresh `bash -c` with only the minimal environment: `prefix` (the paste block) first, then the command. */
function bash(script: string, cwd: string): Promise<Shell> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script], { env: minimalEnv, cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: stdout.replace(ansi, ''), stderr: stderr.replace(ansi, '') });
    });
  });
}

function describeRun(command: string, run: Shell): string {
  return `$ ${command}\nexit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}

/** Runs `command` (after `prefix`) and checks its exit code; returns what it printed. */
async function paste(command: string, prefix: string, cwd: string): Promise<Shell> {
  const run = await bash(`${prefix}\n${command}`, cwd);
  const want = expectedExit(command);
  if (run.code !== want || /command not found|ENOENT/.test(run.stderr))
    throw new Error(`expected exit ${want}, without "command not found" or ENOENT:\n${describeRun(command, run)}`);
  return run;
}

/** What the output of each kind of demo command must show (the first pattern that matches the command). */
const DEMO_EXPECTATIONS: Array<[RegExp, RegExp]> = [
  [/^temporal workflow list\b/, /promotionWorkflow/],
  [/^temporal workflow query\b.*--type status/, /"stage":"promoted"/],
  [/^npx release-promoter list\b/, /promotion-production-\S+\s+\S+\s+production\s+B\s+demo-operator\s+promoted/],
  [/^npx release-promoter status\b/, /approved by demo-approver/],
  [/^npx release-promoter history --environment production/, /^production now: /m],
  [/^npx release-promoter ledger show\b/, /^release id\s+type\s+env/m],
  [/^npx release-promoter ledger verify .*tampered/, /^FAIL .*chain does not match/m],
  [/^npx release-promoter ledger verify\b/, /^ok .*RELEASE_LOG\.md: \d+ entries/m],
  [/^npx release-promoter start\b/, /admitted/],
  [/^npx release-promoter approve\b/, /^counted: bob approved/m],
  [/^npx release-promoter watch\b/, /stage promoted|promoted/],
  [/^npx release-promoter rollback\b/, /stage rolled_back/],
];

beforeAll(async () => {
  buildDist();
  tmp = await mkdtemp(path.join(os.tmpdir(), 'release-promoter-pasted-'));
  await mkdir(path.join(tmp, 'home'));
  // A PATH with node, bash and git but not the temporal binary the demo found.
  const temporalDir = path.dirname(resolveTemporalCli());
  const pathDirs = [path.dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].filter(
    (d, i, all) => d !== temporalDir && all.indexOf(d) === i,
  );
  minimalEnv = {
    HOME: path.join(tmp, 'home'),
    PATH: pathDirs.join(':'),
    NO_COLOR: '1',
    // npx resolves the clone's bin; it must never ask the registry (nor check for npm updates).
    npm_config_offline: 'true',
    npm_config_update_notifier: 'false',
    npm_config_cache: path.join(tmp, 'npm-cache'),
  };

  const [port, uiPort] = [await freeLoopbackPort(), await freeLoopbackPort()];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: (demoAddress = `127.0.0.1:${port}`),
    DEMO_UI_PORT: String(uiPort),
    DEMO_DATA_DIR: path.join(tmp, 'data'),
    NO_COLOR: '1',
  };
  for (const key of ['FORCE_COLOR', 'TEMPORAL_NAMESPACE', 'TEMPORAL_TASK_QUEUE', 'RELEASE_LEDGER_PATH'])
    delete env[key];
  demo = spawn(process.execPath, ['--require', 'tsx/cjs', 'scripts/demo.ts', '--keep'], { cwd: ROOT, env });
  demo.stdout?.on('data', (c: Buffer) => (demoOut += c.toString()));
  demo.stderr?.on('data', (c: Buffer) => (demoErr += c.toString()));
  demoExit = new Promise((resolve) => demo.once('exit', (code) => resolve(code)));
  const ready = await Promise.race([
    new Promise<boolean>((resolve) => {
      const check = setInterval(() => {
        if (demoOut.includes(BLOCK_END) && /Ctrl-C here/.test(demoOut)) {
          clearInterval(check);
          resolve(true);
        }
      }, 200);
      void demoExit.then(() => clearInterval(check));
    }),
    demoExit.then(() => false),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 240_000).unref()),
  ]);
  if (!ready) throw new Error(`the demo printed no paste block:\n${demoOut}\n--- stderr\n${demoErr}`);
  demoOut = demoOut.replace(ansi, '');
});

afterAll(async () => {
  if (demo && demo.exitCode === null && demo.signalCode === null) {
    demo.kill('SIGINT');
    const stopped = await Promise.race([demoExit, new Promise((r) => setTimeout(() => r('timeout'), 30_000).unref())]);
    if (stopped === 'timeout') demo.kill('SIGKILL');
  }
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** The demo's output, split: the paste block's lines and the `$ ` commands before and after it. */
function demoCommands(): { block: string; before: string[]; after: string[] } {
  const lines = demoOut.split('\n').map((l) => l.replace(/^ {2}/, ''));
  const start = lines.indexOf(BLOCK_START);
  const end = lines.indexOf(BLOCK_END);
  const commands = (from: number, to: number) =>
    lines
      .slice(from, to)
      .filter((l) => l.startsWith('$ '))
      .map((l) => l.slice(2));
  return {
    block: lines.slice(start, end + 1).join('\n'),
    before: commands(0, start),
    after: commands(end + 1, lines.length),
  };
}

test('the paste block gives the binary, the address, the ledger, the repo and bases, and an identity', () => {
  const { block } = demoCommands();
  expect(block).toMatch(/^cd \S+/m);
  expect(block).toMatch(/^export PATH=\S+temporal\S*:"\$PATH"|^temporal\(\) \{/m);
  expect(block).toMatch(/^export TEMPORAL_ADDRESS=127\.0\.0\.1:\d+$/m);
  expect(block).toMatch(/^export RELEASE_LEDGER_PATH=\/\S+RELEASE_LOG\.md$/m);
  expect(block).toMatch(/^export DEMO_REPO=\S+ STAGING_BASE=http:\S+ PRODUCTION_BASE=http:\S+$/m);
  expect(block).toMatch(/^export RELEASE_PROMOTER_IDENTITY=\S+/m);
});

test('the minimal shell has no temporal on its PATH (the block must provide it)', async () => {
  const run = await bash('command -v temporal', tmp);
  expect(run.code).not.toBe(0);
});

test('every command the demo prints works as pasted', async () => {
  const { block, before, after } = demoCommands();
  // The newcomer's next steps are all there.
  for (const kind of [
    /^temporal workflow list --query /,
    /^npx release-promoter list\b/,
    /^npx release-promoter status \S+/,
    /^npx release-promoter history --environment production/,
    /^npx release-promoter ledger show\b/,
    /^npx release-promoter ledger verify "\$RELEASE_LEDGER_PATH"/,
    /^npx release-promoter start --commit [0-9a-f]{7,40}\b/,
    /^npx release-promoter approve \S+/,
    /^npx release-promoter rollback --environment production --repo "\$DEMO_REPO" --production-base "\$PRODUCTION_BASE"/,
  ])
    expect(after.some((c) => kind.test(c))).toBe(true);

  const ran: string[] = [];
  // Before the block: in the clone, where `npm run demo` ran (the ledger checks).
  for (const command of before) {
    const run = await paste(command, '', ROOT);
    checkOutput(command, run);
    ran.push(command);
  }
  for (const command of after) {
    const run = await paste(command, block, tmp);
    checkOutput(command, run);
    ran.push(command);
  }
  console.log(`pasted ${ran.length} demo commands:\n${ran.map((c) => `  $ ${c}`).join('\n')}`);
  expect(ran.length).toBeGreaterThanOrEqual(before.length + after.length);
});

function checkOutput(command: string, run: Shell): void {
  const expectation = DEMO_EXPECTATIONS.find(([pattern]) => pattern.test(command));
  const printed = `${run.stdout}${run.stderr}`;
  if (expectation ? !expectation[1].test(printed) : !printed.trim())
    throw new Error(
      `output does not show ${expectation ? String(expectation[1]) : 'anything'}:\n${describeRun(command, run)}`,
    );
}

test("the README's runnable blocks work against the demo; the rest are listed as skipped", async () => {
  const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
  const blocks = readmeBlocks(readme);
  const runnable = blocks.filter((b) => b.mode === 'run');
  const skipped = blocks.filter((b) => b.mode === 'skip');
  const unclassified = blocks.filter((b) => b.mode === undefined);
  expect(unclassified.map((b) => `README.md:${b.line} (${b.section}) has no pasted-commands marker`)).toEqual([]);
  expect(runnable.length).toBeGreaterThanOrEqual(2);
  const { block } = demoCommands();
  const ran: string[] = [];
  for (const b of runnable)
    for (const command of shellCommands(b.text)) {
      await paste(command, block, tmp);
      ran.push(`README.md:${b.line} (${b.section}): ${command}`);
    }
  console.log(
    `README: ran ${ran.length} commands of ${runnable.length} blocks:\n${ran.map((c) => `  ${c}`).join('\n')}\n` +
      `skipped ${skipped.length} blocks:\n` +
      skipped.map((b) => `  README.md:${b.line} (${b.section}): ${b.reason}\n    ${b.text.split('\n')[0]}`).join('\n'),
  );
});

test('Ctrl-C stops the demo, its server and its worker', async () => {
  demo.kill('SIGINT');
  const code = await Promise.race([demoExit, new Promise((r) => setTimeout(() => r('timeout'), 60_000).unref())]);
  expect(code).toBe(0);
  // The dev server it started is gone with it.
  const answered = await new Promise<boolean>((resolve) => {
    const socket = net.connect(Number(demoAddress.split(':')[1]), '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
  expect(answered).toBe(false);
});

test('the block rules', () => {
  expect(expectedExit('npx release-promoter ledger verify x   # exit 1: one operator edited')).toBe(1);
  expect(expectedExit('npx release-promoter list   # the promotions')).toBe(0);
  expect(shellCommands('# a comment\na \\\n  --b\n\nc # exit 2')).toEqual(['a    --b', 'c # exit 2']);
  const fence = '```';
  const blocks = readmeBlocks(
    [
      '# T',
      RUN_MARKER,
      '',
      `${fence}sh`,
      'x',
      fence,
      '<!-- pasted-commands: skip: needs Docker -->',
      `${fence}bash`,
      'y',
      fence,
      `${fence}json`,
      '{}',
      fence,
      `${fence}sh`,
      'z',
      fence,
    ].join('\n'),
  );
  expect(blocks.map((b) => [b.text, b.mode, b.reason])).toEqual([
    ['x', 'run', undefined],
    ['y', 'skip', 'needs Docker'],
    ['z', undefined, undefined],
  ]);
});
