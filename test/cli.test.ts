// The project's CLI as a user runs it: a real process, real exit codes, against the real stack.
import { spawn } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import type { PromotionStatus } from '../src/domain';
import { fieldText, parseLedger } from '../src/ledger/format';
import { BIN, CliRun, runCli } from './cli-process';
import { harnessCliEnv, useCliHarness } from './cli-harness';
import { Harness, waitForStage } from './helpers';

const suite = useCliHarness();
let h: Harness;
beforeAll(() => {
  h = suite.current();
});

function cliEnv(identity: string): NodeJS.ProcessEnv {
  return harnessCliEnv(h, { RELEASE_PROMOTER_IDENTITY: identity });
}

function cli(args: string[], identity = 'alice'): Promise<CliRun> {
  return runCli(args, cliEnv(identity));
}

test('gates exits 0 when every staging gate passes and 1 when one fails, with the same gate code', async () => {
  const ok = await cli(['gates', '--mode', 'staging', '--base', h.staging.url, '--json']);
  expect(ok.code).toBe(0);
  expect((JSON.parse(ok.stdout) as Array<{ name: string; pass: boolean }>).map((g) => g.name)).toEqual([
    'health',
    'db_health',
    'chat_happy',
    'chat_415',
    'cost_gate_chat',
    'burst_429',
  ]);
  h.staging.configure({ no415: true });
  try {
    const bad = await cli(['gates', '--mode', 'production', '--base', h.staging.url]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^chat_415\s+fail\s+/m);
  } finally {
    h.staging.configure({ no415: false });
  }
  const unknown = await cli(['gates', '--mode', 'staging', '--base', h.staging.url, '--gates', 'nope']);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain('--gates: unknown gate(s) nope');
});

test('start --wait promotes and prints the outcome; approve through the CLI tells whether it counted', async () => {
  const sha = await h.repo.commit('feature: from the CLI');
  const started = cli([
    'start',
    '--commit',
    sha.slice(0, 10),
    '--class',
    'B',
    '--repo',
    h.repo.bare,
    '--staging-base',
    h.staging.url,
    '--production-base',
    h.production.url,
    '--workflow-id',
    `cli-${sha.slice(0, 7)}`,
    '--wait',
    '--json',
  ]);
  const handle = h.env.client.workflow.getHandle(`cli-${sha.slice(0, 7)}`);
  const status = await waitForStage(handle, 'awaiting_approval');
  expect(status.operator).toBe('alice');
  const self = await cli(['approve', handle.workflowId], 'alice');
  expect(self.code).toBe(1);
  expect(self.stdout).toContain('not counted: alice started this promotion');
  const malformed = await cli(['approve', handle.workflowId, '--commit', 'xyz'], 'bob');
  expect(malformed.code).toBe(2);
  expect(malformed.stderr).toMatch(/decision refused: .*commitSha/);
  const bob = await cli(['approve', handle.workflowId, '--comment', 'lgtm'], 'bob');
  expect(bob.code).toBe(0);
  expect(bob.stdout).toContain('counted: bob approved; approval approved (1/1 approvals)');
  const result = await started;
  expect(result.code).toBe(0);
  expect((JSON.parse(result.stdout) as PromotionStatus).stage).toBe('promoted');
  expect(await h.repo.tip('release')).toBe(sha);
});

test('rollback defaults to the last known good from the ledger and writes its entry', async () => {
  const good = await h.repo.commit('feature: good');
  expect((await (await h.start(h.request(good))).result()).stage).toBe('promoted');
  const regret = await h.repo.commit('feature: regret');
  expect((await (await h.start(h.request(regret))).result()).stage).toBe('promoted');
  // A newer good entry of the same environment but another branch is not release's last known good.
  await h.repo.forcePush('canary', h.repo.base);
  const canary = await h.repo.commit('feature: canary only');
  expect((await (await h.start(h.request(canary, { toBranch: 'canary' }))).result()).stage).toBe('promoted');
  const out = await cli([
    'rollback',
    '--repo',
    h.repo.bare,
    '--production-base',
    h.production.url,
    '--trigger',
    'error rate up',
    '--json',
  ]);
  expect(out.code).toBe(0);
  expect(await h.repo.tip('release')).toBe(good);
  const last = parseLedger(await h.ledger()).entries.at(-1)!;
  expect(fieldText(last, 'type')).toBe('rollback');
  expect(fieldText(last, 'from_sha')).toBe(regret);
  expect(fieldText(last, 'to_sha')).toBe(good);
  expect(fieldText(last, 'trigger')).toBe('error rate up');
  expect(fieldText(last, 'operator')).toBe('alice');
});

