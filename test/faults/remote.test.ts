// Remote faults: the git remote unreachable for a while (the bare repo renamed away, then back)
// during a promotion's push and during a rollback's push, and once for good. A repo missing after
// admission is a retryable RepoUnreachable, so the activities' bounded retry policy (5 attempts,
// 0.5 s doubling) rides out a short outage and gives up, typed, on a long one. Nothing is timed:
// the remote comes back only once a failed attempt is on record (the workflow's pending activity).
// Production follows the bare repo, but nothing asks it while the repo is away (its checks come
// after the move), so every answer it gave names the commit the branch was on.
import { existsSync } from 'node:fs';
import { chmod, realpath, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { decodeRetryState, type RetryState } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import type { RollbackStatus } from '../../src/domain';
import { TIP_UNREADABLE } from '../../src/ledger/entry';
import { fieldText, parseLedger } from '../../src/ledger/format';
import { decideUpdate, rollbackChildId } from '../../src/workflows/messages';
import { BROKEN_SERVICE, createSampleRepo, SampleRepo } from '../../sample/repo';
import { SampleService, startSampleService } from '../../sample/service';
import { createHarness, failureOf, Harness, waitFor, waitForStage } from '../helpers';
import { checkLedgerText, movesSince } from './invariants';
import { FaultRun, injected } from './report';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

// ---- a remote of its own per scenario ----------------------------------------------------

interface Remote {
  repo: SampleRepo;
  /** The repo's real path: what the workflow names (admission canonicalises it). */
  real: string;
  /** Where the repo is while it is away. */
  away: string;
  production: SampleService;
  takeAway(): Promise<void>;
  bringBack(): Promise<void>;
}

let remote: Remote | undefined;

async function newRemote(name: string): Promise<Remote> {
  const repo = await createSampleRepo(path.join(h.tmp, name));
  const real = await realpath(repo.bare);
  const away = `${real}.away`;
  remote = {
    repo,
    real,
    away,
    production: await startSampleService({ name: 'production', follow: { gitDir: repo.bare, branch: 'release' } }),
    takeAway: () => rename(real, away),
    bringBack: () => rename(away, real),
  };
  return remote;
}

afterEach(async () => {
  if (!remote) return;
  if (existsSync(remote.away) && !existsSync(remote.real)) await rename(remote.away, remote.real);
  await remote.production.close();
  remote = undefined;
});

const requestFor = (r: Remote, sha: string, overrides: Record<string, unknown> = {}) =>
  h.request(sha, { repo: r.repo.bare, productionBase: r.production.url, ...overrides });

type PendingActivity = temporal.api.workflow.v1.IPendingActivityInfo;

/** The workflow's pending `name` activity once an attempt of it failed at least `failures` times. */
function failedAttempts(handle: WorkflowHandle, name: string, failures: number): Promise<PendingActivity> {
  return waitFor(
    `${handle.workflowId}: ${name} to fail ${failures} attempt(s)`,
    async () => {
      // A child not started yet is not found: not yet.
      const described = await handle.describe().catch(() => undefined);
      const pending = described?.raw.pendingActivities?.find((a) => a.activityType?.name === name);
      return pending && (pending.attempt ?? 0) > failures && pending.lastFailure ? pending : undefined;
    },
    60_000,
    25,
  );
}

async function checkOutageFailure(run: FaultRun, r: Remote, pending: PendingActivity): Promise<void> {
  await run.check('the attempt failed on the missing remote: retryable RepoUnreachable naming it', () => {
    const info = pending.lastFailure?.applicationFailureInfo;
    expect(info?.type).toBe('RepoUnreachable');
    expect(info?.nonRetryable).toBeFalsy();
    expect(pending.lastFailure?.message).toContain(r.real);
    expect(pending.lastFailure?.message).toContain('readable when the promotion was admitted');
  });
}

/** Each run of activity `name` in the history: the attempt that ended it and how it ended. */
async function activityRuns(
  handle: WorkflowHandle,
  name: string,
): Promise<Array<{ attempt?: number; completed: boolean; retryState?: RetryState }>> {
  const events = (await handle.fetchHistory()).events ?? [];
  const of = (id: unknown) => String(id);
  return events
    .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === name)
    .map((scheduled) => {
      const id = of(scheduled.eventId);
      const started = events.find((e) => of(e.activityTaskStartedEventAttributes?.scheduledEventId) === id);
      const failed = events.find((e) => of(e.activityTaskFailedEventAttributes?.scheduledEventId) === id);
      return {
        attempt: started?.activityTaskStartedEventAttributes?.attempt ?? undefined,
        completed: events.some((e) => of(e.activityTaskCompletedEventAttributes?.scheduledEventId) === id),
        retryState: failed ? decodeRetryState(failed.activityTaskFailedEventAttributes?.retryState) : undefined,
      };
    });
}

