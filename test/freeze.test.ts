// Freeze windows through real promotions on the dev server (SPEC §9): the registry's freezes, in
// workflow time; a promotion inside one waits without the target lock, or is refused, or breaks
// glass with the registry's break-glass approvals (an ordinary approval never does).
import { fieldText } from '../src/ledger/format';
import { decideUpdate, lockStateQuery, lockWorkflowId, statusQuery } from '../src/workflows/messages';
import type { SampleRepo } from '../sample/repo';
import { createRegistryHarness, entryOf, failureOf, Harness, recordHistory, waitFor, waitForStage } from './helpers';

let h: Harness;
let repo: SampleRepo;
let close: () => Promise<void>;
/** When the recurring freeze of `frozen-wait` ends (it started this minute, daily). */
let waitFreezeEndsMs: number;

beforeAll(async () => {
  const now = Date.now();
  const minuteStart = now - (now % 60_000);
  waitFreezeEndsMs = now + 25_000;
  const at = new Date(minuteStart);
  ({ h, repo, close } = await createRegistryHarness((target) => ({
    // A daily freeze that began this minute (UTC) and ends 25 s from now.
    'frozen-wait': {
      ...target,
      freezes: [
        {
          cron: `${at.getUTCMinutes()} ${at.getUTCHours()} * * *`,
          timezone: 'UTC',
          duration: `${Math.ceil((waitFreezeEndsMs - minuteStart) / 1000)}s`,
          reason: 'daily batch window',
        },
      ],
    },
    'frozen-refuse': {
      ...target,
      onFreeze: 'refuse',
      freezes: [
        {
          from: new Date(now - 3_600_000).toISOString(),
          to: new Date(now + 3_600_000).toISOString(),
          reason: 'quarter-end close',
        },
      ],
      breakGlassApprovers: ['bob', 'carol'],
      breakGlassMinApprovals: 2,
    },
    // A freeze every day, all day: never over within a test.
    'frozen-long': {
      ...target,
      freezes: [
        {
          rrule: `DTSTART:${new Date(now - 86_400_000).toISOString().slice(0, 10).replace(/-/g, '')}T000000\nRRULE:FREQ=DAILY`,
          timezone: 'Europe/Berlin',
          duration: '25h',
          reason: 'holiday freeze',
        },
      ],
    },
  })));
});

afterAll(async () => {
  await close?.();
});

const request = (commitSha: string, environment: string, extra: Record<string, unknown> = {}) => ({
  commitSha,
  changeClass: 'A',
  operator: 'alice',
  environment,
  ...extra,
});

const lockHolder = async () =>
  h.env.client.workflow
    .getHandle(lockWorkflowId(repo.bare, 'release'))
    .query(lockStateQuery)
    .then((s) => s.holder?.workflowId)
    .catch(() => undefined);

test('inside a recurring freeze a promotion waits without the target lock, then promotes when it ends', async () => {
  const sha = await repo.commit('feature: during the batch window');
  const handle = await h.start(request(sha, 'frozen-wait'));
  const frozen = await waitForStage(handle, 'frozen');
  expect(frozen.freeze?.active).toMatchObject({
    reason: 'daily batch window',
    endsAt: new Date(Math.ceil(waitFreezeEndsMs / 1000) * 1000).toISOString(),
  });
  expect(frozen.freeze?.active?.rule).toMatch(/^cron \d+ \d+ \* \* \* \(UTC\)/);
  // Nobody holds the target while it waits: a manual rollback would not be stuck behind it.
  expect(await lockHolder()).toBeUndefined();
  expect(await repo.tip('release')).toBe(repo.base);
  const status = await handle.result();

  expect(status.stage).toBe('promoted');
  expect(Date.parse(status.timeline.find((t) => t.stage === 'waiting_for_lock')!.at)).toBeGreaterThanOrEqual(
    Math.floor(waitFreezeEndsMs / 1000) * 1000,
  );
  expect(status.timeline.map((t) => t.stage)).toContain('frozen');
  expect(await repo.tip('release')).toBe(sha);
  const freeze = fieldText(await entryOf(h, status.releaseId), 'freeze');
  expect(freeze).toContain('daily batch window (cron');
  expect(freeze).toContain(`; waited from ${frozen.freeze?.waitingSince}`);
}, 90_000);

