// What a promotion and a rollback show while they run and when they end: the stages, gate
// results, lock places and the status objects (the `status` query, the failure's details[0]).
// Workflow-safe: types and constants only.
import type { ApprovalDecision } from './approval-decision';

export interface GateResult {
  name: string;
  target: string;
  pass: boolean;
  status?: number;
  latencyMs: number;
  attempts: number;
  detail: string;
  /** Burst gates: how many answers of each status class. */
  counts?: Record<string, number>;
  /** The target throttled this probe (429, not a budget block) this often before its verdict, and it waited this long. */
  throttled?: { count: number; waitedMs: number };
  /** Burst gates: the longest wait the 429s asked for (Retry-After, RateLimit), when any said. */
  rateLimitResetMs?: number;
}

export const WORKING_STAGES = [
  'validating',
  'waiting_for_staging',
  'staging_gates',
  'awaiting_approval',
  'frozen',
  'waiting_for_lock',
  'promoting',
  'awaiting_deploy',
  'verifying',
  'soaking',
  'rolling_back',
  'recording',
] as const;
export const TERMINAL_STAGES = [
  'promoted',
  'invalid',
  'gates_failed',
  'rejected',
  'approval_expired',
  'drifted',
  'refused',
  'rolled_back',
  'rollback_partial',
  'cancelled',
  'failed',
  'superseded',
  'dry_run',
] as const;
export type Stage = (typeof WORKING_STAGES)[number] | (typeof TERMINAL_STAGES)[number];

/** A freeze window as a promotion meets it: why, which rule, from when until when (ISO, UTC). */
export interface ActiveFreezeShown {
  reason: string;
  rule: string;
  startedAt: string;
  endsAt: string;
}

/** A place in a lock's line: `holder` runs now (this workflow, once granted); `availableAt`: the holder's spent window ends. */
export interface LockSpot {
  position?: number;
  holder?: string;
  availableAt?: string;
}

/** Where a promotion or rollback is, and when it got to each stage. */
export interface StageTrack {
  stage: Stage;
  timeline: Array<{ stage: Stage; at: string }>;
  /** The last ledger entry could not be written yet and is being retried (stage `recording`). */
  recording?: { since: string; error: string };
}

