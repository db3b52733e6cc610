// Taking and giving back a target's lock from inside a promotion or a manual rollback.
import { CancellationScope, condition, getExternalWorkflowHandle, setHandler, workflowInfo } from '@temporalio/workflow';
import { localActivities } from './activity-proxies';
import { lockGrantedSignal, lockPositionSignal, lockWorkflowId, releaseLockSignal } from './messages';

const { requestTargetLock } = localActivities;

export interface LockView {
  lock?: { target: string; position?: number; holder?: string };
}

export interface TargetLock {
  /** Joins the queue and waits (cancellably) for the grant; `view.lock` shows position and holder meanwhile. */
  acquire(target: { repo: string; branch: string }, priority: 'rollback' | 'promotion'): Promise<void>;
  /**
   * Gives the lock back, or leaves the queue; safe to call when nothing was requested, and
   * after cancellation. Awaited on purpose: the server drops a signal whose sender has closed
   * by the time it is delivered, so a workflow must not end in the task that sends it.
   */
  release(): Promise<void>;
}

/** Registers the grant and position signals (call before the first await). */
export function registerTargetLock(view: LockView): TargetLock {
  let requested: { lockId: string; target: string } | undefined;
  let token: number | undefined;
  setHandler(lockGrantedSignal, (grant) => {
    if (requested && grant.target === requested.target) token = grant.token;
  });
  setHandler(lockPositionSignal, (p) => {
    if (requested && p.target === requested.target && token === undefined) view.lock = { target: p.target, position: p.position, holder: p.holder };
  });
  return {
    async acquire({ repo, branch }, priority) {
      const target = `${repo}#${branch}`;
      requested = { lockId: lockWorkflowId(repo, branch), target };
      view.lock = { target };
      const self = workflowInfo().workflowId;
      await requestTargetLock({ lockWorkflowId: requested.lockId, target, workflowId: self, priority });
      await condition(() => token !== undefined);
      view.lock = { target, holder: self };
    },
    async release() {
      if (!requested) return;
      const lockId = requested.lockId;
      requested = undefined;
      try {
        await CancellationScope.nonCancellable(() => getExternalWorkflowHandle(lockId).signal(releaseLockSignal, { workflowId: workflowInfo().workflowId, token }));
      } catch {
        // The lock workflow is gone; its next holder check would have freed us anyway.
      }
    },
  };
}