test('an environment that refuses ends a promotion inside its freeze: FreezeWindowActive, a fail entry, nothing pushed', async () => {
  const before = await repo.tip('release');
  const sha = await repo.commit('feature: at quarter end');
  const { type, message, status } = await failureOf(await h.start(request(sha, 'frozen-refuse')));

  expect(type).toBe('FreezeWindowActive');
  expect(message).toContain('frozen-refuse is frozen until');
  expect(message).toContain('quarter-end close');
  expect(message).toContain('or with breakGlass and its approvals');
  expect(status.stage).toBe('frozen');
  expect(await repo.tip('release')).toBe(before);
  const entry = await entryOf(h, status.releaseId);
  expect(fieldText(entry, 'result')).toBe('fail');
  expect(fieldText(entry, 'freeze')).toContain('quarter-end close');
  expect(fieldText(entry, 'freeze_override')).toBeUndefined();
});

test('break-glass: only the registry’s break-glass approvers override the freeze, and the entry records who and why', async () => {
  const sha = await repo.commit('feature: the fix that cannot wait');
  const handle = await h.start(request(sha, 'frozen-refuse', { breakGlass: { reason: 'payments outage hotfix' } }));
  const frozen = await waitForStage(handle, 'frozen');
  expect(frozen.breakGlass).toMatchObject({ state: 'pending', minApprovals: 2, approvers: ['bob', 'carol'] });

  const decide = (approver: string, breakGlass?: boolean) =>
    handle.executeUpdate(decideUpdate, {
      args: [{ decision: 'approve', approver, ...(breakGlass ? { breakGlass } : {}) }],
    });
  // An outsider's break-glass approval, the operator's own and an ordinary approval: none counts.
  expect(await decide('mallory', true)).toMatchObject({
    counted: false,
    why: expect.stringContaining('mallory is not an approver here'),
  });
  expect(await decide('alice', true)).toMatchObject({ counted: false, why: expect.stringContaining('cannot approve') });
  expect(await decide('bob')).toMatchObject({ counted: false, why: 'this promotion does not need approval' });
  expect((await handle.query(statusQuery)).stage).toBe('frozen');
  expect(await decide('bob', true)).toMatchObject({ counted: true });
  expect((await handle.query(statusQuery)).stage).toBe('frozen');
  expect(await decide('carol', true)).toMatchObject({ counted: true });
  const status = await handle.result();
  await recordHistory(handle, 'promotion-break-glass');

  expect(status.stage).toBe('promoted');
  expect(status.freeze?.overridden).toBe(true);
  expect(status.breakGlass?.ignored.map((d) => d.approver)).toEqual(['mallory', 'alice']);
  expect(await repo.tip('release')).toBe(sha);
  const entry = await entryOf(h, status.releaseId);
  expect(fieldText(entry, 'freeze')).toContain('quarter-end close');
  expect(fieldText(entry, 'freeze_override')).toMatch(
    /^break-glass: payments outage hotfix; approved by bob at \S+, carol at \S+$/,
  );
  // Break-glass approvals are not the promotion's approvals.
  expect(fieldText(entry, 'approvals') ?? '').not.toContain('bob');
});

test('a break-glass the registry gives nobody to approve is refused before anything starts', async () => {
  const sha = await repo.commit('feature: glass nobody can break');
  const { type, message } = await failureOf(
    await h.start(request(sha, 'frozen-long', { breakGlass: { reason: 'please' } })),
  );
  expect(type).toBe('InvalidPromotionRequest');
  expect(message).toContain('breakGlass: frozen-long has no breakGlassApprovers');
});

test('the wait in a freeze is bounded by the approval timeout: FreezeWindowActive once it has passed', async () => {
  const sha = await repo.commit('feature: waits too long');
  const handle = await h.start(request(sha, 'frozen-long', { approval: { timeout: '3s' } }));
  await waitFor('frozen', async () => ((await handle.query(statusQuery)).stage === 'frozen' ? true : undefined));
  const { type, message, status } = await failureOf(handle);
  expect(type).toBe('FreezeWindowActive');
  expect(message).toContain('still frozen after waiting 3s (the approval timeout)');
  expect(status.stage).toBe('frozen');
  expect(fieldText(await entryOf(h, status.releaseId), 'result')).toBe('fail');
});

test('a dry run reports the freeze a promotion would meet, and what it would do there', async () => {
  const sha = await repo.commit('feature: dry run at quarter end');
  const refused = await (await h.start(request(sha, 'frozen-refuse', { dryRun: true }))).result();
  expect(refused.dryRun?.freeze?.reason).toBe('quarter-end close');
  expect(refused.dryRun?.wouldEnd?.type).toBe('FreezeWindowActive');
  const glass = await (
    await h.start(request(sha, 'frozen-refuse', { dryRun: true, breakGlass: { reason: 'hotfix' } }))
  ).result();
  expect(glass.dryRun?.wouldEnd).toBeUndefined();
  expect(glass.dryRun?.verdicts.join('\n')).toContain(
    'break-glass (hotfix) needs 2 break-glass approval(s) from bob, carol',
  );
});