async function checkLedger(run: FaultRun, releaseIds: Array<string | undefined>, head?: string): Promise<void> {
  await checkLedgerText(run, await h.ledger(), releaseIds, head);
}

async function entryOf(releaseId: string | undefined) {
  const entry = parseLedger(await h.ledger()).entries.find((e) => e.releaseId === releaseId);
  if (!entry) throw new Error(`no ledger entry ${releaseId}`);
  return entry;
}

// ---- the scenarios ---------------------------------------------------------------------------

test(
  'the remote renamed away during the push, back after a failed attempt: promoted, one push, one entry',
  () =>
    injected('remote', 'remote renamed away during the push', async (run) => {
      const r = await newRemote('push-outage');
      const sha = await r.repo.commit('feature: pushed once the remote is back');
      const reflogBefore = await r.repo.reflog('release');
      // Held before the push by a human: the remote goes away between admission and the push.
      const handle = await h.start(requestFor(r, sha, { changeClass: 'B' }));
      await waitForStage(handle, 'awaiting_approval');
      await r.takeAway();
      const answer = await handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', approver: 'bob' }] });
      expect(answer.counted).toBe(true);

      const pending = await failedAttempts(handle, 'promoteCommit', 1);
      await checkOutageFailure(run, r, pending);
      await r.bringBack();

      const status = await handle.result();
      await run.check('promoted', () => {
        expect(status.stage).toBe('promoted');
        expect(status.pushed).toBe(true);
        expect(status.prodVerification.every((g) => g.pass)).toBe(true);
      });
      const runs = await activityRuns(handle, 'promoteCommit');
      // The target's first promotion: one call reads the tip (the one the outage hit), one pushes.
      await run.check('the promote step completed, its read on a retry after the outage', () => {
        expect(runs).toHaveLength(2);
        expect(runs.every((r) => r.completed)).toBe(true);
        expect(runs[0]?.attempt).toBeGreaterThanOrEqual(pending.attempt ?? 2);
      });
      await run.check('the branch moved once, to the commit', async () => {
        expect(await movesSince(r.repo, reflogBefore)).toEqual([sha]);
        expect(await r.repo.tip('release')).toBe(sha);
      });
      await run.check('production was asked only about the pushed commit (never while the remote was away)', () => {
        expect(r.production.requests.length).toBeGreaterThanOrEqual(4);
        expect(r.production.requests.filter((req) => req.version !== sha)).toEqual([]);
      });
      await checkLedger(run, [status.releaseId], status.ledgerChainHead);
      await run.check('the entry is a pass on the commit', async () => {
        const entry = await entryOf(status.releaseId);
        expect(fieldText(entry, 'result')).toBe('pass');
        expect(fieldText(entry, 'workflow_id')).toBe(handle.workflowId);
        expect(fieldText(entry, 'branch_tip_after')).toBe(sha);
      });
    }),
  180_000,
);