export interface PromotionStatus {
  workflowId: string;
  releaseId?: string;
  stage: Stage;
  commitSha: string;
  changeClass: string;
  environment: string;
  operator: string;
  gates: GateResult[];
  approval: {
    required: boolean;
    state: 'not_required' | 'pending' | 'approved' | 'rejected' | 'expired';
    minApprovals: number;
    approvers?: string[];
    /** When the approval expires (workflow time, ISO), while it is pending. */
    deadline?: string;
    decisions: ApprovalDecision[];
    /** The latest ignored decisions (at most IGNORED_KEPT), each with why. */
    ignored: Array<ApprovalDecision & { why: string }>;
    /** How many decisions were ignored in all (older ones are no longer listed). */
    ignoredCount?: number;
  };
  /**
   * A break-glass request's own approval (SPEC §9): the registry's breakGlassApprovers, their
   * minimum, the break-glass decisions counted and ignored. Only these override a freeze.
   */
  breakGlass?: PromotionStatus['approval'] & { reason: string };
  /**
   * Freeze windows met (SPEC §9): the freeze in force now (while `frozen`), the last one met, when
   * this promotion began waiting in one, and whether break-glass approvals overrode it.
   */
  freeze?: {
    active?: ActiveFreezeShown;
    met?: ActiveFreezeShown;
    waitingSince?: string;
    /** When the wait gives up (the approval timeout after it began), while frozen. */
    deadline?: string;
    overridden?: boolean;
  };
  /** The staging service's turn (SPEC §5): who runs its gates now, and this promotion's place in line. */
  stagingTurn?: { service: string } & LockSpot;
  lock?: { target: string } & LockSpot;
  /**
   * The tip the push replaced: SPEC §3 step 6's previous tip, what an automatic rollback restores
   * (named before that term; not section 6's last known good). Set by promoteCommit.
   */
  lastKnownGood?: string;
  pushed: boolean;
  /**
   * The deploy wait (with `deployWait`), while and after production was polled: when it gives up
   * (workflow time, ISO), what production reported last (null: no value), when it reads next.
   */
  deployWait?: { deadline: string; lastSeen?: string | null; nextReadAt?: string };
  /** The staging deploy wait (with `stagingDeployWait`), shown alike; `descendant`: staging runs a descendant of the commit. */
  stagingDeployWait?: { deadline: string; lastSeen?: string | null; nextReadAt?: string; descendant?: boolean };
  /** The push was not a fast-forward (only with allowDowngrade). */
  downgrade?: boolean;
  prodVerification: GateResult[];
  /**
   * The soak (with `soak`), from when verification passed: until when (workflow time), how long
   * is left as of the last run, its runs so far and how many failed (the first failure ends it),
   * the failing run's results, and the manual rollback that ended it early, if one did.
   */
  soak?: {
    endsAt: string;
    durationMs: number;
    intervalMs: number;
    leftMs: number;
    runs: number;
    failures: number;
    nextRunAt?: string;
    failedRun?: GateResult[];
    endedBy?: { workflowId: string; releaseId?: string; operator?: string };
  };
  /** No workflowId: nothing was started, the branch did not exist before this promotion. */
  rollback?: { releaseId?: string; workflowId?: string; result?: 'completed' | 'partial' };
  drift?: { expected: string; found: string | null; accepted: boolean };
  timeline: Array<{ stage: Stage; at: string }>;
  recording?: StageTrack['recording'];
  failure?: { type: string; message: string };
  ledgerChainHead?: string;
  /** The newer promotion that superseded this one (stage `superseded`). */
  supersededBy?: { releaseId?: string; operator: string; commitSha: string };
  /** A dry run's report, once it is done (stage `dry_run`). */
  dryRun?: DryRunReport;
}

/**
 * What a promotion would do (SPEC §9 "Dry run"), worked out without reserving, pushing or
 * recording anything: each verdict as data, and `wouldEnd`, the first ending a real promotion
 * would meet (none: it would be promoted, once approved where approval is required).
 */
export interface DryRunReport {
  stage: 'dry_run';
  workflowId: string;
  commitSha: string;
  environment: string;
  operator: string;
  changeClass: string;
  target: string;
  gates: GateResult[];
  approval: { required: boolean; approvers?: string[]; minApprovals: number; timeoutMs: number };
  /** With stagingDeployWait: what staging reports now, and whether that is the commit (or a descendant it accepts). */
  staging?: { reported: string | null; runsCommit: boolean };
  lock: { holder?: string; queue: string[] };
  /** The branch now, and the ledger's last tip for the target (drift reference), when it has one. */
  tip: string | null;
  drift: { expected?: string; found: string | null; verdict: 'no reference' | 'none' | 'refused' | 'accepted' };
  downgrade: 'fast-forward' | 'already there' | 'new branch' | 'refused' | 'allowed';
  /** The freeze in force at the report's workflow time, if any. */
  freeze?: ActiveFreezeShown;
  wouldEnd?: { type: string; message: string };
  /** One line per verdict, as the CLI prints them. */
  verdicts: string[];
}

export interface RollbackStatus {
  workflowId: string;
  releaseId?: string;
  stage: Stage;
  environment: string;
  fromSha: string;
  toSha: string;
  trigger: string;
  operator: string;
  promotionReleaseId?: string;
  /** The branch is back on toSha (moved now, or already there). */
  branchRestored: boolean;
  actions: string[];
  verification: GateResult[];
  result?: 'completed' | 'partial';
  lock?: { target: string } & LockSpot;
  timeline: Array<{ stage: Stage; at: string }>;
  recording?: StageTrack['recording'];
  failure?: { type: string; message: string };
  ledgerChainHead?: string;
}

/** The decide update's answer: whether the decision counted, why not, and the approval now. */
export interface DecideResult {
  counted: boolean;
  why?: string;
  approval: PromotionStatus['approval'];
}
