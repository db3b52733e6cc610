// Contention: two worker processes, 2 x 50 promotions of one target started at once (one repo and
// branch, one staging service, one production). The target's lock lets one promotion at a time
// from its drift check to its entry: no two promote→verify windows overlap (the workflows' own
// timelines), the pushes land in the ledger's order (the bare repo's reflog), 100 entries, one chain.
import { fieldText } from '../../src/ledger/format';
import type { PromotionStatus } from '../../src/domain';
import { injected } from './report';
import { closeFaultClient, createFaultTarget } from './target';

afterAll(closeFaultClient);

const PER_WORKER = 50;

test('2 x 50 concurrent promotions of one target: never two windows at once, 100 entries on one chain', () =>
  injected('contention', `two workers, 2 x ${PER_WORKER} concurrent promotions of one target`, async (run) => {
    const t = await createFaultTarget('contention');
    try {
      await Promise.all([t.worker(), t.worker()]);
      const shas: string[] = [];
      for (let i = 0; i < 2 * PER_WORKER; i++) shas.push(await t.repo.commit(`feature ${i}`));
      // Each promotion may go ahead of older commits already out (the downgrade check): promote
      // the same history in any order, allowing the downgrades the race produces.
      const handles = await Promise.all(shas.map((sha) => t.start(t.request(sha, { allowDowngrade: true }))));
      const statuses: PromotionStatus[] = await Promise.all(handles.map((handle) => handle.result()));
      run.ran(statuses.length);

      await run.check('all promoted', () =>
        expect(statuses.filter((s) => s.stage !== 'promoted').map((s) => s.stage)).toEqual([]),
      );
      // A window: from entering `promoting` (the lock is held) to the stage after the entry.
      const windows = statuses
        .map((s) => ({
          id: s.releaseId!,
          from: s.timeline.find((e) => e.stage === 'promoting')!.at,
          to: s.timeline.at(-1)!.at,
        }))
        .sort((a, b) => a.from.localeCompare(b.from));
      await run.check('no two promote→verify windows overlap', () => {
        const overlaps = windows.slice(1).filter((w, i) => w.from < windows[i]!.to);
        expect(overlaps).toEqual([]);
      });
      const entries = t.entries(); // parses and verifies the chain
      await run.check('100 entries, one per release id, on one chain', () => {
        expect(entries).toHaveLength(2 * PER_WORKER);
        expect(new Set(entries.map((e) => e.releaseId)).size).toBe(2 * PER_WORKER);
      });
      await run.check('the ledger lists them in the order their windows ran', () =>
        expect(entries.map((e) => e.releaseId)).toEqual(windows.map((w) => w.id)),
      );
      await run.check('each commit pushed once, in the ledger order', async () => {
        const reflog = (await t.repo.reflog('release')).map((line) => line.split(' ')[0]).reverse();
        expect(reflog.slice(1)).toEqual(entries.map((e) => fieldText(e, 'commit_sha')));
      });
    } finally {
      await t.close();
    }
  }));