test(
  "the remote renamed away as the rollback's push reaches it, back after failed attempts: rolled back, each entry once",
  () =>
    injected('remote', 'remote renamed away during the rollback', async (run) => {
      const r = await newRemote('rollback-outage');
      const good = r.repo.base;
      const bad = await r.repo.commit('feature: breaks production', { 'service.json': BROKEN_SERVICE });
      const reflogBefore = await r.repo.reflog('release');
      // The remote is migrated away while it receives the rollback's push (and only that push):
      // the hook removes itself, moves the repo and declines. Every later attempt finds no repo.
      const hook = path.join(r.real, 'hooks', 'pre-receive');
      await writeFile(
        hook,
        `#!/bin/sh
while read old new ref; do
  if [ "$ref" = refs/heads/release ] && [ "$new" = ${good} ]; then
    rm -f '${hook}'
    mv '${r.real}' '${r.away}'
    echo "remote moved away" >&2
    exit 1
  fi
done
`,
      );
      await chmod(hook, 0o755);

      const handle = await h.start(requestFor(r, bad));
      const child = h.env.client.workflow.getHandle(rollbackChildId(handle.workflowId));
      // Two failed attempts: the one the remote vanished under, and one that found no remote at all.
      const pending = await failedAttempts(child, 'moveReleaseBranch', 2);
      await run.check('the remote was away while the rollback pushed', () => {
        expect(existsSync(r.real)).toBe(false);
        expect(existsSync(r.away)).toBe(true);
      });
      await checkOutageFailure(run, r, pending);
      await r.bringBack();

      const { type, message, status } = await failureOf(handle);
      const rollback = (await child.result()) as RollbackStatus;
      await run.check('the promotion ends rolled back: ProductionVerificationFailed, rollback completed', () => {
        expect(type).toBe('ProductionVerificationFailed');
        expect(message).toContain(`rolled back to ${good}`);
        expect(status.stage).toBe('rolled_back');
        expect(status.rollback?.result).toBe('completed');
        expect(rollback.stage).toBe('rolled_back');
        expect(rollback.branchRestored).toBe(true);
        expect(rollback.actions[0]).toBe(`redeploy last known good: release moved ${bad} -> ${good}`);
        expect(rollback.verification.every((g) => g.pass)).toBe(true);
      });
      const runs = await activityRuns(child, 'moveReleaseBranch');
      await run.check('one move-back activity, completed on a retry after the outage', () => {
        expect(runs).toHaveLength(1);
        expect(runs[0]?.completed).toBe(true);
        expect(runs[0]?.attempt).toBeGreaterThanOrEqual(pending.attempt ?? 3);
      });
      await run.check('the branch moved twice in all: the push once, the move back once', async () => {
        expect(await movesSince(r.repo, reflogBefore)).toEqual([bad, good]);
        expect(await r.repo.tip('release')).toBe(good);
      });
      await checkLedger(run, [status.releaseId, rollback.releaseId], status.ledgerChainHead);
      await run.check("the promotion's fail entry and the rollback's completed entry", async () => {
        const promotion = await entryOf(status.releaseId);
        const rolledBack = await entryOf(rollback.releaseId);
        expect(fieldText(promotion, 'result')).toBe('fail');
        expect(fieldText(promotion, 'rollback_release_id')).toBe(rollback.releaseId);
        expect(fieldText(promotion, 'branch_tip_after')).toBe(good);
        expect(fieldText(rolledBack, 'result')).toBe('completed');
        expect(fieldText(rolledBack, 'from_sha')).toBe(bad);
        expect(fieldText(rolledBack, 'to_sha')).toBe(good);
        expect(fieldText(rolledBack, 'promotion_release_id')).toBe(status.releaseId);
      });
    }),
  180_000,
);

