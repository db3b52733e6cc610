// Schemas and types of what crosses a boundary: the promotion request, gate results,
// the status a promotion shows. Workflow-safe: zod only, no Node builtins.
import { z } from 'zod';

/** `<n>s`, `<n>m`, `<n>h`, `<n>d` → milliseconds. */
export const Duration = z
  .string()
  .regex(/^[1-9][0-9]{0,6}[smhd]$/, 'must be a duration like "90s", "30m", "24h" or "2d"')
  .transform((text) => {
    const unitMs = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
    const unit = text.slice(-1) as keyof typeof unitMs;
    return Number(text.slice(0, -1)) * unitMs[unit];
  });

const HEX_7_40 = /^[0-9a-fA-F]{7,40}$/;
export const FULL_SHA = /^[0-9a-f]{40}$/;
export const RELEASE_ID = /^[0-9]{8}-[0-9]{4}-(rc|rb)[1-9][0-9]{0,5}$/;

export const Identity = z
  .string()
  .regex(/^[A-Za-z0-9._@-]{1,64}$/, 'must be 1–64 characters of A-Z a-z 0-9 . _ @ -');

export const EnvironmentName = z
  .string()
  .regex(/^[a-z0-9-]{1,40}$/, 'must be 1–40 characters of a-z 0-9 -');

/** A subset of git's check-ref-format rules, strict enough that no name can be read as an option. */
export const BranchName = z
  .string()
  .max(200, 'must be at most 200 characters')
  .regex(/^[A-Za-z0-9_][A-Za-z0-9._/-]*$/, 'must start with a letter, digit or _ and use only A-Z a-z 0-9 . _ / -')
  .refine(
    (name) => !/(\.\.|\/\/|\/\.|@\{|\.lock$|\/$|\.$)/.test(name) && !name.split('/').some((part) => part.startsWith('.')),
    'is not a valid git branch name (no "..", "//", "@{", trailing "/" or ".", ".lock" suffix)',
  );

/**
 * A git remote: a path, file://, https://, ssh:// or scp-style `user@host:path`.
 * Credentials never belong here: they would land in history and the ledger.
 */
export const RepoLocation = z
  .string()
  .min(1, 'must name a git remote')
  .max(500, 'must be at most 500 characters')
  .refine((repo) => !repo.startsWith('-'), 'must not start with "-" (it would be read as a git option)')
  .refine((repo) => !/[\s\0]/.test(repo), 'must not contain whitespace')
  .superRefine((repo, ctx) => {
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(repo)?.[1]?.toLowerCase();
    if (scheme === undefined) {
      // scp-style user@host:path may carry a user name, never a password.
      if (/^[^/:@]+:[^@/]*@/.test(repo)) ctx.addIssue({ code: 'custom', message: 'must not carry a password; name credentials in the git credential helper or SSH agent instead' });
      return;
    }
    if (!['file', 'https', 'http', 'ssh', 'git'].includes(scheme)) {
      ctx.addIssue({ code: 'custom', message: `uses unsupported scheme "${scheme}://" (use a path, file://, https://, ssh:// or user@host:path)` });
      return;
    }
    const userInfo = /^[a-z][a-z0-9+.-]*:\/\/([^/@]*)@/i.exec(repo)?.[1];
    if (userInfo === undefined) return;
    // ssh://git@host is a user name, not a secret; anything with a password, or any
    // user on http(s) (where the "user" is usually a token), is a credential.
    if (userInfo.includes(':') || scheme === 'https' || scheme === 'http') {
      ctx.addIssue({ code: 'custom', message: 'must not carry credentials; configure a git credential helper on the worker instead' });
    }
  });

/** An http(s) base URL without credentials, query or fragment; normalised without a trailing slash. */
export const BaseUrl = z
  .string()
  .max(500, 'must be at most 500 characters')
  .superRefine((text, ctx) => {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be an absolute http(s) URL such as https://staging.example.com' });
      return;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: 'must use http or https' });
    if (url.username || url.password) ctx.addIssue({ code: 'custom', message: 'must not carry user:password; secrets for probes come from the worker config' });
    if (url.search || text.includes('?')) ctx.addIssue({ code: 'custom', message: 'must not have a query string' });
    if (url.hash || text.includes('#')) ctx.addIssue({ code: 'custom', message: 'must not have a fragment' });
  })
  .transform((text) => text.replace(/\/+$/, ''));

