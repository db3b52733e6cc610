// The Temporal UI reads as a release (issue 16), checked without a screenshot: what the real
// `temporal` CLI prints (`workflow describe`, `workflow metadata`, `workflow list`) and what the
// history holds (the user-metadata summary of every activity, local activity, timer and child).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { defaultPayloadConverter } from '@temporalio/common';
import type { PromotionStatus } from '../src/domain';
import { promotionWorkflow } from '../src/workflows';
import { HANDLER_DESCRIPTIONS, LockState, statusQuery } from '../src/workflows/messages';
import {
  clampBytes,
  lockStartMetadata,
  promotionStartMetadata,
  rollbackStartMetadata,
  SUMMARY_BYTES,
  WITHOUT_LOCKS_QUERY,
} from '../src/workflows/summaries';
import { parsePromotionRequest } from '../src/workflows/request';
import { startSampleService } from '../sample/service';
import { createHarness, failureOf, Harness, uniqueId, waitFor, waitForStage } from './helpers';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

// The worker runs in this process: the CLI must not block the event loop it answers queries on.
async function cli(args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(
    process.env.TEMPORAL_CLI_RESOLVED as string,
    [...args, '--address', process.env.TEMPORAL_TEST_ADDRESS as string],
    { encoding: 'utf8' },
  );
  return stdout;
}

/** `temporal workflow describe -o json`: the static summary and details the server keeps. */
async function described(workflowId: string): Promise<{ summary?: string; details?: string }> {
  const out = JSON.parse(await cli(['workflow', 'describe', '-w', workflowId, '-o', 'json']));
  return out.executionConfig?.userMetadata ?? {};
}

interface Metadata {
  currentDetails?: string;
  definition: {
    type: string;
    queryDefinitions?: Array<{ name: string; description?: string }>;
    signalDefinitions?: Array<{ name: string; description?: string }>;
    updateDefinitions?: Array<{ name: string; description?: string }>;
  };
}
/** `temporal workflow metadata -o json`: the handlers' descriptions and the current details. */
async function metadata(workflowId: string): Promise<Metadata> {
  return JSON.parse(await cli(['workflow', 'metadata', '-w', workflowId, '-o', 'json'])).queryResult[0];
}

function descriptions(list: Array<{ name: string; description?: string }> | undefined): Record<string, string> {
  return Object.fromEntries((list ?? []).map((d) => [d.name, d.description ?? '']));
}

interface Summarized {
  kind: 'activity' | 'local activity' | 'timer' | 'child';
  name: string;
  summary?: string;
}
/** Every command event of the history with its user-metadata summary (undefined when it has none). */
async function summarized(workflowId: string): Promise<Summarized[]> {
  const history = await h.env.client.workflow.getHandle(workflowId).fetchHistory();
  const out: Summarized[] = [];
  for (const e of history.events ?? []) {
    const payload = e.userMetadata?.summary;
    const summary = payload ? defaultPayloadConverter.fromPayload<string>(payload) : undefined;
    if (e.activityTaskScheduledEventAttributes)
      out.push({ kind: 'activity', name: e.activityTaskScheduledEventAttributes.activityType?.name ?? '', summary });
    else if (e.timerStartedEventAttributes)
      out.push({ kind: 'timer', name: e.timerStartedEventAttributes.timerId ?? '', summary });
    else if (e.markerRecordedEventAttributes?.markerName === 'core_local_activity')
      out.push({ kind: 'local activity', name: 'local activity', summary });
    else if (e.startChildWorkflowExecutionInitiatedEventAttributes)
      out.push({
        kind: 'child',
        name: e.startChildWorkflowExecutionInitiatedEventAttributes.workflowType?.name ?? '',
        summary,
      });
  }
  return out;
}

const summariesOf = (events: Summarized[], kind: Summarized['kind'], name?: string) =>
  events.filter((e) => e.kind === kind && (name === undefined || e.name === name)).map((e) => e.summary);

async function statusOf(workflowId: string): Promise<PromotionStatus> {
  return h.env.client.workflow.getHandle(workflowId).query(statusQuery);
}

/** Starts a promotion the way the CLI's `start` will: with promotionStartMetadata. */
async function startWithMetadata(request: Record<string, unknown>, workflowId = uniqueId('promotion')) {
  return h.env.client.workflow.start(promotionWorkflow, {
    taskQueue: h.taskQueue,
    workflowId,
    args: [request as never],
    ...promotionStartMetadata(request),
  });
}

