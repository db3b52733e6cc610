// What a promotion and a rollback are asked to do (SPEC §3 Input, §4) and the plans they run
// from once every setting is resolved. Workflow-safe: zod only, no Node builtins.
import { z } from 'zod';
import { BaseUrl } from './base-url';
import { BranchName, Duration, EnvironmentName, FreeText, HEX_7_40, Identity } from './fields';
import { RepoLocation } from './repo-location';

export const DeployWait = z.strictObject({
  path: z.string().regex(/^\/[A-Za-z0-9._~/-]*$/, 'must be a URL path starting with "/"'),
  field: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'must name a JSON field (dots for nesting)'),
  timeout: Duration,
});

// How long approvers have when the request does not say (SPEC §3 Input): a full day, so a
// promotion started late still reaches the next working day's approvers before it expires.
const DEFAULT_APPROVAL_TIMEOUT = '24h';

export const ApprovalRequest = z.strictObject({
  required: z.boolean().default(false),
  approvers: z.array(Identity).max(100).optional(),
  minApprovals: z.number().int().min(1).max(20).default(1),
  timeout: Duration.prefault(DEFAULT_APPROVAL_TIMEOUT),
});

export const PromotionRequest = z
  .strictObject({
    commitSha: z
      .string()
      .regex(HEX_7_40, 'must be 7–40 hexadecimal characters of a commit sha')
      .transform((sha) => sha.toLowerCase()),
    // Class C is refused as ChangeClassForbidden before this schema runs (workflows/request.ts).
    changeClass: z.enum(['A', 'B'], 'must be "A" or "B" ("C" is forbidden)'),
    operator: Identity,
    environment: EnvironmentName.default('production'),
    repo: RepoLocation.optional(),
    fromBranch: BranchName.optional(),
    toBranch: BranchName.optional(),
    stagingBase: BaseUrl.optional(),
    productionBase: BaseUrl.optional(),
    deployWait: DeployWait.optional(),
    stagingDeployWait: DeployWait.optional(),
    soak: Duration.optional(),
    soakInterval: Duration.optional(),
    optionalGates: z
      .array(z.string().regex(/^[a-z0-9_]{1,64}$/, 'must be gate names like "breaker_drill"'))
      .max(20)
      .default([]),
    expectBudgetBlock: z.boolean().default(false),
    approval: ApprovalRequest.prefault({}),
    acceptDrift: z.boolean().default(false),
    allowDowngrade: z.boolean().default(false),
    releaseId: z
      .string()
      .regex(/^[0-9]{8}-[0-9]{4}-rc[1-9][0-9]{0,5}$/, 'must look like 20261124-2231-rc1')
      .optional(),
    // The one field that loosens a rule (a freeze), and only with the registry's break-glass approvals.
    breakGlass: z
      .strictObject({
        reason: z.string().min(1, 'must say why the freeze must be broken').max(500, 'must be at most 500 characters'),
      })
      .optional(),
    dryRun: z.boolean().default(false),
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
  /** Before the gates, staging must report the commit (or, when the registry allows, a descendant on fromBranch). */
  stagingDeployWait?: { path: string; field: string; timeoutMs: number; acceptDescendant: boolean };
  /** After verification passes, the production checks rerun every intervalMs until durationMs has passed. */
  soak?: { durationMs: number; intervalMs: number };
  stagingGates: string[];
  /** The optional gates the request named (part of stagingGates). */
  optionalGates: string[];
  expectBudgetBlock: boolean;
  approval: { required: boolean; approvers?: string[]; minApprovals: number; timeoutMs: number };
  acceptDrift: boolean;
  allowDowngrade: boolean;
  releaseId?: string;
  /** The environment declares freeze windows: checked before the lock and again before the push (SPEC §9). */
  freeze?: { onFreeze: 'wait' | 'refuse' };
  /** A break-glass request: promote inside a freeze once `minApprovals` of `approvers` (not the operator) approve it. */
  breakGlass?: { reason: string; approvers: string[]; minApprovals: number };
  /** The environment's concurrency is `supersede`: a newer promotion ends older waiting ones (SPEC §9). */
  supersede?: boolean;
  /** Report what would happen: reserve, push and record nothing (SPEC §9). */
  dryRun?: boolean;
  notes?: string;
  rollbackPlan?: string;
  evidenceRefs?: string;
}

const FULL_SHA_FIELD = z
  .string()
  .regex(/^[0-9a-fA-F]{40}$/, 'must be a full 40-hex commit sha')
  .transform((sha) => sha.toLowerCase());

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
  promotionReleaseId: z
    .string()
    .regex(/^[0-9]{8}-[0-9]{4}-rc[1-9][0-9]{0,5}$/, 'must look like 20261124-2231-rc1')
    .optional(),
  releaseId: z
    .string()
    .regex(/^[0-9]{8}-[0-9]{4}-rb[1-9][0-9]{0,5}$/, 'must look like 20261124-2231-rb1')
    .optional(),
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