test(
  'the remote gone for good during the push: PromotionFailed once the retries run out, its fail entry, nothing pushed',
  () =>
    injected('remote', 'remote gone for good during the push', async (run) => {
      const r = await newRemote('push-gone');
      const sha = await r.repo.commit('feature: never pushed');
      const reflogBefore = await r.repo.reflog('release');
      const handle = await h.start(requestFor(r, sha, { changeClass: 'B' }));
      await waitForStage(handle, 'awaiting_approval');
      await r.takeAway();
      await handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', approver: 'bob' }] });

      const { type, message, status } = await failureOf(handle);
      const runs = await activityRuns(handle, 'promoteCommit');
      // Back only to read its reflog; the promotion is over.
      await r.bringBack();
      await run.check('the promotion ends typed: PromotionFailed in stage failed, naming the remote', () => {
        expect(type).toBe('PromotionFailed');
        expect(status.stage).toBe('failed');
        expect(status.failure?.type).toBe('PromotionFailed');
        expect(status.pushed).toBe(false);
        expect(status.rollback).toBeUndefined();
        expect(message).toContain(r.real);
        expect(message).toContain('readable when the promotion was admitted');
      });
      await run.check('the push activity ran out of its 5 attempts', () => {
        expect(runs).toHaveLength(1);
        expect(runs[0]?.completed).toBe(false);
        expect(runs[0]?.retryState).toBe('MAXIMUM_ATTEMPTS_REACHED');
        expect(runs[0]?.attempt).toBe(5);
      });
      await run.check('nothing was pushed', async () => {
        expect(await movesSince(r.repo, reflogBefore)).toEqual([]);
        expect(await r.repo.tip('release')).toBe(r.repo.base);
      });
      await checkLedger(run, [status.releaseId], status.ledgerChainHead);
      await run.check('one fail entry, which says the tip could not be read', async () => {
        const entries = parseLedger(await h.ledger()).entries;
        expect(entries.filter((e) => fieldText(e, 'workflow_id') === handle.workflowId)).toHaveLength(1);
        const entry = await entryOf(status.releaseId);
        expect(fieldText(entry, 'result')).toBe('fail');
        expect(fieldText(entry, 'notes')).toMatch(/^PromotionFailed: /);
        expect(fieldText(entry, 'branch_tip_after')).toBe(TIP_UNREADABLE);
      });
    }),
  180_000,
);

test(
  'the remote renamed away right after the bad push, as the rollback is planned, back after a failed attempt: rolled back',
  () =>
    injected('remote', 'remote renamed away as the rollback is planned', async (run) => {
      const r = await newRemote('rollback-plan-outage');
      // Production fails on its own here (it cannot follow a repo that is away).
      await r.production.close();
      r.production = await startSampleService({ name: 'production', dbDown: true });
      const good = r.repo.base;
      const sha = await r.repo.commit('feature: pushed, then the remote moves');
      const reflogBefore = await r.repo.reflog('release');
      const hook = path.join(r.real, 'hooks', 'post-receive');
      await writeFile(
        hook,
        `#!/bin/sh
while read old new ref; do
  if [ "$ref" = refs/heads/release ] && [ "$new" = ${sha} ]; then rm -f '${hook}'; mv '${r.real}' '${r.away}'; fi
done
`,
      );
      await chmod(hook, 0o755);
      const handle = await h.start(requestFor(r, sha));
      const child = h.env.client.workflow.getHandle(rollbackChildId(handle.workflowId));
      const pending = await failedAttempts(child, 'planRollback', 1);
      await run.check('planning failed on the missing remote: a retryable RepoUnreachable naming it', () => {
        const info = pending.lastFailure?.applicationFailureInfo;
        expect(info?.type).toBe('RepoUnreachable');
        expect(info?.nonRetryable).toBeFalsy();
        expect(pending.lastFailure?.message).toContain(r.real);
      });
      await r.bringBack();
      r.production.configure({ dbDown: false });
      const { type, status } = await failureOf(handle);
      await run.check('the promotion ends rolled back', () => {
        expect(type).toBe('ProductionVerificationFailed');
        expect(status.stage).toBe('rolled_back');
        expect(status.rollback?.result).toBe('completed');
      });
      await run.check('the branch moved twice in all: the push once, the move back once', async () => {
        expect(await movesSince(r.repo, reflogBefore)).toEqual([sha, good]);
        expect(await r.repo.tip('release')).toBe(good);
      });
      await checkLedger(run, [status.releaseId, status.rollback?.releaseId], status.ledgerChainHead);
    }),
  180_000,
);
