// Disk faults at the append: the ledger's file layer fails on purpose (tests run as root, so
// chmod stops nothing; test/ledger-faults.ts injects errno failures and short writes per
// operation and path). The promotion keeps its last entry in stage `recording` until the disk
// heals (SPEC §3 Endings), then writes it once: never twice, never torn, the chain intact.
import { readFile } from 'node:fs/promises';
import type { WorkflowHandle } from '@temporalio/client';
import type { PromotionStatus } from '../../src/domain';
import { fieldText, LEDGER_HEADING, parseLedger } from '../../src/ledger/format';
import { ensureLedgerFile } from '../../src/ledger/store';
import { verifyLedger } from '../../src/ledger/verify';
import { approveSignal, rollbackChildId, statusQuery } from '../../src/workflows/messages';
import { BROKEN_SERVICE } from '../../sample/repo';
import { createHarness, failureOf, Harness, waitFor } from '../helpers';
import { FaultyLedgerFiles } from '../ledger-faults';
import { FaultRun, injected } from './report';

// A child not started yet is not found: no stage yet.
const stageOf = (handle: WorkflowHandle) =>
  handle.query(statusQuery).then(
    (status) => (status as PromotionStatus).stage,
    () => undefined,
  );

/** A harness whose ledger file exists already (a worker's ledger usually does), so faults hit the appends. */
async function harnessWithLedger(files: FaultyLedgerFiles): Promise<Harness> {
  const h = await createHarness({ ledgerFiles: files });
  await ensureLedgerFile(h.ledgerPath);
  return h;
}

interface DiskFault {
  name: string;
  /** Arms the fault on the ledger file (not the reservations beside it). */
  arm(files: FaultyLedgerFiles, ledgerPath: string): void;
  /** Whether the fault holds until healed (then the promotion must reach `recording` first). */
  lasting: boolean;
  /**
   * `failed`: the fault also stops reading the ledger (its open, its lock), so the drift check
   * under the lock cannot run and nothing is pushed (PromotionFailed); its `fail` entry waits.
   */
  ending: 'promoted' | 'failed';
}

const FAULTS: DiskFault[] = [
  {
    name: 'EACCES on every write',
    lasting: true,
    ending: 'promoted',
    arm: (f, p) => void f.fail('write', 'EACCES', { path: p }),
  },
  {
    name: 'ENOSPC on every write',
    lasting: true,
    ending: 'promoted',
    arm: (f, p) => void f.fail('write', 'ENOSPC', { path: p }),
  },
  {
    name: 'EIO on every fsync',
    lasting: true,
    ending: 'promoted',
    arm: (f, p) => void f.fail('sync', 'EIO', { path: p }),
  },
  {
    name: 'EACCES on the lock',
    lasting: true,
    ending: 'failed',
    arm: (f, p) => void f.fail('lock', 'EACCES', { path: p }),
  },
  { name: 'EROFS on open', lasting: true, ending: 'failed', arm: (f, p) => void f.fail('open', 'EROFS', { path: p }) },
  {
    name: 'a short write, then ENOSPC (disk full mid-entry)',
    lasting: false,
    ending: 'promoted',
    arm: (f, p) => void f.shortWrite({ path: p, bytes: 40, thenFail: 'ENOSPC' }),
  },
  {
    name: 'a short write the next write completes',
    lasting: false,
    ending: 'promoted',
    arm: (f, p) => void f.shortWrite({ path: p, bytes: 17 }),
  },
  {
    name: 'ENOSPC on the truncate that takes a failed fsync back, once',
    lasting: false,
    ending: 'promoted',
    arm: (f, p) => void f.fail('sync', 'EIO', { path: p, times: 1 }).fail('truncate', 'ENOSPC', { path: p, times: 1 }),
  },
];

async function checkLedger(run: FaultRun, h: Harness, expected: Array<{ workflowId: string; result: string }>) {
  const text = await h.ledger();
  await run.check('the ledger verifies (nothing torn, the chain intact)', () =>
    expect(verifyLedger(text)).toMatchObject({ ok: true, entries: expected.length }),
  );
  const entries = parseLedger(text).entries;
  for (const { workflowId, result } of expected)
    await run.check(`one ${result} entry for ${workflowId.split('-')[0]}`, () =>
      expect(
        entries.filter((e) => fieldText(e, 'workflow_id') === workflowId).map((e) => fieldText(e, 'result')),
      ).toEqual([result]),
    );
}

/** A lasting fault keeps the promotion in `recording`, with no byte written, until healed. */
async function heldInRecording(run: FaultRun, h: Harness, handle: WorkflowHandle, files: FaultyLedgerFiles) {
  await waitFor('stage recording', async () => (await stageOf(handle)) === 'recording', 120_000, 200);
  await run.check('the fault fired', () => expect(files.fired.length).toBeGreaterThan(0));
  await run.check('nothing was written while it lasted', async () => expect(await h.ledger()).toBe(LEDGER_HEADING));
  files.heal();
}

