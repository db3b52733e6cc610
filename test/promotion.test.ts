// The walking skeleton end to end: real dev server, real HTTP targets, real git, real ledger.
import { readFile } from 'node:fs/promises';
import type { PromotionStatus } from '../src/domain';
import { parseLedger, PROMOTION_KEYS } from '../src/ledger/format';
import { createHarness, failureOf, Harness, recordHistory, releaseIds, waitForStage } from './helpers';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

test('a passing promotion moves the release branch and writes one pass entry with the seed keys in order', async () => {
  const sha = await h.repo.commit('feature: better answers');
  const handle = await h.start(h.request(sha.slice(0, 8), { notes: 'ship it; token=abc123secret' }));
  const status: PromotionStatus = await handle.result();
  await recordHistory(handle, 'promotion-pass');

  expect(status.stage).toBe('promoted');
  expect(status.commitSha).toBe(sha);
  expect(status.releaseId).toMatch(/^\d{8}-\d{4}-rc1$/);
  expect(await h.repo.tip('release')).toBe(sha);
  expect(status.gates.map((g) => [g.name, g.pass])).toEqual([
    ['health', true],
    ['db_health', true],
    ['chat_happy', true],
    ['chat_415', true],
    ['cost_gate_chat', true],
    ['burst_429', true],
  ]);
  expect(status.prodVerification.map((g) => g.name)).toEqual(['health', 'db_health', 'chat_happy', 'chat_415']);
  expect(status.timeline.map((t) => t.stage)).toEqual([
    'validating',
    'waiting_for_staging',
    'staging_gates',
    'waiting_for_lock',
    'promoting',
    'verifying',
    'promoted',
  ]);

  const ledger = await h.ledger();
  expect(ledger.startsWith('# Release Log (Append-Only)\n')).toBe(true);
  const parsed = parseLedger(ledger);
  expect(parsed.problems).toEqual([]);
  expect(parsed.entries).toHaveLength(1);
  const entry = parsed.entries[0]!;
  expect(entry.releaseId).toBe(status.releaseId);
  expect(entry.keys.slice(0, PROMOTION_KEYS.length)).toEqual([...PROMOTION_KEYS]);
  expect(entry.keys.slice(PROMOTION_KEYS.length)).toEqual(['repo', 'approvals', 'workflow_id', 'branch_tip_after']);
  expect(entry.fields.get('result')?.value).toBe('pass');
  expect(entry.fields.get('branch_tip_after')?.value).toBe(sha);
  expect(entry.chain).toBe(status.ledgerChainHead);
  expect(ledger).toContain(
    '  notes: "promoted; production verification passed | deployed version not confirmed (no deployWait) | ship it; token=[REDACTED]"',
  );
  expect(ledger).not.toContain('abc123secret');
  expect(ledger).toMatch(/ {4}- health: pass \(200, \d+ ms\)/);
  expect(ledger).toMatch(/ {4}- burst_429: pass \(30 requests: \d+ x 200, \d+ x 429, 0 x 5xx\)/);
});

test('the status query answers while the promotion runs and search attributes follow the stage', async () => {
  h.staging.configure({ latencyMs: 300 });
  try {
    const sha = await h.repo.commit('feature: slow staging');
    const handle = await h.start(h.request(sha));
    const seen = await waitForStage(handle, 'staging_gates');
    expect(seen.releaseId).toMatch(/-rc\d+$/);
    const desc = await handle.describe();
    expect(desc.searchAttributes.ReleaseStage).toEqual(['staging_gates']);
    expect(desc.searchAttributes.CommitSha).toEqual([sha]);
    await handle.result();
    const done = await handle.describe();
    expect(done.searchAttributes.ReleaseStage).toEqual(['promoted']);
    expect(done.searchAttributes.ReleaseEnvironment).toEqual(['production']);
  } finally {
    h.staging.configure({ latencyMs: 0 });
  }
});

test('a failing staging gate moves no branch and writes a fail entry', async () => {
  const before = await h.repo.tip('release');
  const reflogBefore = await h.repo.reflog('release');
  h.staging.configure({ dbDown: true });
  try {
    const sha = await h.repo.commit('feature: needs the db');
    const handle = await h.start(h.request(sha));
    const { type, status, message } = await failureOf(handle);
    await recordHistory(handle, 'promotion-gates-failed');
    expect(type).toBe('StagingGatesFailed');
    expect(message).toContain('db_health returned 503');
    expect(status.stage).toBe('gates_failed');
    expect(await h.repo.tip('release')).toBe(before);
    expect(await h.repo.reflog('release')).toEqual(reflogBefore);
    const entry = parseLedger(await h.ledger()).entries.find((e) => e.releaseId === status.releaseId)!;
    expect(entry.fields.get('staging_gate_result')?.value).toBe('fail');
    expect(entry.fields.get('result')?.value).toBe('fail');
    expect(entry.fields.get('rollback_plan')?.value).toBe('nothing was promoted');
    expect(entry.fields.get('prod_verification')?.value).toEqual([]);
    expect(entry.fields.get('gates_run')?.value).toContainEqual(
      expect.stringMatching(/^db_health: fail \(503, \d+ ms\)$/),
    );
  } finally {
    h.staging.configure({ dbDown: false });
  }
});

test('two promotions started in the same minute get different release ids', async () => {
  const a = await h.repo.commit('feature: one');
  const first = await h.start(h.request(a));
  const firstStatus = await first.result();
  const b = await h.repo.commit('feature: two');
  const second = await h.start(h.request(b));
  const secondStatus = await second.result();
  expect(firstStatus.releaseId).not.toBe(secondStatus.releaseId);
  const ids = releaseIds(await h.ledger());
  expect(new Set(ids).size).toBe(ids.length);
  const reservations = (await readFile(`${h.ledgerPath}.reservations`, 'utf8')).trim().split('\n');
  expect(reservations.length).toBe(ids.length);
});
