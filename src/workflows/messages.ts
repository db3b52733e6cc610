// Signals, updates, queries and search attributes: the promotion's public surface.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { PromotionRecord } from '../ledger/entry';
import type {
  ApproveDecision,
  DecideInput,
  DecideResult,
  PromotionStatus,
  RejectDecision,
  RollbackStatus,
} from '../domain';

export const statusQuery = defineQuery<PromotionStatus>('status');

export const ReleaseIdKey = defineSearchAttributeKey('ReleaseId', SearchAttributeType.KEYWORD);
export const ReleaseStageKey = defineSearchAttributeKey('ReleaseStage', SearchAttributeType.KEYWORD);
export const CommitShaKey = defineSearchAttributeKey('CommitSha', SearchAttributeType.KEYWORD);
export const ChangeClassKey = defineSearchAttributeKey('ChangeClass', SearchAttributeType.KEYWORD);
export const ReleaseEnvironmentKey = defineSearchAttributeKey('ReleaseEnvironment', SearchAttributeType.KEYWORD);

/** Every search attribute the workflows upsert; the worker refuses to start without them. */
export const SEARCH_ATTRIBUTE_KEYS = [
  ReleaseIdKey,
  ReleaseStageKey,
  CommitShaKey,
  ChangeClassKey,
  ReleaseEnvironmentKey,
];

/** The same query name as a promotion's, so `temporal workflow query --type status` works on both. */
export const rollbackStatusQuery = defineQuery<RollbackStatus>('status');

// Approval: signals for fire-and-forget (they reach the workflow even with no worker up), the
// update for an immediate answer on whether the decision counted.
export const approveSignal = defineSignal<[ApproveDecision]>('approve');
export const rejectSignal = defineSignal<[RejectDecision]>('reject');
export const decideUpdate = defineUpdate<DecideResult, [DecideInput]>('decide');

// The target lock (see lock.ts).
/**
 * The entry a promotion would write if it ended now: the lock writes it (with the tip it finds)
 * when the holder's workflow closes without writing its own, so no push goes unrecorded.
 */
export interface ClosingEntry {
  record: PromotionRecord;
  repo: string;
  branch: string;
}
/** Who asks for a lock, as a soaking holder names it when it gives way (a manual rollback's id and operator). */
export interface LockRequester {
  releaseId?: string;
  operator?: string;
}
export interface LockRequest extends LockRequester {
  workflowId: string;
  priority: 'rollback' | 'promotion';
  requestedAt?: string;
  closing?: ClosingEntry;
}
export interface LockState {
  target: string;
  holder?: { workflowId: string; token: number; since: string; closing?: ClosingEntry };
  queue: LockRequest[];
  nextToken: number;
  /** Workflow time (ms) before which nobody is granted: the last holder's spent rate window. */
  availableAtMs?: number;
  /** The rollback the holder was last told waits first in line (told once per holder and rollback). */
  holderToldOf?: string;
  /**
   * Promotions of a `supersede` environment whose staging gates passed and that have not pushed:
   * waiting for approval, in a freeze or for the lock (SPEC §9 "Concurrency"), in the order they
   * announced themselves. A newer one's announcement supersedes the older ones it descends from.
   */
  waiters?: WaitingPromotion[];
}
/** A promotion that waits to push, as its target's lock knows it (for superseding). */
export interface WaitingPromotion {
  workflowId: string;
  releaseId?: string;
  operator: string;
  commitSha: string;
  /** Where the commit's ancestry is read (the source branch holds every waiter's commit). */
  repo: string;
  fromBranch: string;
}
export const waitingPromotionSignal = defineSignal<[WaitingPromotion]>('waitingPromotion');
/** To a waiting promotion: a newer one (its commit a descendant of this one's) supersedes it. */
export const supersededSignal = defineSignal<[{ by: WaitingPromotion }]>('superseded');
export const acquireLockSignal = defineSignal<[LockRequest]>('acquireLock');
/** `cooldownMs`: the next holder may start only this long after the release (a staging service's spent window). */
export const releaseLockSignal =
  defineSignal<[{ workflowId: string; token?: number; cooldownMs?: number }]>('releaseLock');
export const lockGrantedSignal = defineSignal<[{ target: string; token: number }]>('lockGranted');
export const lockPositionSignal =
  defineSignal<[{ target: string; position: number; holder?: string; availableAt?: string }]>('lockPosition');
/** To the holder: a manual rollback waits first in line (a soaking promotion gives way to it at once). */
export const lockWantedSignal = defineSignal<[{ target: string; workflowId: string } & LockRequester]>('lockWanted');
export const lockStateQuery = defineQuery<LockState>('lockState');

/**
 * What each handler does, as the Temporal UI and `temporal workflow metadata` show it (the
 * `description` of setHandler).
 */
export const HANDLER_DESCRIPTIONS = {
  status:
    'The promotion now: stage, gate results, approval (who may approve, how many, deadline), lock place, push, verification, rollback, failure. `temporal workflow query --type status`.',
  rollbackStatus:
    'The rollback now: stage, from/to commit, branch restored, actions, production checks, result, failure.',
  approve:
    'Approve this promotion: {"approver":"<you>","comment":"…","commitSha":"<sha, optional>"}. Counts once per approver, not from the operator, only while approval is pending; ignored decisions stay in the status with why.',
  reject:
    'Reject this promotion (the operator\'s own reject withdraws it): {"approver":"<you>","reason":"…","commitSha":"<sha, optional>"}. One counted reject ends it as rejected.',
  decide:
    'Approve or reject and learn at once whether it counted: {"decision":"approve"|"reject","approver":"<you>","reason":"… (to reject)","commitSha":"<optional>"}. Answers { counted, why?, approval }.',
  lockGranted: 'Internal: a lock workflow grants this workflow the lock it asked for (target, token).',
  lockPosition: "Internal: a lock workflow reports this workflow's place in its line and the holder.",
  lockWanted:
    'Internal: a lock workflow tells its holder that a manual rollback waits (a soaking promotion ends its soak for it).',
  acquireLock: 'Internal: a promotion or rollback asks for this lock (rollbacks go ahead of waiting promotions).',
  releaseLock: 'Internal: the holder gives the lock back (optionally with a cooldown), or a waiter leaves the line.',
  waitingPromotion:
    'Internal: a promotion of a supersede environment whose gates passed waits to push; it supersedes the older waiters its commit descends from.',
  superseded: 'Internal: the target lock tells a waiting promotion that a newer one supersedes it.',
  lockState: 'The lock now: target, holder (since when), the line of waiting workflows.',
} as const;

/** The compensating rollback of a promotion: one per promotion, found by name (the lock checks it). */
export function rollbackChildId(promotionWorkflowId: string): string {
  return `${promotionWorkflowId}-rollback`;
}

/** One lock workflow per target; the id names the target so operators can find it. */
export function lockWorkflowId(repo: string, branch: string): string {
  return `release-lock:${branch}@${repo}`;
}

/** One lock workflow per staging service: whose gates run on it now, and who waits. */
export function stagingTurnWorkflowId(service: string): string {
  return `staging-turn:${service}`;
}