export const DeployWait = z.strictObject({
  path: z.string().regex(/^\/[A-Za-z0-9._~/-]*$/, 'must be a URL path starting with "/"'),
  field: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'must name a JSON field (dots for nesting)'),
  timeout: Duration,
});

export const ApprovalRequest = z.strictObject({
  required: z.boolean().default(false),
  approvers: z.array(Identity).max(100).optional(),
  minApprovals: z.number().int().min(1).max(20).default(1),
  timeout: Duration.prefault('24h'),
});

const FreeText = z.string().max(500, 'must be at most 500 characters');

export const PromotionRequest = z
  .strictObject({
    commitSha: z
      .string()
      .regex(HEX_7_40, 'must be 7–40 hexadecimal characters of a commit sha')
      .transform((sha) => sha.toLowerCase()),
    changeClass: z.enum(['A', 'B', 'C'], 'must be "A" or "B" ("C" is forbidden)'),
    operator: Identity,
    environment: EnvironmentName.default('production'),
    repo: RepoLocation.optional(),
    fromBranch: BranchName.optional(),
    toBranch: BranchName.optional(),
    stagingBase: BaseUrl.optional(),
    productionBase: BaseUrl.optional(),
    deployWait: DeployWait.optional(),
    optionalGates: z.array(z.string().regex(/^[a-z0-9_]{1,64}$/, 'must be gate names like "breaker_drill"')).max(20).default([]),
    expectBudgetBlock: z.boolean().default(false),
    approval: ApprovalRequest.prefault({}),
    acceptDrift: z.boolean().default(false),
    allowDowngrade: z.boolean().default(false),
    releaseId: z.string().regex(/^[0-9]{8}-[0-9]{4}-rc[1-9][0-9]{0,5}$/, 'must look like 20261124-2231-rc1').optional(),
    notes: FreeText.optional(),
    rollbackPlan: FreeText.optional(),
    evidenceRefs: FreeText.optional(),
  })
  .refine((req) => req.fromBranch === undefined || req.fromBranch !== req.toBranch, {
    path: ['toBranch'],
    message: 'must differ from fromBranch',
  });
export type PromotionInput = z.input<typeof PromotionRequest>;
export type PromotionRequest = z.infer<typeof PromotionRequest>;

/**
 * The request with every setting resolved (from the request or the environment registry)
 * and the commit resolved to 40 hex: what the rest of the promotion works from.
 */
export interface PromotionPlan {
  commitSha: string;
  changeClass: 'A' | 'B';
  operator: string;
  environment: string;
  repo: string;
  fromBranch: string;
  toBranch: string;
  stagingBase: string;
  /** The service the staging gates spend state of (rate window, budget): one gate run on it at a time. */
  stagingService: string;
  productionBase: string;
  deployWait?: { path: string; field: string; timeoutMs: number };
  stagingGates: string[];
  /** The optional gates the request named (part of stagingGates). */
  optionalGates: string[];
  expectBudgetBlock: boolean;
  approval: { required: boolean; approvers?: string[]; minApprovals: number; timeoutMs: number };
  acceptDrift: boolean;
  allowDowngrade: boolean;
  releaseId?: string;
  notes?: string;
  rollbackPlan?: string;
  evidenceRefs?: string;
}

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
  'waiting_for_lock',
  'promoting',
  'awaiting_deploy',
  'verifying',
  'rolling_back',
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
] as const;
export type Stage = (typeof WORKING_STAGES)[number] | (typeof TERMINAL_STAGES)[number];