/**
 * The CLI on a real pseudo-terminal: util-linux `script` gives it one and records what it drew.
 * `args` are ours (no user input), so the command line `script` hands its shell is safe.
 */
const ESC = '\u001b';

function cliOnTerminal(args: string[]): {
  output: () => string;
  done: Promise<{ code: number | null; output: string }>;
} {
  const child = spawn(
    'script',
    ['--quiet', '--flush', '--return', '--command', [process.execPath, BIN, ...args].join(' '), '/dev/null'],
    { env: cliEnv('alice') },
  );
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  return {
    output: () => output,
    done: new Promise((resolve) => child.on('close', (code) => resolve({ code, output }))),
  };
}

test('watch redraws the status in place on a terminal, prints the outcome below it, and writes plain lines to a pipe', async () => {
  const sha = await h.repo.commit('feature: watched');
  const handle = await h.start(h.request(sha, { changeClass: 'B' }));
  const watching = cliOnTerminal(['watch', handle.workflowId]);
  const waiting = () =>
    /watching for[\s\S]*stage awaiting_approval[\s\S]*staging gates: 6\/6 passed/.test(watching.output());
  for (let i = 0; i < 400 && !waiting(); i++) await delay(50);
  expect(waiting()).toBe(true);
  expect((await cli(['approve', handle.workflowId], 'bob')).code).toBe(0);
  const { code, output } = await watching.done;
  expect(code).toBe(0);
  // Redrawn: the cursor went back up over the block (ESC [ n A) and cleared below (ESC [ 0 J).
  expect(output).toMatch(new RegExp(`${ESC}\\[\\d+A`));
  const afterLastClear = output.slice(output.lastIndexOf(`${ESC}[0J`));
  expect(afterLastClear).toMatch(/stage promoted/);
  expect(afterLastClear).not.toContain('watching for');

  const piped = await cli(['watch', handle.workflowId]);
  expect(piped.code).toBe(0);
  expect(piped.stdout).toMatch(/stage promoted/);
  expect(piped.stdout + piped.stderr).not.toContain(`${ESC}[`);
});

test('start checks the request before it returns: a typo exits 2 before any workflow, a refusal by the worker exits 1', async () => {
  const target = ['--repo', h.repo.bare, '--staging-base', h.staging.url, '--production-base', h.production.url];
  const typo = await cli(['start', '--commit', 'xyz123', '--class', 'A', ...target, '--workflow-id', 'cli-typo']);
  expect(typo.code).toBe(2);
  // Named by the flag the user typed, not by the request field it fills.
  expect(typo.stderr).toContain('--commit:');
  expect(typo.stderr).not.toContain('commitSha');
  await expect(h.env.client.workflow.getHandle('cli-typo').describe()).rejects.toThrow(/not found/i);

  const unknown = await cli(['start', '--commit', 'deadbeefdeadbeef', '--class', 'A', ...target]);
  expect(unknown.code).toBe(1);
  expect(unknown.stdout).toContain('CommitNotOnSourceBranch');

  const sha = await h.repo.commit('feature: started, not waited for');
  const started = await cli([
    'start',
    '--commit',
    sha,
    '--class',
    'B',
    ...target,
    '--workflow-id',
    'cli-admitted',
    '--json',
  ]);
  expect(started.code).toBe(0);
  const answer = JSON.parse(started.stdout) as { releaseId: string; stage: string };
  expect(answer.releaseId).toMatch(/-rc\d+$/);
  expect(answer.stage).not.toBe('validating');
  await h.env.client.workflow.getHandle('cli-admitted').terminate('test cleanup');
});

test('a usage error exits 2 and names the problem', async () => {
  const out = await cli(['start', '--commit', 'abc1234', '--classs', 'A']);
  expect(out.code).toBe(2);
  expect(out.stderr).toContain("unknown option '--classs'");
  const missing = await cli(['start', '--commit', 'abc1234']);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toMatch(/--class: /);
});
