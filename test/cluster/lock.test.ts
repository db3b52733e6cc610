// Two promotions of one target started together on the cluster, with two worker processes able
// to run either: the target lock lets one through at a time. Asserted from the lock's own history
// (grants and releases in order), the promotions' timelines (the second pushes only after the
// first was done), the bare repo's reflog and the production service's request log.
import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { PromotionStatus } from '../../src/domain';
import { fieldText, parseLedger } from '../../src/ledger/format';
import { lockWorkflowId } from '../../src/workflows/messages';
import { SampleService, startSampleService } from '../../sample/service';
import { Harness } from '../helpers';
import { createClusterHarness } from './tier';

let h: Harness;
beforeAll(async () => {
  h = await createClusterHarness();
});
afterAll(async () => {
  await h?.close();
});

/** The workflow ids of the lock's `releaseLock` signals, in history order. */
async function releases(): Promise<string[]> {
  const history = await h.env.client.workflow.getHandle(lockWorkflowId(h.repo.bare, 'release')).fetchHistory();
  return (history.events ?? [])
    .map((e) => e.workflowExecutionSignaledEventAttributes)
    .filter((a) => a?.signalName === 'releaseLock')
    .map(
      (a) => defaultPayloadConverter.fromPayload<{ workflowId: string }>(a?.input?.payloads?.[0] as Payload).workflowId,
    );
}

const at = (status: PromotionStatus, stage: PromotionStatus['stage']) =>
  Date.parse(status.timeline.find((t) => t.stage === stage)?.at ?? 'missing');

test('two promotions of one target are never interleaved: the second promotes only after the first released the lock', async () => {
  const PROD_LATENCY = 2_000;
  // Each its own staging, the second slower: they reach the lock in commit order (the second is
  // no downgrade) while the first still holds it.
  const stagings: SampleService[] = [
    await startSampleService({ name: 'staging', latencyMs: 100 }),
    await startSampleService({ name: 'staging', latencyMs: 600 }),
  ];
  h.production.configure({ latencyMs: PROD_LATENCY });
  try {
    const commits = [await h.repo.commit('feature: one'), await h.repo.commit('feature: two')];
    const reflogBefore = await h.repo.reflog('release');
    const requestsBefore = h.production.requests.length;
    const handles: WorkflowHandle[] = await Promise.all(
      commits.map((sha, i) => h.start(h.request(sha, { stagingBase: stagings[i]!.url }))),
    );
    const [first, second] = (await Promise.all(handles.map((handle) => handle.result()))) as PromotionStatus[];
    expect([first!.stage, second!.stage]).toEqual(['promoted', 'promoted']);
    expect(await h.repo.tip('release')).toBe(commits[1]);

    // The second asked for the lock while the first held it, and pushed only after the first
    // had finished (workflow times, from the server's clock).
    expect(at(second!, 'waiting_for_lock')).toBeLessThan(at(first!, 'promoted'));
    expect(at(second!, 'promoting')).toBeGreaterThanOrEqual(at(first!, 'promoted'));
    // The lock's history: the first released before the second did.
    const released = await releases();
    expect(released.filter((id) => handles.some((handle) => handle.workflowId === id))).toEqual(
      handles.map((handle) => handle.workflowId),
    );
    // Two pushes, in order.
    const now = await h.repo.reflog('release');
    expect(now.slice(0, now.length - reflogBefore.length)).toEqual([`${commits[1]} push`, `${commits[0]} push`]);
    // Production served each commit's four probes as one block: no probe of one promotion fell
    // inside the other's verification.
    const versions = h.production.requests.slice(requestsBefore).map((r) => r.version);
    expect(versions).toEqual(commits.flatMap((sha) => [sha, sha, sha, sha]));
    // The shared ledger has both, in the order they ran, each with its own tip.
    const entries = parseLedger(await h.ledger()).entries;
    const ids = entries.map((e) => e.releaseId);
    expect(ids.indexOf(first!.releaseId as string)).toBeLessThan(ids.indexOf(second!.releaseId as string));
    expect(
      [first!, second!].map((s) =>
        fieldText(
          entries.find((e) => e.releaseId === s.releaseId)!,
          'branch_tip_after',
        ),
      ),
    ).toEqual(commits);
  } finally {
    h.production.configure({ latencyMs: 0 });
    for (const staging of stagings) await staging.close();
  }
});
