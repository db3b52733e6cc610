// targetLockWorkflow: one per target (repo + release branch), so two promotions of one target
// never interleave, and one per staging service, so two gate runs never spend one rate window
// (a holder may hand over with a cooldown). First come first served, rollbacks ahead of promotions. No lease that can
// expire under a working holder: the lock checks instead whether its holder still runs, and
// frees it only when the holder's workflow has closed (terminated, timed out, crashed out).
import {
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { gitActivities, lastEntryActivities, localActivities } from '../activity-proxies';
import { workflowNow, workflowTimeMs } from '../clock';
import {
  acquireLockSignal,
  HANDLER_DESCRIPTIONS,
  LockRequest,
  rollbackChildId,
  lockGrantedSignal,
  lockPositionSignal,
  lockStateQuery,
  lockWantedSignal,
  supersededSignal,
  WaitingPromotion,
  waitingPromotionSignal,
  LockState,
  releaseLockSignal,
} from '../messages';
import { lockDetails, summaries } from '../summaries';

const { isWorkflowRunning } = localActivities;
const { recordClosedPromotion } = lastEntryActivities;
const { descendsOnBranch } = gitActivities;

export interface TargetLockInput {
  target: string;
  /** How often the holder's liveness is checked; a dead holder is freed within about this long. */
  checkIntervalMs: number;
  /**
   * How long the lock workflow stays up with nobody holding or waiting (default 0: it ends at
   * once, and the next request starts a new one, so idle locks cost no worker memory).
   */
  idleMs?: number;
  state?: LockState;
}

export async function targetLockWorkflow(input: TargetLockInput): Promise<void> {
  const state: LockState = input.state ?? { target: input.target, queue: [], nextToken: 1 };
  const idleMs = input.idleMs ?? 0;
  let changed = true;
  // Announcements whose superseding is still to be decided, in arrival order.
  const toSupersede: WaitingPromotion[] = [];

  setHandler(
    acquireLockSignal,
    (request) => {
      // Signal-with-start may deliver a request twice (an activity retry): the first one stands.
      if (
        state.holder?.workflowId === request.workflowId ||
        state.queue.some((q) => q.workflowId === request.workflowId)
      )
        return;
      // Rollbacks go ahead of every waiting promotion, behind earlier rollbacks.
      const at =
        request.priority === 'rollback'
          ? state.queue.filter((q) => q.priority === 'rollback').length
          : state.queue.length;
      state.queue.splice(at, 0, { ...request, requestedAt: workflowNow() });
      changed = true;
    },
    { description: HANDLER_DESCRIPTIONS.acquireLock },
  );
  setHandler(
    waitingPromotionSignal,
    (waiting) => {
      const waiters = (state.waiters ??= []);
      // A repeated announcement (an activity retry) keeps the first one's place.
      if (waiters.some((w) => w.workflowId === waiting.workflowId) || state.holder?.workflowId === waiting.workflowId)
        return;
      waiters.push(waiting);
      toSupersede.push(waiting);
      changed = true;
    },
    { description: HANDLER_DESCRIPTIONS.waitingPromotion },
  );
  setHandler(
    releaseLockSignal,
    ({ workflowId, token, cooldownMs }) => {
      if (state.waiters) state.waiters = state.waiters.filter((w) => w.workflowId !== workflowId);
      if (state.holder?.workflowId === workflowId && (token === undefined || token === state.holder.token)) {
        state.holder = undefined;
        if (cooldownMs) state.availableAtMs = Math.max(state.availableAtMs ?? 0, workflowTimeMs() + cooldownMs);
      } else state.queue = state.queue.filter((q) => q.workflowId !== workflowId);
      changed = true;
    },
    { description: HANDLER_DESCRIPTIONS.releaseLock },
  );
  setHandler(lockStateQuery, () => state, { description: HANDLER_DESCRIPTIONS.lockState });

  let idleSince = workflowTimeMs();
  let lastCheck = workflowTimeMs();
  for (;;) {
    // Superseding is decided before the next grant, so no waiter it ends can be granted first.
    const newer = toSupersede.shift();
    if (newer) {
      await supersedeOlder(state, newer);
      changed = true;
      continue;
    }
    const coolingMs = (state.availableAtMs ?? 0) - workflowTimeMs();
    if (!state.holder && state.queue.length > 0 && coolingMs <= 0) {
      const next = state.queue.shift() as LockRequest;
      // The holder has not pushed yet but is past superseding: it holds the target.
      if (state.waiters) state.waiters = state.waiters.filter((w) => w.workflowId !== next.workflowId);
      const token = state.nextToken++;
      state.holder = { workflowId: next.workflowId, token, since: workflowNow(), closing: next.closing };
      try {
        await getExternalWorkflowHandle(next.workflowId).signal(lockGrantedSignal, { target: state.target, token });
      } catch {
        state.holder = undefined; // the requester is gone: next in line
      }
      changed = true;
      continue;
    }
    if (changed) {
      changed = false;
      await tellWaiters(state);
      await tellHolderOfRollback(state);
    }
    // A cooling lock stays up: a new one would not know the window is still spent.
    const busy =
      state.holder !== undefined || state.queue.length > 0 || coolingMs > 0 || (state.waiters?.length ?? 0) > 0;
    if (busy) idleSince = workflowTimeMs();
    const idleLeft = idleMs - (workflowTimeMs() - idleSince);
    // A request that reaches a lock as it returns is not lost: the server refuses the
    // completion, and the workflow task runs again with the request in it.
    if (!busy && !changed && idleLeft <= 0) return;
    const untilCheck = input.checkIntervalMs - (workflowTimeMs() - lastCheck);
    const untilCooled = coolingMs > 0 ? coolingMs : Infinity;
    const timeoutMs = Math.max(1, Math.min(untilCheck, untilCooled, busy ? Infinity : idleLeft));
    setCurrentDetails(lockDetails(state, workflowTimeMs()));
    const reason =
      !busy && idleLeft <= Math.min(untilCheck, untilCooled)
        ? 'idle'
        : untilCooled < untilCheck
          ? 'cooldown'
          : 'holder check';
    await condition(() => changed, timeoutMs, { summary: summaries.lockTimer(state.target, reason, timeoutMs) });
    // Checked on schedule even while signals keep arriving, so a steady stream of requests
    // cannot keep a dead holder in place.
    if (workflowTimeMs() - lastCheck >= input.checkIntervalMs) {
      lastCheck = workflowTimeMs();
      if (state.holder && !(await holderRuns(state.holder.workflowId))) {
        // Before anyone else may move the target, the ledger records how the holder left it.
        const { closing, workflowId } = state.holder;
        if (closing)
          await recordClosedPromotion.executeWithOptions(
            { summary: summaries.recordClosed(closing.record.releaseId, workflowId) },
            [closing],
          );
        state.holder = undefined;
        changed = true;
      }
      // A waiter that closed without saying so (terminated) is no waiter.
      for (const waiter of state.waiters ?? [])
        if (!(await holderRuns(waiter.workflowId))) {
          state.waiters = (state.waiters ?? []).filter((w) => w.workflowId !== waiter.workflowId);
          changed = true;
        }
    }
    if (workflowInfo().continueAsNewSuggested && !changed) {
      await continueAsNew<typeof targetLockWorkflow>({ ...input, state });
    }
  }
}

/**
 * SPEC §9 "Concurrency": the newer promotion supersedes the waiters that announced themselves
 * before it and whose commit its own descends from (git decides, on the source branch); never the
 * holder. Decided here, in the lock's own loop, so no grant can come between the decision and
 * the end of the superseded: each leaves the line and the waiters, and is told by whom.
 */
async function supersedeOlder(state: LockState, newer: WaitingPromotion): Promise<void> {
  const waiters = state.waiters ?? [];
  const at = waiters.findIndex((w) => w.workflowId === newer.workflowId);
  const older = waiters.slice(0, Math.max(0, at)).filter((w) => w.workflowId !== state.holder?.workflowId);
  const superseded: WaitingPromotion[] = [];
  for (const candidate of older) {
    const descends = await descendsOnBranch
      .executeWithOptions({ summary: summaries.supersedeCheck(candidate, newer) }, [
        { repo: newer.repo, branch: newer.fromBranch, ancestor: candidate.commitSha, sha: newer.commitSha },
      ])
      // On doubt (git unreachable) nobody is superseded.
      .catch(() => false);
    if (descends) superseded.push(candidate);
  }
  const ended = new Set(superseded.filter((c) => c.workflowId !== state.holder?.workflowId).map((c) => c.workflowId));
  if (ended.size === 0) return;
  state.waiters = (state.waiters ?? []).filter((w) => !ended.has(w.workflowId));
  state.queue = state.queue.filter((q) => !ended.has(q.workflowId));
  await Promise.all(
    [...ended].map((workflowId) =>
      getExternalWorkflowHandle(workflowId)
        .signal(supersededSignal, { by: newer })
        .catch(() => undefined),
    ),
  );
}

/** Each waiter learns its place and who holds the lock (shown in its status). */
async function tellWaiters(state: LockState): Promise<void> {
  await Promise.all(
    state.queue.map((waiter, index) =>
      getExternalWorkflowHandle(waiter.workflowId)
        .signal(lockPositionSignal, {
          target: state.target,
          position: index + 1,
          holder: state.holder?.workflowId,
          availableAt: availableAt(state),
        })
        .catch(() => undefined),
    ),
  );
}

/**
 * A holder is told once when a rollback waits first in line: a soaking promotion then ends its
 * soak and gives the lock to it (SPEC §9); any other holder finishes what it does first.
 */
async function tellHolderOfRollback(state: LockState): Promise<void> {
  const first = state.queue[0];
  const holder = state.holder;
  if (!holder || first?.priority !== 'rollback') return;
  const told = `${holder.workflowId} ${first.workflowId}`;
  if (state.holderToldOf === told) return;
  state.holderToldOf = told;
  await getExternalWorkflowHandle(holder.workflowId)
    .signal(lockWantedSignal, {
      target: state.target,
      workflowId: first.workflowId,
      releaseId: first.releaseId,
      operator: first.operator,
    })
    .catch(() => undefined);
}

/** When the last holder's spent window ends, while it has not. */
function availableAt(state: LockState): string | undefined {
  if (state.availableAtMs === undefined || state.availableAtMs <= workflowTimeMs()) return undefined;
  return new Date(state.availableAtMs).toISOString();
}

/**
 * The holder runs, or its compensating rollback does (a child that outlives a terminated
 * promotion and works under its lock). When the check itself fails (server busy), the holder is
 * presumed alive: never free a lock on doubt.
 */
async function holderRuns(workflowId: string): Promise<boolean> {
  try {
    const running = (id: string) =>
      isWorkflowRunning.executeWithOptions({ summary: summaries.holderRunning(id) }, [{ workflowId: id }]);
    return (await running(workflowId)) || (await running(rollbackChildId(workflowId)));
  } catch {
    return true;
  }
}
