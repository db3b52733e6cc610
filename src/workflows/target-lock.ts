// Taking and giving back locks from inside a promotion or a manual rollback: a target's lock
// (repo + release branch) and a staging service's turn are the same lock workflow (lock.ts).
import { CancellationScope, condition, getExternalWorkflowHandle, setHandler, workflowInfo } from '@temporalio/workflow';
import type { LockSpot } from '../domain';
import { localActivities } from './activity-proxies';
import { lockGrantedSignal, lockPositionSignal, lockWorkflowId, releaseLockSignal } from './messages';

const { requestTargetLock } = localActivities;

export interface Lock {
  /** Joins the queue and waits (cancellably) for the grant; `show` gets the place in line meanwhile. */
  acquire(priority: 'rollback' | 'promotion'): Promise<void>;
  /**
   * Gives the lock back, or leaves the queue; safe to call when nothing was requested, and
   * after cancellation. `cooldownMs` holds the next holder back that long (a spent rate window).
   * Awaited on purpose: the server drops a signal whose sender has closed by the time it is
   * delivered, so a workflow must not end in the task that sends it.
   */
  release(handover?: { cooldownMs?: number }): Promise<void>;
}

export interface Locks {
  /** A lock this workflow may take: `lockWorkflowId` serves `target`; `show` renders the place in line in the status. */
  lock(lockWorkflowId: string, target: string, show: (spot: LockSpot) => void): Lock;
}

/** Registers the grant and position signals for every lock this workflow takes (call before the first await). */
export function registerLocks(): Locks {
  // Grants and positions name their target, so one pair of handlers serves every lock.
  const requested = new Map<string, { token?: number; show: (spot: LockSpot) => void }>();
  setHandler(lockGrantedSignal, (grant) => {
    const request = requested.get(grant.target);
    if (request && request.token === undefined) request.token = grant.token;
  });
  setHandler(lockPositionSignal, ({ target, position, holder, availableAt }) => {
    const request = requested.get(target);
    if (request && request.token === undefined) request.show({ position, holder, availableAt });
  });
  return {
    lock(lockWorkflowId, target, show) {
      return {
        async acquire(priority) {
          const request: { token?: number; show: typeof show } = { show };
          requested.set(target, request);
          show({});
          const self = workflowInfo().workflowId;
          await requestTargetLock({ lockWorkflowId, target, workflowId: self, priority });
          await condition(() => request.token !== undefined);
          show({ holder: self });
        },
        async release(handover = {}) {
          const request = requested.get(target);
          if (!request) return;
          requested.delete(target);
          try {
            await CancellationScope.nonCancellable(() =>
              getExternalWorkflowHandle(lockWorkflowId).signal(releaseLockSignal, { workflowId: workflowInfo().workflowId, token: request.token, cooldownMs: handover.cooldownMs }),
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
export function targetLock(locks: Locks, target: { repo: string; branch: string }, view: { lock?: { target: string } & LockSpot }): Lock {
  const name = `${target.repo}#${target.branch}`;
  return locks.lock(lockWorkflowId(target.repo, target.branch), name, (spot) => (view.lock = { target: name, ...spot }));
}