export interface ApprovalDecision {
  decision: 'approve' | 'reject';
  approver: string;
  at: string;
  comment?: string;
  reason?: string;
  commitSha?: string;
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
    decisions: ApprovalDecision[];
    ignored: Array<ApprovalDecision & { why: string }>;
  };
  /** The staging service's turn (SPEC §5): who runs its gates now, and this promotion's place in line. */
  stagingTurn?: { service: string } & LockSpot;
  lock?: { target: string } & LockSpot;
  lastKnownGood?: string;
  pushed: boolean;
  /** The push was not a fast-forward (only with allowDowngrade). */
  downgrade?: boolean;
  prodVerification: GateResult[];
  rollback?: { releaseId?: string; workflowId: string; result?: 'completed' | 'partial' };
  drift?: { expected: string; found: string | null; accepted: boolean };
  timeline: Array<{ stage: Stage; at: string }>;
  failure?: { type: string; message: string };
  ledgerChainHead?: string;
}

/** "field: what is wrong" for every issue, naming unknown fields so a typo is never silently dropped. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      if (issue.code === 'unrecognized_keys') {
        const where = issue.path.length ? `${issue.path.join('.')}.` : '';
        return issue.keys.map((key) => `${where}${key}: is not a known setting; remove it or fix its spelling`).join('; ');
      }
      const field = issue.path.join('.') || '(request)';
      return `${field}: ${issue.message}`;
    })
    .join('; ');
}

const FULL_SHA_FIELD = z.string().regex(/^[0-9a-fA-F]{40}$/, 'must be a full 40-hex commit sha').transform((sha) => sha.toLowerCase());

/** rollbackWorkflow's input (SPEC §4). */
export const RollbackRequest = z.strictObject({
  environment: EnvironmentName.default('production'),
  repo: RepoLocation.optional(),
  toBranch: BranchName.optional(),
  fromSha: FULL_SHA_FIELD,
  toSha: FULL_SHA_FIELD,
  productionBase: BaseUrl.optional(),
  trigger: z.string().min(1, 'must say why (e.g. "5xx spike")').max(500, 'must be at most 500 characters'),
  operator: Identity,
  promotionReleaseId: z.string().regex(/^[0-9]{8}-[0-9]{4}-rc[1-9][0-9]{0,5}$/, 'must look like 20261124-2231-rc1').optional(),
  releaseId: z.string().regex(/^[0-9]{8}-[0-9]{4}-rb[1-9][0-9]{0,5}$/, 'must look like 20261124-2231-rb1').optional(),
});
export type RollbackInput = z.input<typeof RollbackRequest>;
export type RollbackRequest = z.infer<typeof RollbackRequest>;

export interface RollbackPlan {
  environment: string;
  repo: string;
  toBranch: string;
  fromSha: string;
  toSha: string;
  productionBase: string;
  trigger: string;
  operator: string;
  promotionReleaseId?: string;
  releaseId?: string;
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
  failure?: { type: string; message: string };
  ledgerChainHead?: string;
}

// Approval decisions (SPEC §3 "Approval"): payloads of the approve/reject signals and the decide update.
const OptionalSha = z.string().regex(HEX_7_40, 'must be 7–40 hexadecimal characters of the commit sha').optional();
export const ApproveDecision = z.strictObject({ approver: Identity, comment: FreeText.optional(), commitSha: OptionalSha });
export type ApproveDecision = z.infer<typeof ApproveDecision>;
export const RejectDecision = z.strictObject({ approver: Identity, reason: z.string().min(1, 'must say why').max(500, 'must be at most 500 characters'), commitSha: OptionalSha });
export type RejectDecision = z.infer<typeof RejectDecision>;
export const DecideInput = z
  .strictObject({
    decision: z.enum(['approve', 'reject'], 'must be "approve" or "reject"'),
    approver: Identity,
    comment: FreeText.optional(),
    reason: z.string().min(1).max(500, 'must be at most 500 characters').optional(),
    commitSha: OptionalSha,
  })
  .refine((d) => d.decision !== 'reject' || d.reason !== undefined, { path: ['reason'], message: 'is required to reject' });
export type DecideInput = z.infer<typeof DecideInput>;

export interface DecideResult {
  counted: boolean;
  why?: string;
  approval: PromotionStatus['approval'];
}
