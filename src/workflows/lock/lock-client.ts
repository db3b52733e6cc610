// The lock client: taking and giving back locks from inside a promotion or a manual rollback. A
// target's lock (repo + release branch) and a staging service's turn are the same lock workflow (lock-workflow.ts).
import {
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { LockSpot } from '../../domain';
import { localActivities } from '../activity-proxies';
import { refreshDetails } from '../current-details';
import {
  ClosingEntry,
  HANDLER_DESCRIPTIONS,
  lockGrantedSignal,
  lockPositionSignal,
  LockRequester,
  lockWantedSignal,
  lockWorkflowId,
  releaseLockSignal,
} from '../messages';
import { summaries } from '../summaries';

const { requestTargetLock } = localActivities;

export interface Lock {
  /**
   * Joins the queue and waits (cancellably) for the grant; `show` gets the place in line
   * meanwhile. `closing` is the entry the lock writes should this workflow close while holding it.
   * `wait` replaces `condition` (a promotion's waits may continue as new).
   */
  acquire(
    priority: 'rollback' | 'promotion',
    closing?: ClosingEntry,
    wait?: (done: () => boolean) => Promise<unknown>,
    requester?: LockRequester,
  ): Promise<void>;
  /** This workflow holds the lock now. */
  held(): boolean;
  /** While held: the manual rollback the lock says waits first in line, if one does. */
  wantedBy(): RollbackWaiting | undefined;
  /**
   * Gives the lock back, or leaves the queue; safe to call when nothing was requested, and
   * after cancellation. `cooldownMs` holds the next holder back that long (a spent rate window).
   * Awaited on purpose: the server drops a signal whose sender has closed by the time it is
   * delivered, so a workflow must not end in the task that sends it.
   */
  release(handover?: { cooldownMs?: number }): Promise<void>;
}

/** A manual rollback waiting for a lock this workflow holds. */
export type RollbackWaiting = { workflowId: string } & LockRequester;

/** The locks a run requested or holds, handed to the next run when it continues as new. */
export type LockSnapshot = Record<string, { token?: number; wantedBy?: RollbackWaiting }>;

export interface Locks {
  /** A lock this workflow may take: `lockWorkflowId` serves `target`; `show` renders the place in line in the status. */
  lock(lockWorkflowId: string, target: string, show: (spot: LockSpot) => void): Lock;
  /**
   * The next run (continue-as-new, same workflow id) takes over every request and grant: from
   * here on `release` gives nothing back.
   */
  handOver(): LockSnapshot;
}

/**
 * Registers the grant and position signals for every lock this workflow takes (call before the
 * first await). `carried`: what the previous run of this workflow requested or held.
 */
export function registerLocks(carried: LockSnapshot = {}): Locks {
  // Grants and positions name their target, so one pair of handlers serves every lock.
  const requested = new Map<string, { token?: number; wantedBy?: RollbackWaiting; show: (spot: LockSpot) => void }>(
    Object.entries(carried).map(([target, { token, wantedBy }]) => [
      target,
      { token, wantedBy, show: () => undefined },
    ]),
  );
  let handedOver = false;
  setHandler(
    lockGrantedSignal,
    (grant) => {
      const request = requested.get(grant.target);
      if (request && request.token === undefined) request.token = grant.token;
    },
    { description: HANDLER_DESCRIPTIONS.lockGranted },
  );
  setHandler(
    lockPositionSignal,
    ({ target, position, holder, availableAt }) => {
      const request = requested.get(target);
      if (request && request.token === undefined) request.show({ position, holder, availableAt });
    },
    { description: HANDLER_DESCRIPTIONS.lockPosition },
  );
  setHandler(
    lockWantedSignal,
    ({ target, ...waiting }) => {
      const request = requested.get(target);
      if (request?.token !== undefined) request.wantedBy = waiting;
    },
    { description: HANDLER_DESCRIPTIONS.lockWanted },
  );
  return {
    handOver() {
      handedOver = true;
      return Object.fromEntries([...requested].map(([target, { token, wantedBy }]) => [target, { token, wantedBy }]));
    },
    lock(lockWorkflowId, target, show) {
      const self = workflowInfo().workflowId;
      const carriedRequest = requested.get(target);
      if (carriedRequest) carriedRequest.show = show;
      return {
        async acquire(priority, closing, wait = condition, requester = {}) {
          // A run that continues a previous one may already hold the lock, or wait in its line.
          const request: { token?: number; show: typeof show } = requested.get(target) ?? { show };
          requested.set(target, request);
          if (request.token === undefined) {
            show({});
            // Asking again is safe: the lock ignores a second request from the same workflow.
            await requestTargetLock.executeWithOptions({ summary: summaries.requestLock(target) }, [
              { lockWorkflowId, target, workflowId: self, priority, closing, ...requester },
            ]);
            await wait(() => request.token !== undefined);
          }
          show({ holder: self });
        },
        held: () => requested.get(target)?.token !== undefined,
        wantedBy: () => {
          const request = requested.get(target);
          return request?.token === undefined ? undefined : request.wantedBy;
        },
        async release(handover = {}) {
          const request = requested.get(target);
          if (!request || handedOver) return;
          requested.delete(target);
          try {
            await CancellationScope.nonCancellable(() =>
              getExternalWorkflowHandle(lockWorkflowId).signal(releaseLockSignal, {
                workflowId: workflowInfo().workflowId,
                token: request.token,
                cooldownMs: handover.cooldownMs,
              }),
            );
          } catch {
            // The lock workflow is gone; its next holder check would have freed us anyway.
          }
        },
      };
    },
  };
}

/** The target's lock (repo + release branch: one promotion or rollback moves it at a time), shown as `view.lock`. */
export function targetLock(
  locks: Locks,
  target: { repo: string; branch: string },
  view: { lock?: { target: string } & LockSpot },
): Lock {
  const name = `${target.repo}#${target.branch}`;
  return locks.lock(lockWorkflowId(target.repo, target.branch), name, (spot) => {
    view.lock = { target: name, ...spot };
    refreshDetails(view);
  });
}