describe('the ledger failing at the append', () => {
  test.concurrent.each(FAULTS)('$name after admission: the promotion records its entry once the disk heals', (fault) =>
    injected('disk', `${fault.name} at the last entry`, async (run) => {
      const files = new FaultyLedgerFiles();
      const h = await harnessWithLedger(files);
      try {
        // Class B: admitted (its id reserved) and held for approval, then the disk fails.
        const sha = await h.repo.commit('feature: recorded despite the disk');
        const handle = await h.start(h.request(sha, { changeClass: 'B' }));
        await waitFor('awaiting approval', async () => (await stageOf(handle)) === 'awaiting_approval', 60_000, 100);
        fault.arm(files, h.ledgerPath);
        await handle.signal(approveSignal, { approver: 'bob' });
        if (fault.lasting) await heldInRecording(run, h, handle, files);
        if (fault.ending === 'promoted') {
          const status = await handle.result();
          await run.check('promoted', () => expect(status.stage).toBe('promoted'));
          await run.check('pushed once', async () => expect(await h.repo.reflog('release')).toHaveLength(2));
        } else {
          const { type, status } = await failureOf(handle);
          await run.check('PromotionFailed before any push: the drift check could not read the ledger', () => {
            expect(type).toBe('PromotionFailed');
            expect(status.pushed).toBe(false);
          });
          await run.check('nothing pushed', async () => expect(await h.repo.reflog('release')).toHaveLength(1));
        }
        if (!fault.lasting) await run.check('the fault fired', () => expect(files.fired.length).toBeGreaterThan(0));
        await checkLedger(run, h, [
          { workflowId: handle.workflowId, result: fault.ending === 'promoted' ? 'pass' : 'fail' },
        ]);
      } finally {
        await h.close();
      }
    }),
  );

  test.concurrent('ENOSPC at a rollback: the child and the promotion record their entries once the disk heals', () =>
    injected('disk', 'ENOSPC on every write at a rollback', async (run) => {
      const files = new FaultyLedgerFiles();
      const h = await harnessWithLedger(files);
      try {
        files.fail('write', 'ENOSPC', { path: h.ledgerPath });
        const bad = await h.repo.commit('feature: breaks production', { 'service.json': BROKEN_SERVICE });
        const handle = await h.start(h.request(bad));
        const child = h.env.client.workflow.getHandle(rollbackChildId(handle.workflowId));
        await waitFor(
          'the rollback to wait in recording',
          async () => (await stageOf(child)) === 'recording',
          120_000,
          200,
        );
        await run.check('the branch was restored before the entry', async () =>
          expect(await h.repo.tip('release')).toBe(h.repo.base),
        );
        await run.check('nothing was written while it lasted', async () =>
          expect(await h.ledger()).toBe(LEDGER_HEADING),
        );
        files.heal();
        const { type, status } = await failureOf(handle);
        await run.check('rolled back', () => {
          expect(type).toBe('ProductionVerificationFailed');
          expect(status.stage).toBe('rolled_back');
        });
        const text = await readFile(h.ledgerPath, 'utf8');
        const entries = parseLedger(text).entries;
        await run.check('the ledger verifies with the two entries', () =>
          expect(verifyLedger(text)).toMatchObject({ ok: true, entries: 2 }),
        );
        await run.check('one entry for the child, then one for the promotion', () =>
          expect(entries.map((e) => fieldText(e, 'workflow_id'))).toEqual([child.workflowId, handle.workflowId]),
        );
      } finally {
        await h.close();
      }
    }),
  );

  test.concurrent(
    'a reservation that fails (ENOSPC on the reservations file) retries admission and reserves one id',
    () =>
      injected('disk', 'ENOSPC on the reservations file at admission', async (run) => {
        const files = new FaultyLedgerFiles();
        const h = await harnessWithLedger(files);
        try {
          files.fail('write', 'ENOSPC', { path: `${h.ledgerPath}.reservations`, times: 2 });
          const sha = await h.repo.commit('feature: admitted on the third attempt');
          const handle = await h.start(h.request(sha));
          const status = await handle.result();
          await run.check('the fault fired twice', () => expect(files.fired).toHaveLength(2));
          await run.check('promoted with rc1', () => {
            expect(status.stage).toBe('promoted');
            expect(status.releaseId).toMatch(/-rc1$/);
          });
          const reservations = await readFile(`${h.ledgerPath}.reservations`, 'utf8');
          await run.check('one reservation line for the workflow', () =>
            expect(reservations.split('\n').filter((line) => line.includes(handle.workflowId))).toHaveLength(1),
          );
          await checkLedger(run, h, [{ workflowId: handle.workflowId, result: 'pass' }]);
        } finally {
          await h.close();
        }
      }),
  );
});