test('a promotion: describe shows its summary and details; every activity of its history names its step', async () => {
  const sha = await h.repo.commit('feature: ui metadata');
  const short = sha.slice(0, 7);
  const handle = await startWithMetadata(h.request(sha));
  const status = await handle.result();
  expect(status.stage).toBe('promoted');

  const meta = await described(handle.workflowId);
  expect(meta.summary).toBe(`promote ${short} to production (class A), main → release`);
  expect(meta.details).toContain(`**Promotion** of commit \`${sha}\` to **production**, change class A`);
  expect(meta.details).toContain('- branches: `main` → `release`');
  expect(meta.details).toContain(`- repo: \`${h.repo.bare}\``);
  expect(meta.details).toContain(`- staging: \`${h.staging.url}\`; production: \`${h.production.url}\``);
  // The text form people read.
  const text = await cli(['workflow', 'describe', '-w', handle.workflowId]);
  expect(text).toMatch(new RegExp(`StaticSummary\\s+"promote ${short} to production`));
  expect(text).toMatch(/StaticDetails\s+"\*\*Promotion\*\* of commit/);

  const events = await summarized(handle.workflowId);
  // No bare activity: every scheduled one (and every local one) carries a summary.
  expect(events.filter((e) => e.kind === 'activity').length).toBeGreaterThanOrEqual(5);
  expect(events.filter((e) => e.summary === undefined)).toEqual([]);
  expect(summariesOf(events, 'activity', 'admitPromotion')).toEqual([
    `admit ${short} for production: check the commit, reserve a release id`,
  ]);
  expect(summariesOf(events, 'activity', 'runStagingGates')).toEqual([`staging gates of ${short} on ${h.staging.url}`]);
  // A first promotion of the target: the first call reads the tip, the second pushes from it.
  expect(summariesOf(events, 'activity', 'promoteCommit')).toEqual([
    `push ${short} to release (drift check, descendant check, lease)`,
    `push ${short} to release from ${h.repo.base.slice(0, 7)} (descendant check, lease)`,
  ]);
  expect(summariesOf(events, 'activity', 'verifyProduction')).toEqual([
    `production checks of ${short} on ${h.production.url}`,
  ]);
  expect(summariesOf(events, 'activity', 'appendLedgerEntry')).toEqual([
    `append ledger entry ${status.releaseId} (pass)`,
  ]);
  expect(summariesOf(events, 'local activity')).toEqual(
    expect.arrayContaining([
      `request staging turn on ${new URL(h.staging.url).origin}`,
      `request target lock release@${h.repo.bare}`,
    ]),
  );

  // Closed, the current details say how it ended and what it did.
  const details = (await metadata(handle.workflowId)).currentDetails ?? '';
  expect(details).toContain(`**promote ${short} to production (class A)** · release \`${status.releaseId}\``);
  expect(details).toContain('**Stage:** `promoted`');
  expect(details).toContain('- staging gates: 6/6 passed');
  expect(details).toContain('- production checks: 4/4 passed');
});

test('awaiting approval: the details name the stage, the approvers, how many and until when; the timer is the approval timeout; handlers are described', async () => {
  const sha = await h.repo.commit('feature: ui approval');
  const short = sha.slice(0, 7);
  const handle = await startWithMetadata(
    h.request(sha, { changeClass: 'B', approval: { approvers: ['bob', 'carol'], minApprovals: 2, timeout: '2h' } }),
  );
  const waiting = await waitForStage(handle, 'awaiting_approval');
  // The deadline is workflow time: 2 h after the wait began.
  const deadline = waiting.approval.deadline as string;
  const began = waiting.timeline.find((t) => t.stage === 'awaiting_approval')?.at as string;
  expect(Date.parse(deadline) - Date.parse(began)).toBe(2 * 3_600_000);
  expect(deadline).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

  expect((await described(handle.workflowId)).summary).toBe(`promote ${short} to production (class B), main → release`);
  expect((await described(handle.workflowId)).details).toContain(
    '- approval: required (2 of `bob`, `carol`, within 2h)',
  );

  const meta = await metadata(handle.workflowId);
  const details = meta.currentDetails ?? '';
  expect(details).toContain('**Stage:** `awaiting_approval`: awaiting approval');
  expect(details).toContain('- 2 approvals from `bob`, `carol` (not the operator `alice`); 0 so far');
  expect(details).toContain(`- until \`${deadline}\` (workflow time); then it ends as \`approval_expired\``);
  expect(details).toContain(`--workflow-id ${handle.workflowId} --name approve`);

  // Every handler a person uses is described, in the UI and `temporal workflow metadata`.
  expect(meta.definition.type).toBe('promotionWorkflow');
  expect(descriptions(meta.definition.queryDefinitions).status).toBe(HANDLER_DESCRIPTIONS.status);
  expect(descriptions(meta.definition.signalDefinitions)).toMatchObject({
    approve: HANDLER_DESCRIPTIONS.approve,
    reject: HANDLER_DESCRIPTIONS.reject,
    lockGranted: HANDLER_DESCRIPTIONS.lockGranted,
    lockPosition: HANDLER_DESCRIPTIONS.lockPosition,
  });
  expect(descriptions(meta.definition.updateDefinitions).decide).toBe(HANDLER_DESCRIPTIONS.decide);
  const handlers = [
    ...(meta.definition.queryDefinitions ?? []),
    ...(meta.definition.signalDefinitions ?? []),
    ...(meta.definition.updateDefinitions ?? []),
  ];
  expect(handlers.filter((d) => !d.description).map((d) => d.name)).toEqual([]);

  // The timer is named (no bare 7200s), with its deadline.
  const timers = summariesOf(await summarized(handle.workflowId), 'timer');
  expect(timers).toEqual([`approval timeout: 2h, until ${deadline}`]);

  // A decision shows in the details at once.
  await handle.signal('approve', { approver: 'bob' });
  await waitFor('the details to count bob', async () =>
    ((await metadata(handle.workflowId)).currentDetails ?? '').includes('; 1 so far: `bob`'),
  );
  await handle.signal('approve', { approver: 'carol' });
  const status = await handle.result();
  expect(status.stage).toBe('promoted');
  // Only while pending.
  expect(status.approval.deadline).toBeUndefined();
  const after = (await metadata(handle.workflowId)).currentDetails ?? '';
  expect(after).toContain('**Stage:** `promoted`');
  expect(after).not.toContain('awaiting approval');
  expect(after).toContain('- approval: approved');
});

test('a deploy that never shows: the polls and timers name the wait, the details say what it waits for, the rollback child has its own summary', async () => {
  const good = await h.repo.commit('feature: good before the stuck deploy');
  expect((await (await h.start(h.request(good))).result()).stage).toBe('promoted');
  const stuck = await startSampleService({ name: 'stuck-production', version: 'v-old' });
  try {
    const sha = await h.repo.commit('feature: never deployed');
    const short = sha.slice(0, 7);
    const handle = await startWithMetadata(
      h.request(sha, { productionBase: stuck.url, deployWait: { path: '/health', field: 'version', timeout: '4s' } }),
    );
    expect((await described(handle.workflowId)).details).toContain(
      '- deploy wait: production `/health` field `version`, 4s',
    );
    const waiting = await waitFor('a deploy read', async () => {
      const s = await statusOf(handle.workflowId);
      return s.stage === 'awaiting_deploy' && s.deployWait?.lastSeen !== undefined ? s : undefined;
    });
    expect(waiting.deployWait?.lastSeen).toBe('v-old');
    const details = (await metadata(handle.workflowId)).currentDetails ?? '';
    expect(details).toContain('**Stage:** `awaiting_deploy`: awaiting the deploy');
    expect(details).toContain(`- production \`${stuck.url}\` \`/health\` to report \`version\` = \`${short}\``);
    expect(details).toContain('- last read: `v-old`');
    expect(details).toContain(`- until \`${waiting.deployWait?.deadline}\` (workflow time); then it rolls back`);

    const { type, status } = await failureOf(handle);
    expect(type).toBe('DeployNotObserved');
    expect(status.stage).toBe('rolled_back');

    const events = await summarized(handle.workflowId);
    expect(events.filter((e) => e.summary === undefined)).toEqual([]);
    const reads = summariesOf(events, 'activity', 'readDeployedVersion');
    expect(reads.length).toBeGreaterThanOrEqual(2);
    expect(new Set(reads)).toEqual(new Set([`read deployed version at ${stuck.url}/health: is it ${short}?`]));
    const timers = summariesOf(events, 'timer') as string[];
    expect(timers.length).toBe(reads.length - 1);
    for (const t of timers)
      expect(t).toMatch(new RegExp(`^deploy wait: next read of /health for ${short} in [0-9.]+m?s$`));
    expect(summariesOf(events, 'activity', 'appendLedgerEntry')).toEqual([
      `append ledger entry ${status.releaseId} (fail)`,
    ]);

    // The compensating child is started with its own summary and details, and names its steps.
    const childId = status.rollback?.workflowId as string;
    const expected = rollbackStartMetadata({
      environment: 'production',
      repo: h.repo.bare,
      toBranch: 'release',
      fromSha: sha,
      toSha: good,
      promotionReleaseId: status.releaseId,
    }).staticSummary;
    expect(summariesOf(events, 'child')).toEqual([expected]);
    const child = await described(childId);
    expect(child.summary).toBe(
      `roll back production: release ${short} → ${good.slice(0, 7)} (promotion ${status.releaseId})`,
    );
    expect(child.details).toContain(
      `**Rollback** of \`release\` in **production** from \`${sha}\` back to \`${good}\``,
    );
    expect(child.details).toContain('- why: DeployNotObserved: production never reported');
    const childEvents = await summarized(childId);
    expect(childEvents.filter((e) => e.summary === undefined)).toEqual([]);
    expect(summariesOf(childEvents, 'activity', 'moveReleaseBranch')).toEqual([
      `move release back ${short} → ${good.slice(0, 7)} (lease on ${short})`,
    ]);
    expect(summariesOf(childEvents, 'activity', 'appendLedgerEntry')).toEqual([
      `append ledger entry ${status.rollback?.releaseId} (completed)`,
    ]);
    const childDetails = (await metadata(childId)).currentDetails ?? '';
    expect(childDetails).toContain('**Stage:** `rolled_back`');
    expect(childDetails).toContain(`redeploy last known good: release moved ${sha} -> ${good}`);
  } finally {
    await stuck.close();
  }
});

test('lock workflows say they are locks, describe their handlers and timers, and the list filter leaves them out', async () => {
  // A holder that stays running: a promotion waiting for approval.
  const sha = await h.repo.commit('feature: holds a test lock');
  const holder = await startWithMetadata(h.request(sha, { changeClass: 'B' }));
  await waitForStage(holder, 'awaiting_approval');

  const service = uniqueId('ui-staging');
  const target = `staging:${service}`;
  const lock = await h.env.client.workflow.signalWithStart('targetLockWorkflow', {
    workflowId: `staging-turn:${service}`,
    taskQueue: h.taskQueue,
    args: [{ target, checkIntervalMs: 500 }],
    signal: 'acquireLock',
    signalArgs: [{ workflowId: holder.workflowId, priority: 'promotion' }],
    ...lockStartMetadata(target),
  });
  await waitFor('the grant', async () => (await lock.query<LockState>('lockState')).holder !== undefined);

  expect((await described(lock.workflowId)).summary).toBe(`[lock] staging turn: ${service}`);
  expect((await described(lock.workflowId)).details).toContain(WITHOUT_LOCKS_QUERY);
  const meta = await metadata(lock.workflowId);
  expect(meta.currentDetails).toContain(`**[lock] staging turn** \`${service}\``);
  expect(meta.currentDetails).toContain(`- holder: \`${holder.workflowId}\` since`);
  expect(meta.currentDetails).toContain(`hide with \`${WITHOUT_LOCKS_QUERY}\``);
  expect(descriptions(meta.definition.signalDefinitions)).toMatchObject({
    acquireLock: HANDLER_DESCRIPTIONS.acquireLock,
    releaseLock: HANDLER_DESCRIPTIONS.releaseLock,
  });
  expect(descriptions(meta.definition.queryDefinitions).lockState).toBe(HANDLER_DESCRIPTIONS.lockState);

  // Its holder checks are named timers, its liveness checks named local activities.
  const events = await waitFor('a holder check', async () => {
    const e = await summarized(lock.workflowId);
    return summariesOf(e, 'local activity').length > 0 ? e : undefined;
  });
  expect(events.filter((e) => e.summary === undefined)).toEqual([]);
  const timers = summariesOf(events, 'timer') as string[];
  expect(timers.length).toBeGreaterThan(0);
  for (const t of timers) expect(t).toMatch(new RegExp(`^lock ${service}: check the holder still runs in \\d+ms$`));
  expect(summariesOf(events, 'local activity')).toContain(`is lock holder ${holder.workflowId} still running?`);

  // The README's filter: the list without lock workflows, through the real CLI.
  const list = async (query: string) =>
    (
      JSON.parse((await cli(['workflow', 'list', '--query', query, '-o', 'json'])).trim() || '[]') as Array<{
        execution: { workflowId: string };
        type: { name: string };
      }>
    ).map((w) => w.execution.workflowId);
  const onQueue = `TaskQueue = '${h.taskQueue}'`;
  await waitFor('visibility to list the lock', async () => (await list(onQueue)).includes(lock.workflowId));
  const all = await list(onQueue);
  const withoutLocks = await list(`${WITHOUT_LOCKS_QUERY} AND ${onQueue}`);
  expect(all.filter((id) => id.startsWith('staging-turn:') || id.startsWith('release-lock:')).length).toBeGreaterThan(
    1,
  );
  expect(withoutLocks).toContain(holder.workflowId);
  expect(withoutLocks.filter((id) => id.startsWith('staging-turn:') || id.startsWith('release-lock:'))).toEqual([]);
  expect(withoutLocks.length).toBe(
    all.filter((id) => !id.startsWith('staging-turn:') && !id.startsWith('release-lock:')).length,
  );

  await lock.signal('releaseLock', { workflowId: holder.workflowId });
  await lock.result();
  await holder.signal('reject', { approver: 'bob', reason: 'test over' });
  expect((await failureOf(holder)).type).toBe('ApprovalRejected');
});

describe('the texts themselves', () => {
  test('no summary outgrows the server limit; a cut never splits a character', () => {
    const long = promotionStartMetadata({ commitSha: 'a'.repeat(40), repo: '/srv/x.git', fromBranch: 'é'.repeat(400) });
    expect(long.staticSummary).toMatch(/^promote aaaaaaa to production, é+…$/);
    expect(Buffer.byteLength(long.staticSummary)).toBeLessThanOrEqual(SUMMARY_BYTES);
    expect(clampBytes('€'.repeat(10), 10)).toBe('€€…');
    expect(Buffer.byteLength(clampBytes('😀'.repeat(100), 50))).toBeLessThanOrEqual(50);
    expect(clampBytes('short', 10)).toBe('short');
    const rollback = rollbackStartMetadata({
      toBranch: '🙂'.repeat(300),
      fromSha: 'b'.repeat(40),
      toSha: 'c'.repeat(40),
    });
    expect(Buffer.byteLength(rollback.staticSummary)).toBeLessThanOrEqual(SUMMARY_BYTES);
  });

  test('credentials, line breaks and markdown in caller text do not reach the UI as written', () => {
    const meta = promotionStartMetadata({
      commitSha: '3f9c1a2',
      changeClass: 'A',
      operator: 'alice',
      repo: 'https://bob:hunter2secret@git.example.com/acme/chat.git',
    });
    expect(`${meta.staticSummary}${meta.staticDetails}`).not.toContain('hunter2secret');
    expect(meta.staticDetails).toContain('[REDACTED]');
    const rollback = rollbackStartMetadata({
      trigger: '5xx spike\n**bold** token=ghp_abcdefghijklmnopqrstuvwxyz0123456789',
      fromSha: 'b'.repeat(40),
      toSha: 'c'.repeat(40),
    });
    expect(rollback.staticDetails).not.toContain('ghp_abcdefghijklmnopqrstuvwxyz0123456789');
    expect(rollback.staticDetails).toContain('- why: 5xx spike \\*\\*bold\\*\\*');
    expect(rollback.staticSummary).not.toMatch(/\n/);
  });

  test('the raw request and the parsed one (durations in ms) read the same', () => {
    const raw = {
      commitSha: '3F9C1A2',
      changeClass: 'B',
      operator: 'alice',
      repo: '/srv/git/chat.git',
      approval: { approvers: ['bob'], timeout: '2h' },
      deployWait: { path: '/health', field: 'version', timeout: '90s' },
    };
    const parsed = parsePromotionRequest(raw);
    expect(promotionStartMetadata(parsed).staticSummary).toBe(promotionStartMetadata(raw).staticSummary);
    expect(promotionStartMetadata(parsed).staticSummary).toBe(
      'promote 3f9c1a2 to production (class B), main → release',
    );
    expect(promotionStartMetadata(parsed).staticDetails).toContain('within 2h');
    expect(promotionStartMetadata(parsed).staticDetails).toContain('field `version`, 90s');
    expect(promotionStartMetadata(raw).staticDetails).toContain('field `version`, 90s');
  });

  test('a registry request (no repo, no branches) says where they come from', () => {
    const meta = promotionStartMetadata({ commitSha: '3f9c1a2', changeClass: 'B', environment: 'staging-eu' });
    expect(meta.staticSummary).toBe('promote 3f9c1a2 to staging-eu (class B)');
    expect(meta.staticDetails).toContain('- branches: from the registry → from the registry');
    expect(meta.staticDetails).toContain('- repo: from the environment registry');
    expect(meta.staticDetails).toContain('- approval: required (1 of any approver, within 24h)');
  });
});
