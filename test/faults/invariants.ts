// Invariants the fault scenarios read from outside the workflows: how the release branch moved
// (the bare repo's reflog) and what the ledger holds (one entry per release id, a verified chain).
import { parseLedger } from '../../src/ledger/format';
import { verifyLedger } from '../../src/ledger/verify';
import type { SampleRepo } from '../../sample/repo';
import type { FaultRun } from './report';

/** Shas the release branch was moved to since `before` (the bare repo's reflog), oldest first. */
export async function movesSince(repo: SampleRepo, before: string[]): Promise<string[]> {
  const now = await repo.reflog('release');
  expect(now.slice(now.length - before.length)).toEqual(before);
  return now
    .slice(0, now.length - before.length)
    .map((line) => line.split(' ')[0] as string)
    .reverse();
}

/** Each release id exactly once, every id in the file once, the file parses and its chain verifies (up to `head`). */
export async function checkLedgerText(
  run: FaultRun,
  text: string,
  releaseIds: Array<string | undefined>,
  head?: string,
): Promise<void> {
  const entries = parseLedger(text).entries;
  await run.check('exactly one entry per release id', () => {
    for (const id of releaseIds) {
      expect(id).toBeDefined();
      expect(entries.filter((e) => e.releaseId === id)).toHaveLength(1);
    }
    const all = entries.map((e) => e.releaseId);
    expect(new Set(all).size).toBe(all.length);
  });
  await run.check('the ledger parses and verifies', () => {
    expect(parseLedger(text).problems).toEqual([]);
    const report = verifyLedger(text, head);
    expect(report.problem).toBeUndefined();
    expect(report.ok).toBe(true);
  });
}
