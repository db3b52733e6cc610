// Promotions on the real cluster (PostgreSQL persistence and SQL visibility) and its two worker
// processes: one that passes, one approved through the `decide` update, one rolled back. The
// evidence is outside the workflow: the bare repo's reflog, the shared ledger file, and what
// `temporal workflow list --query` finds in the cluster's visibility store.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { fieldText, parseLedger } from '../../src/ledger/format';
import type { promotionWorkflow } from '../../src/workflows';
import { decideUpdate } from '../../src/workflows/messages';
import { BROKEN_SERVICE } from '../../sample/repo';
import { failureOf, Harness, waitFor, waitForStage } from '../helpers';
import { createClusterHarness, listedWorkflowIds } from './tier';

let h: Harness;
beforeAll(async () => {
  h = await createClusterHarness();
});
afterAll(async () => {
  await h?.close();
});

async function entryOf(releaseId: string | undefined) {
  const parsed = parseLedger(await h.ledger());
  expect(parsed.problems).toEqual([]);
  const entries = parsed.entries.filter((e) => e.releaseId === releaseId);
  expect(entries).toHaveLength(1);
  return entries[0]!;
}

/** Reflog lines of `release` added since `before` (newest first). */
async function pushesSince(before: string[]): Promise<string[]> {
  const now = await h.repo.reflog('release');
  return now.slice(0, now.length - before.length);
}

/** Visibility is written after the fact: the list query is polled until it shows `workflowId`. */
async function waitUntilListed(query: string, workflowId: string): Promise<string[]> {
  return waitFor(`${query} to list ${workflowId}`, async () => {
    const ids = await listedWorkflowIds(query);
    return ids.includes(workflowId) && ids;
  });
}

async function promoted(handle: WorkflowHandle<typeof promotionWorkflow>, sha: string) {
  const status = await handle.result();
  expect(status.stage).toBe('promoted');
  expect(await h.repo.tip('release')).toBe(sha);
  return status;
}

test('a class A promotion passes on the cluster: one push, one pass entry, listed under ReleaseStage=promoted', async () => {
  const sha = await h.repo.commit('feature: first on the cluster');
  const before = await h.repo.reflog('release');
  const handle = await h.start(h.request(sha));
  const status = await promoted(handle, sha);

  expect(await pushesSince(before)).toEqual([`${sha} push`]);
  const entry = await entryOf(status.releaseId);
  expect(fieldText(entry, 'result')).toBe('pass');
  expect(fieldText(entry, 'workflow_id')).toBe(handle.workflowId);
  expect(fieldText(entry, 'branch_tip_after')).toBe(sha);
  expect(entry.chain).toBe(status.ledgerChainHead);
  expect(await waitUntilListed("ReleaseStage='promoted'", handle.workflowId)).toContain(handle.workflowId);
  expect(await listedWorkflowIds(`CommitSha='${sha}'`)).toEqual([handle.workflowId]);
});

test('a class B promotion waits for approval, is listed as awaiting_approval, and the decide update approves it', async () => {
  const sha = await h.repo.commit('feature: needs a human');
  const before = await h.repo.reflog('release');
  const tipBefore = await h.repo.tip('release');
  const handle = await h.start(h.request(sha, { changeClass: 'B', approval: { approvers: ['bob'] } }));
  await waitForStage(handle, 'awaiting_approval');
  expect(
    await waitUntilListed("ReleaseStage='awaiting_approval' AND ExecutionStatus='Running'", handle.workflowId),
  ).toContain(handle.workflowId);
  // Nothing moves while it waits.
  expect(await h.repo.tip('release')).toBe(tipBefore);

  const answer = await handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', approver: 'bob' }] });
  expect(answer.counted).toBe(true);
  expect(answer.approval.state).toBe('approved');
  const status = await promoted(handle, sha);
  expect(status.approval.decisions.map((d) => [d.decision, d.approver])).toEqual([['approve', 'bob']]);
  expect(await pushesSince(before)).toEqual([`${sha} push`]);
  const entry = await entryOf(status.releaseId);
  expect(fieldText(entry, 'result')).toBe('pass');
  expect(entry.fields.get('approvals')?.value).toEqual([expect.stringMatching(/^bob: approved at /)]);
  expect(await waitUntilListed("ReleaseStage='promoted'", handle.workflowId)).toContain(handle.workflowId);
  expect(await listedWorkflowIds("ReleaseStage='awaiting_approval' AND ExecutionStatus='Running'")).not.toContain(
    handle.workflowId,
  );
});

test('a bad deploy is rolled back on the cluster: branch back on the good commit, two entries, listed as failed', async () => {
  const good = await h.repo.commit('feature: good before bad');
  await promoted(await h.start(h.request(good)), good);
  const bad = await h.repo.commit('feature: breaks production', { 'service.json': BROKEN_SERVICE });
  const before = await h.repo.reflog('release');
  const handle = await h.start(h.request(bad));
  const { type, status } = await failureOf(handle);

  expect(type).toBe('ProductionVerificationFailed');
  expect(status.stage).toBe('rolled_back');
  expect(status.rollback?.result).toBe('completed');
  expect(await h.repo.tip('release')).toBe(good);
  // The bad commit was really pushed, then the good one again.
  expect(await pushesSince(before)).toEqual([`${good} push`, `${bad} push`]);
  const promotion = await entryOf(status.releaseId);
  expect(fieldText(promotion, 'result')).toBe('fail');
  expect(fieldText(promotion, 'branch_tip_after')).toBe(good);
  expect(fieldText(promotion, 'rollback_release_id')).toBe(status.rollback?.releaseId);
  const rollback = await entryOf(status.rollback?.releaseId);
  expect(fieldText(rollback, 'result')).toBe('completed');
  expect(fieldText(rollback, 'from_sha')).toBe(bad);
  expect(fieldText(rollback, 'to_sha')).toBe(good);
  expect(
    await waitUntilListed(
      "ReleaseStage IN ('gates_failed','rolled_back','rollback_partial','rejected')",
      handle.workflowId,
    ),
  ).toContain(handle.workflowId);
  expect(await listedWorkflowIds(`ReleaseStage='rolled_back' AND CommitSha='${bad}'`)).toEqual([handle.workflowId]);
});

test("the README's `temporal workflow list --query` lines run on the cluster's SQL visibility", async () => {
  const readme = readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
  const queries = [...readme.matchAll(/^temporal workflow list --query "([^"]+)"/gm)].map((m) => m[1] as string);
  expect(queries.length).toBeGreaterThanOrEqual(5);
  for (const query of queries) {
    // A query the store cannot run makes the CLI exit non-zero, and temporalCli throws.
    const ids = await listedWorkflowIds(query);
    expect(ids.filter((id) => id === '?')).toEqual([]);
  }
});
