// `watch` and `start --wait` through a pipe (how a CI log sees them; runCli's stdout and stderr
// are pipes, not a terminal): every stage of the workflow's own timeline is printed once, in
// order, with the time the workflow reached it, including the stages passed between two polls
// and the last ones, which only the outcome carries.
import { spawn } from 'node:child_process';
import type { PromotionStatus } from '../src/domain';
import { decideUpdate } from '../src/workflows/messages';
import { timelinePrinter } from '../src/cli/follow';
import { BIN, CliRun, runCli } from './cli-process';
import { harnessCliEnv, useCliHarness } from './cli-harness';
import { failureOf, Harness, uniqueId, waitFor } from './helpers';

const suite = useCliHarness();
let h: Harness;
beforeAll(() => {
  h = suite.current();
});

const cliEnv = (): NodeJS.ProcessEnv => harnessCliEnv(h);

/** The CLI as a process whose stderr can be read while it runs (pipes, as in CI). */
function cliRunning(args: string[]): { stderr: () => string; done: Promise<CliRun> } {
  const child = spawn(process.execPath, [BIN, ...args], { env: cliEnv() });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return {
    stderr: () => stderr,
    done: new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr }))),
  };
}

const STAGE_LINE = /^\S+ [a-z_]+$/;
/** The stage lines of a run's stderr: "<at> <stage>", one per timeline entry. */
function stageLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => STAGE_LINE.test(line));
}
const expected = (timeline: PromotionStatus['timeline']) => timeline.map((t) => `${t.at} ${t.stage}`);

test('watch through a pipe prints every stage of the timeline once, in order, with its own time, promoting and promoted included', async () => {
  const sha = await h.repo.commit('feature: watched through a pipe');
  const handle = await h.start(h.request(sha, { changeClass: 'B' }));
  const watching = cliRunning(['watch', handle.workflowId]);
  // The watch has seen the wait; the stages after the approval pass quicker than its polls.
  await waitFor('watch to print awaiting_approval', async () => / awaiting_approval\n/.test(watching.stderr()));
  const answer = await handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', approver: 'bob' }] });
  expect(answer.counted).toBe(true);
  const run = await watching.done;
  const final = await handle.result();
  expect(final.stage).toBe('promoted');
  expect(run.code).toBe(0);
  expect(stageLines(run.stderr)).toEqual(expected(final.timeline));
  const stages = stageLines(run.stderr).map((line) => line.split(' ')[1]);
  for (const stage of ['validating', 'staging_gates', 'awaiting_approval', 'promoting', 'verifying', 'promoted'])
    expect(stages.filter((s) => s === stage)).toEqual([stage]);
  expect(stages.at(-1)).toBe('promoted');
  expect(run.stdout).toMatch(/stage promoted/);
  expect(run.stdout).not.toMatch(STAGE_LINE);
}, 60_000);

test('start --wait through a pipe prints every stage of the timeline once, in order, and exits 0 when promoted', async () => {
  const sha = await h.repo.commit('feature: started and waited for');
  const workflowId = uniqueId('cli-wait');
  const run = await runCli(
    [
      'start',
      '--commit',
      sha,
      '--class',
      'A',
      '--repo',
      h.repo.bare,
      '--staging-base',
      h.staging.url,
      '--production-base',
      h.production.url,
      '--workflow-id',
      workflowId,
      '--wait',
    ],
    cliEnv(),
  );
  const final = await h.env.client.workflow.getHandle(workflowId).result();
  expect((final as PromotionStatus).stage).toBe('promoted');
  expect(run.code).toBe(0);
  expect(stageLines(run.stderr)).toEqual(expected((final as PromotionStatus).timeline));
  expect(stageLines(run.stderr).map((line) => line.split(' ')[1])).toEqual(
    expect.arrayContaining(['promoting', 'verifying', 'promoted']),
  );
}, 60_000);

test('watch of a promotion that is rejected prints the stages to the end from the failure and exits 1', async () => {
  const sha = await h.repo.commit('feature: watched, then rejected');
  const handle = await h.start(h.request(sha, { changeClass: 'B' }));
  const watching = cliRunning(['watch', handle.workflowId]);
  await waitFor('watch to print awaiting_approval', async () => / awaiting_approval\n/.test(watching.stderr()));
  await handle.executeUpdate(decideUpdate, { args: [{ decision: 'reject', approver: 'carol', reason: 'freeze' }] });
  const run = await watching.done;
  const { status } = await failureOf(handle);
  expect(status.stage).toBe('rejected');
  expect(run.code).toBe(1);
  expect(stageLines(run.stderr)).toEqual(expected(status.timeline));
  expect(stageLines(run.stderr).at(-1)).toMatch(/ rejected$/);
  expect(run.stdout).toMatch(/stage rejected/);
}, 60_000);

test('watch --json prints only the outcome on stdout, as JSON, with the whole timeline', async () => {
  const sha = await h.repo.commit('feature: watched by a machine');
  const handle = await h.start(h.request(sha));
  const run = await runCli(['watch', handle.workflowId, '--json'], cliEnv());
  const final = await handle.result();
  expect(run.code).toBe(0);
  const printed = JSON.parse(run.stdout) as PromotionStatus;
  expect(printed.timeline).toEqual(final.timeline);
  expect(stageLines(run.stderr)).toEqual([]);
}, 60_000);

test('the timeline printer writes each entry once, in order, whatever the polls saw', () => {
  const written: string[] = [];
  const printTimeline = timelinePrinter((text) => written.push(text));
  const at = (n: number) => `2026-12-01T00:00:0${n}.000Z`;
  const t = [
    { stage: 'validating' as const, at: at(1) },
    { stage: 'staging_gates' as const, at: at(2) },
    { stage: 'promoting' as const, at: at(3) },
    { stage: 'promoted' as const, at: at(4) },
  ];
  printTimeline(undefined);
  printTimeline(t.slice(0, 1));
  printTimeline(t.slice(0, 1));
  printTimeline(t.slice(0, 3));
  printTimeline(t.slice(0, 2));
  printTimeline(t);
  expect(written.join('')).toBe(t.map((e) => `${e.at} ${e.stage}\n`).join(''));
  expect(written).toHaveLength(3);
});
