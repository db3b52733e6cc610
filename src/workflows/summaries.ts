// What the Temporal UI and CLI show of a release (issue 16): the start metadata (static summary and
// details of a promotion, a rollback, a lock), the current details each workflow keeps up to date
// (the stage and what it waits for), and the summaries of its activities and timers. Pure and
// workflow-safe (types, redact): the CLI and the activities may import it too.
//
// Limits: the server caps a summary's serialized payload at 400 bytes and details at 20 KB
// (limit.userMetadataSummarySize / limit.userMetadataDetailsSize); a command over them fails the
// workflow task. So every summary is one line of at most SUMMARY_BYTES, every text redacted.
import { durationText } from '../domain';
import type { GateResult, PromotionPlan, PromotionStatus, RollbackPlan, RollbackStatus, Stage } from '../domain';
import { redact } from '../redact';
import type { LockState } from './messages';

/** The lock workflows' type: a target's lock and a staging service's turn. */
export const LOCK_WORKFLOW_TYPE = 'targetLockWorkflow';
/** The Temporal UI's list filter (or `temporal workflow list --query`) without the lock workflows. */
export const WITHOUT_LOCKS_QUERY = `WorkflowType != '${LOCK_WORKFLOW_TYPE}'`;

/** Raw UTF-8 bytes of a summary: JSON quoting stays well inside the server's 400. */
export const SUMMARY_BYTES = 300;
const DETAILS_BYTES = 8_000;

export interface StartMetadata {
  staticSummary: string;
  staticDetails: string;
}

// ---- text helpers ---------------------------------------------------------------------------

/** `s` cut to at most `max` UTF-8 bytes, on a code-point boundary, with "…" when cut. */
export function clampBytes(s: string, max: number): string {
  let bytes = 0;
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number;
    const size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes + size > max) {
      // Room for "…" (3 bytes): drop characters until it fits.
      while (out && bytes + 3 > max) {
        const last = [...out].pop() as string;
        out = out.slice(0, -last.length);
        const lcp = last.codePointAt(0) as number;
        bytes -= lcp < 0x80 ? 1 : lcp < 0x800 ? 2 : lcp < 0x10000 ? 3 : 4;
      }
      return `${out}…`;
    }
    bytes += size;
    out += ch;
  }
  return out;
}

/** One line of caller-influenced text: redacted, control and line-breaking characters as spaces. */
function line(s: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what must go
  return redact(s).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ');
}

/** A value as inline markdown code (no backtick can close it early). */
function code(s: string | undefined): string {
  return `\`${line(s ?? '').replace(/`/g, "'")}\``;
}

/** Free text in markdown: one line, markdown's active characters escaped. */
function prose(s: string): string {
  return line(s).replace(/([\\`*_[\]<#|~])/g, '\\$1');
}

function summary(s: string): string {
  return clampBytes(line(s), SUMMARY_BYTES);
}

/** The short sha people read (7 hex), or the text as given when it is not a sha. */
export function sha7(sha: string | undefined): string {
  if (!sha) return '(no commit)';
  return /^[0-9a-fA-F]{7,40}$/.test(sha) ? sha.slice(0, 7).toLowerCase() : clampBytes(line(sha), 40);
}

/** A repo or URL without credentials: redact masks `user:pass@` and tokens. */
function repoText(repo: string | undefined, fallback = 'from the environment registry'): string {
  return repo ? code(repo) : fallback;
}

function list(items: string[]): string {
  return items.map((i) => `- ${i}`).join('\n');
}

function when(iso: string | undefined): string {
  return iso ? `${code(iso)} (workflow time)` : '(not known yet)';
}

const human = durationText;

function duration(d: string | number | undefined, fallback: string): string {
  if (d === undefined) return fallback;
  return typeof d === 'number' ? human(d) : prose(d);
}

function isoOf(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}

// ---- start metadata (static summary and details) ------------------------------------------

/** The promotion request fields the start metadata reads (any may be missing or not yet valid). */
export interface PromotionStartFields {
  commitSha?: string;
  changeClass?: string;
  operator?: string;
  environment?: string;
  repo?: string;
  fromBranch?: string;
  toBranch?: string;
  stagingBase?: string;
  productionBase?: string;
  releaseId?: string;
  /** Durations as the caller wrote them (`"24h"`) or parsed (milliseconds): the raw or the parsed request. */
  approval?: { required?: boolean; approvers?: string[]; minApprovals?: number; timeout?: string | number };
  deployWait?: { path?: string; field?: string; timeout?: string | number };
  acceptDrift?: boolean;
  allowDowngrade?: boolean;
}

function promotionHeadline(sha: string | undefined, environment: string | undefined, changeClass?: string): string {
  return `promote ${sha7(sha)} to ${environment || 'production'}${changeClass ? ` (class ${changeClass})` : ''}`;
}

/** For the client's `workflow.start` of promotionWorkflow: `{ ...promotionStartMetadata(request) }`. */
export function promotionStartMetadata(request: PromotionStartFields): StartMetadata {
  const from = request.fromBranch ?? (request.repo ? 'main' : undefined);
  const to = request.toBranch ?? (request.repo ? 'release' : undefined);
  const approval = request.approval;
  const needsApproval = request.changeClass === 'B' || approval?.required === true;
  const details = [
    `**Promotion** of commit ${code(request.commitSha)} to **${prose(request.environment || 'production')}**, change class ${prose(request.changeClass ?? '?')}, started by ${code(request.operator)}`,
    '',
    list([
      `branches: ${from ? code(from) : 'from the registry'} → ${to ? code(to) : 'from the registry'}`,
      `repo: ${repoText(request.repo)}`,
      `staging: ${repoText(request.stagingBase)}; production: ${repoText(request.productionBase)}`,
      `approval: ${needsApproval ? `required (${approval?.minApprovals ?? 1} of ${approval?.approvers?.length ? approval.approvers.map(code).join(', ') : 'any approver'}, within ${duration(approval?.timeout, '24h')})` : 'per the environment policy (class A)'}`,
      ...(request.deployWait
        ? [
            `deploy wait: production ${code(request.deployWait.path)} field ${code(request.deployWait.field)}, ${duration(request.deployWait.timeout, '?')}`,
          ]
        : []),
      ...(request.releaseId ? [`release id: ${code(request.releaseId)}`] : []),
      ...(request.acceptDrift ? ['accepts drift of the release branch (recorded)'] : []),
      ...(request.allowDowngrade ? ['allows a downgrade (recorded)'] : []),
    ]),
    '',
    "The current stage and what it waits for: the workflow's current details (Temporal UI), `temporal workflow metadata`, or `temporal workflow query --type status`.",
  ].join('\n');
  return {
    staticSummary: summary(
      `${promotionHeadline(request.commitSha, request.environment, request.changeClass)}${from && to ? `, ${from} → ${to}` : ''}`,
    ),
    staticDetails: clampBytes(details, DETAILS_BYTES),
  };
}

/** The rollback request fields the start metadata reads. */
export interface RollbackStartFields {
  environment?: string;
  repo?: string;
  toBranch?: string;
  fromSha?: string;
  toSha?: string;
  productionBase?: string;
  trigger?: string;
  operator?: string;
  promotionReleaseId?: string;
}

/** For a rollbackWorkflow's start (the promotion's child, or `workflow.start` by hand). */
export function rollbackStartMetadata(request: RollbackStartFields): StartMetadata {
  const branch = request.toBranch ?? (request.repo ? 'release' : undefined);
  const details = [
    `**Rollback** of ${branch ? code(branch) : 'the release branch'} in **${prose(request.environment || 'production')}** from ${code(request.fromSha)} back to ${code(request.toSha)}${request.operator ? `, by ${code(request.operator)}` : ''}`,
    '',
    list([
      `why: ${prose(request.trigger ?? '(not given)')}`,
      `repo: ${repoText(request.repo)}`,
      `production: ${repoText(request.productionBase)}`,
      request.promotionReleaseId
        ? `compensates promotion ${code(request.promotionReleaseId)}`
        : 'started by hand: takes the target lock ahead of waiting promotions',
    ]),
  ].join('\n');
  return {
    staticSummary: summary(
      `roll back ${request.environment || 'production'}: ${branch ?? 'release'} ${sha7(request.fromSha)} → ${sha7(request.toSha)}${request.promotionReleaseId ? ` (promotion ${request.promotionReleaseId})` : ''}`,
    ),
    staticDetails: clampBytes(details, DETAILS_BYTES),
  };
}

/** What a lock workflow's target names: a release branch (`repo#branch`) or a staging service (`staging:service`). */
function lockSubject(target: string): { kind: 'staging' | 'target'; name: string } {
  if (target.startsWith('staging:')) return { kind: 'staging', name: target.slice('staging:'.length) };
  const hash = target.lastIndexOf('#');
  return { kind: 'target', name: hash < 0 ? target : `${target.slice(hash + 1)}@${target.slice(0, hash)}` };
}

/** For a lock workflow's signal-with-start (requestTargetLock): says it is a lock, and how to hide locks. */
export function lockStartMetadata(target: string): StartMetadata {
  const { kind, name } = lockSubject(target);
  const what =
    kind === 'staging'
      ? `staging turn of ${code(name)}: one promotion's staging gates run on this service at a time`
      : `target lock of ${code(name)}: one promotion or rollback moves this branch at a time`;
  return {
    staticSummary: summary(kind === 'staging' ? `[lock] staging turn: ${name}` : `[lock] release target: ${name}`),
    staticDetails: clampBytes(
      [
        `**Lock workflow** (bookkeeping, not a release): ${what}; first come first served, manual rollbacks first.`,
        '',
        `Hide lock workflows from the list with the query ${code(WITHOUT_LOCKS_QUERY)}.`,
      ].join('\n'),
      DETAILS_BYTES,
    ),
  };
}

// ---- current details (setCurrentDetails), one renderer per workflow --------------------------

const STAGE_WORDS: Record<Stage, string> = {
  validating: 'validating the request and the commit',
  waiting_for_staging: 'waiting for staging (to run the commit, or a turn on the service)',
  staging_gates: 'running the staging gates',
  awaiting_approval: 'awaiting approval',
  frozen: 'frozen: inside a freeze window (without the target lock)',
  waiting_for_lock: 'waiting for the target lock',
  promoting: 'promoting (drift check, descendant check, push)',
  awaiting_deploy: 'awaiting the deploy',
  verifying: 'verifying production',
  soaking: 'soaking (production checks rerun until the soak ends)',
  rolling_back: 'rolling back',
  recording: 'recording the ledger entry (retrying)',
  promoted: 'promoted',
  invalid: 'invalid request (nothing ran)',
  gates_failed: 'staging gates failed',
  rejected: 'rejected',
  approval_expired: 'approval expired',
  drifted: 'release branch drifted',
  refused: 'refused',
  rolled_back: 'rolled back',
  rollback_partial: 'rollback partial: needs a person',
  cancelled: 'cancelled',
  failed: 'failed',
  superseded: 'superseded by a newer promotion',
  dry_run: 'dry run done: nothing reserved, pushed or recorded',
};

export function stageWords(stage: Stage): string {
  return STAGE_WORDS[stage] ?? stage;
}

function gatesLine(gates: GateResult[]): string {
  if (gates.length === 0) return 'none yet';
  const failed = gates.filter((g) => !g.pass).map((g) => code(g.name));
  return `${gates.length - failed.length}/${gates.length} passed${failed.length ? `; failed: ${failed.join(', ')}` : ''}`;
}

function lockSpotLine(spot: { position?: number; holder?: string; availableAt?: string }, self: string): string {
  if (spot.holder === self) return 'held by this workflow';
  const parts = [
    spot.position !== undefined ? `place ${spot.position} in line` : 'asked, no place reported yet',
    spot.holder ? `held by ${code(spot.holder)}` : undefined,
    spot.availableAt ? `free again at ${when(spot.availableAt)}` : undefined,
  ];
  return parts.filter(Boolean).join('; ');
}

/** What a promotion's current stage waits for, as markdown bullets. */
function promotionWaits(status: PromotionStatus, plan: PromotionPlan | undefined): string[] {
  const a = status.approval;
  switch (status.stage) {
    case 'validating':
      return ['checks the request, that the commit is on the source branch, and reserves a release id'];
    case 'waiting_for_staging':
      if (!status.stagingTurn && status.stagingDeployWait && plan?.stagingDeployWait) {
        const d = status.stagingDeployWait;
        return [
          `staging ${repoText(plan.stagingBase)} ${code(plan.stagingDeployWait.path)} to report ${code(plan.stagingDeployWait.field)} = ${code(sha7(plan.commitSha))}${plan.stagingDeployWait.acceptDescendant ? ` or a descendant on ${code(plan.fromBranch)}` : ''}`,
          `last read: ${d.lastSeen === undefined ? '(none yet)' : code(d.lastSeen === null ? '(no value)' : sha7(d.lastSeen))}${d.nextReadAt ? `; next read at ${when(d.nextReadAt)}` : ''}`,
          `until ${when(d.deadline)}; then it ends as ${code('gates_failed')} (${code('StagingNotOnCommit')})`,
        ];
      }
      return [
        `staging service ${code(status.stagingTurn?.service ?? plan?.stagingService)}: ${lockSpotLine(status.stagingTurn ?? {}, status.workflowId)}`,
      ];
    case 'staging_gates':
      return [
        `gates ${(plan?.stagingGates ?? []).map(code).join(', ') || '(catalog)'} on ${repoText(plan?.stagingBase, '(staging)')}`,
      ];
    case 'awaiting_approval': {
      const approvals = new Set(a.decisions.filter((d) => d.decision === 'approve').map((d) => d.approver));
      return [
        `${a.minApprovals} approval${a.minApprovals === 1 ? '' : 's'} from ${a.approvers?.length ? a.approvers.map(code).join(', ') : 'any approver'} (not the operator ${code(status.operator)}); ${approvals.size} so far${approvals.size ? `: ${[...approvals].map(code).join(', ')}` : ''}`,
        `until ${when(a.deadline)}; then it ends as ${code('approval_expired')}`,
        `approve: ${code(`temporal workflow signal --workflow-id ${status.workflowId} --name approve --input '{"approver":"<you>"}'`)}`,
        'decisions that did not count, and why: the status query',
      ];
    }
    case 'frozen': {
      const f = status.freeze;
      return [
        `inside a freeze window: ${prose(f?.active?.reason ?? '')} (${code(f?.active?.rule ?? '')}) until ${when(f?.active?.endsAt)}`,
        status.breakGlass
          ? `break-glass (${prose(status.breakGlass.reason)}): ${status.breakGlass.minApprovals} break-glass approval(s) from ${status.breakGlass.approvers?.map(code).join(', ')}; ${status.breakGlass.decisions.length} so far`
          : 'waits without the target lock; manual rollbacks go ahead',
        `gives up at ${when(f?.deadline)} (the approval timeout) as ${code('FreezeWindowActive')}`,
      ];
    }
    case 'waiting_for_lock':
      return [
        `target ${code(status.lock?.target ?? (plan ? `${plan.repo}#${plan.toBranch}` : undefined))}: ${lockSpotLine(status.lock ?? {}, status.workflowId)}`,
      ];
    case 'promoting':
      return plan ? [`push ${code(sha7(plan.commitSha))} to ${code(plan.toBranch)} with a lease on its tip`] : [];
    case 'awaiting_deploy': {
      const d = status.deployWait;
      return plan?.deployWait
        ? [
            `production ${repoText(plan.productionBase)} ${code(plan.deployWait.path)} to report ${code(plan.deployWait.field)} = ${code(sha7(plan.commitSha))}`,
            `last read: ${d?.lastSeen === undefined ? '(none yet)' : code(d.lastSeen === null ? '(no value)' : sha7(d.lastSeen))}${d?.nextReadAt ? `; next read at ${when(d.nextReadAt)}` : ''}`,
            `until ${when(d?.deadline)}; then it rolls back (${code('DeployNotObserved')})`,
          ]
        : [];
    }
    case 'verifying':
      return [`production checks on ${repoText(plan?.productionBase, '(production)')}`];
    case 'soaking': {
      const soak = status.soak;
      return soak
        ? [
            `production checks on ${repoText(plan?.productionBase, '(production)')} every ${human(soak.intervalMs)} until ${when(soak.endsAt)} (${human(soak.leftMs)} left at the last run)`,
            `${soak.runs} run${soak.runs === 1 ? '' : 's'} so far, failures: ${soak.failures || 'none'}${soak.nextRunAt ? `; next at ${when(soak.nextRunAt)}` : ''}`,
            'a failing run rolls back; a manual rollback of the target ends the soak at once',
          ]
        : [];
    }
    case 'rolling_back':
      return [
        status.rollback?.workflowId
          ? `rollback child ${code(status.rollback.workflowId)} to ${code(sha7(status.lastKnownGood))}`
          : 'nothing to roll back to',
      ];
    case 'recording':
      return [
        `the last ledger entry could not be written since ${when(status.recording?.since)}: ${prose(status.recording?.error ?? '')}`,
        'retried without limit; the target stays locked meanwhile',
      ];
    default:
      return status.failure ? [`${code(status.failure.type)}: ${prose(status.failure.message)}`] : [];
  }
}

/** A promotion's current details: what it is, the stage, what it waits for, what it learnt. */
export function promotionDetails(status: PromotionStatus, plan?: PromotionPlan): string {
  const head = `**${prose(promotionHeadline(status.commitSha, status.environment, status.changeClass))}**${status.releaseId ? ` · release ${code(status.releaseId)}` : ''}${plan ? ` · ${code(plan.fromBranch)} → ${code(plan.toBranch)} of ${repoText(plan.repo)}` : ''}`;
  const waits = promotionWaits(status, plan);
  const learnt = [
    status.gates.length ? `staging gates: ${gatesLine(status.gates)}` : undefined,
    status.approval.required ? `approval: ${status.approval.state}` : undefined,
    status.pushed
      ? `pushed ${code(sha7(status.commitSha))} (previous tip ${code(sha7(status.lastKnownGood))})`
      : undefined,
    status.prodVerification.length ? `production checks: ${gatesLine(status.prodVerification)}` : undefined,
    status.rollback?.result ? `rollback: ${status.rollback.result}` : undefined,
  ].filter((x): x is string => x !== undefined);
  return clampBytes(
    [
      head,
      '',
      `**Stage:** ${code(status.stage)}: ${stageWords(status.stage)}`,
      ...(waits.length ? ['', list(waits)] : []),
      ...(learnt.length ? ['', '**So far**', list(learnt)] : []),
    ].join('\n'),
    DETAILS_BYTES,
  );
}

/** A rollback's current details. */
export function rollbackDetails(status: RollbackStatus, plan?: RollbackPlan): string {
  const waits: string[] = [];
  if (status.stage === 'waiting_for_lock')
    waits.push(`target ${code(status.lock?.target)}: ${lockSpotLine(status.lock ?? {}, status.workflowId)}`);
  else if (status.stage === 'rolling_back' && plan)
    waits.push(
      `move ${code(plan.toBranch)} ${code(sha7(plan.fromSha))} → ${code(sha7(plan.toSha))}, then the production checks on ${repoText(plan.productionBase)}`,
    );
  else if (status.stage === 'recording')
    waits.push(
      `the rollback entry could not be written since ${when(status.recording?.since)}: ${prose(status.recording?.error ?? '')}; retried without limit`,
    );
  else if (status.failure) waits.push(`${code(status.failure.type)}: ${prose(status.failure.message)}`);
  const done = [
    ...status.actions.map(prose),
    ...(status.verification.length ? [`production checks: ${gatesLine(status.verification)}`] : []),
    ...(status.result ? [`result: ${status.result}`] : []),
  ];
  return clampBytes(
    [
      `**${prose(`roll back ${status.environment}: ${sha7(status.fromSha)} → ${sha7(status.toSha)}`)}**${status.releaseId ? ` · release ${code(status.releaseId)}` : ''}${status.promotionReleaseId ? ` · for promotion ${code(status.promotionReleaseId)}` : ''}`,
      '',
      `**Stage:** ${code(status.stage)}: ${stageWords(status.stage)}`,
      ...(waits.length ? ['', list(waits)] : []),
      ...(done.length ? ['', '**So far**', list(done)] : []),
    ].join('\n'),
    DETAILS_BYTES,
  );
}

/** A lock workflow's current details: holder and line. */
export function lockDetails(state: LockState, nowMs: number): string {
  const { kind, name } = lockSubject(state.target);
  const cooling = state.availableAtMs !== undefined && state.availableAtMs > nowMs;
  const queue = state.queue.slice(0, 20).map((q, i) => `${i + 1}. ${code(q.workflowId)} (${q.priority})`);
  return clampBytes(
    [
      `**[lock] ${kind === 'staging' ? 'staging turn' : 'release target'}** ${code(name)} (bookkeeping; hide with ${code(WITHOUT_LOCKS_QUERY)})`,
      '',
      `- holder: ${state.holder ? `${code(state.holder.workflowId)} since ${when(state.holder.since)}` : 'nobody'}`,
      ...(cooling ? [`- next grant not before ${when(isoOf(state.availableAtMs))} (the last run's rate window)`] : []),
      `- waiting: ${state.queue.length}`,
      ...queue,
      ...(state.queue.length > queue.length ? [`… and ${state.queue.length - queue.length} more`] : []),
    ].join('\n'),
    DETAILS_BYTES,
  );
}

// ---- activity and timer summaries ------------------------------------------------------------

/** Summaries of every activity call and timer, named by what they do to which release. */
export const summaries = {
  admit: (commitSha: string | undefined, environment: string | undefined) =>
    summary(`admit ${sha7(commitSha)} for ${environment || 'production'}: check the commit, reserve a release id`),
  stagingGates: (plan: PromotionPlan) => summary(`staging gates of ${sha7(plan.commitSha)} on ${plan.stagingBase}`),
  push: (plan: PromotionPlan) =>
    summary(`push ${sha7(plan.commitSha)} to ${plan.toBranch} (drift check, descendant check, lease)`),
  /** The second call of the promote step: the tip the first read is the lease. */
  pushFrom: (plan: PromotionPlan, tip: string | null) =>
    summary(
      `push ${sha7(plan.commitSha)} to ${plan.toBranch} from ${tip ? sha7(tip) : '(no branch)'} (descendant check, lease)`,
    ),
  readDeployed: (base: string, path: string, sha: string) =>
    summary(`read deployed version at ${base}${path}: is it ${sha7(sha)}?`),
  supersedeCheck: (older: { commitSha: string; workflowId: string }, newer: { commitSha: string }) =>
    summary(
      `does ${sha7(newer.commitSha)} descend from ${sha7(older.commitSha)} (${older.workflowId})? then it supersedes it`,
    ),
  announceWaiting: (plan: PromotionPlan) =>
    summary(`tell the target lock ${plan.toBranch} that ${sha7(plan.commitSha)} waits to push (supersede)`),
  checkFreeze: (plan: PromotionPlan) => summary(`is ${plan.environment} inside a freeze window now?`),
  freezeWait: (endsAt: string, waitMs: number) =>
    summary(`freeze window: check again in ${human(waitMs)} (it ends ${endsAt}), or on break-glass approval`),
  dryRun: (plan: PromotionPlan) =>
    summary(`dry run of ${sha7(plan.commitSha)}: read ${plan.toBranch}, the ledger's reference and the lock`),
  soakRun: (plan: PromotionPlan, run: number) =>
    summary(`soak of ${sha7(plan.commitSha)}: production checks, run ${run}, on ${plan.productionBase}`),
  descends: (version: string, sha: string, branch: string) =>
    summary(`is staging's ${sha7(version)} on ${branch} and a descendant of ${sha7(sha)}?`),
  verifyPromotion: (plan: PromotionPlan) =>
    summary(`production checks of ${sha7(plan.commitSha)} on ${plan.productionBase}`),
  appendEntry: (releaseId: string | undefined, result: string, retrying: boolean) =>
    summary(
      `append ledger entry ${releaseId ?? '(no release id)'} (${result})${retrying ? ', retried until written' : ''}`,
    ),
  reserveRollbackId: (plan: RollbackPlan) => summary(`reserve a rollback release id for ${plan.environment}`),
  planRollback: (environment: string | undefined, toSha: string | undefined) =>
    summary(`plan rollback of ${environment || 'production'} to ${sha7(toSha)}`),
  moveBack: (plan: RollbackPlan) =>
    summary(`move ${plan.toBranch} back ${sha7(plan.fromSha)} → ${sha7(plan.toSha)} (lease on ${sha7(plan.fromSha)})`),
  verifyRollback: (plan: RollbackPlan) =>
    summary(`production checks after rollback to ${sha7(plan.toSha)} on ${plan.productionBase}`),
  requestLock: (target: string) => {
    const { kind, name } = lockSubject(target);
    return summary(`request ${kind === 'staging' ? 'staging turn on' : 'target lock'} ${name}`);
  },
  holderRunning: (workflowId: string) => summary(`is lock holder ${workflowId} still running?`),
  recordClosed: (releaseId: string | undefined, holder: string) =>
    summary(`append ledger entry ${releaseId ?? ''} for ${holder}, closed while holding the lock`),

  // Timers
  approvalTimeout: (timeoutMs: number, deadlineMs: number) =>
    summary(`approval timeout: ${human(timeoutMs)}, until ${new Date(deadlineMs).toISOString()}`),
  stagingPoll: (plan: PromotionPlan, waitMs: number) =>
    summary(
      `staging deploy wait: next read of ${plan.stagingDeployWait?.path ?? ''} for ${sha7(plan.commitSha)} in ${human(waitMs)}`,
    ),
  soakTimer: (plan: PromotionPlan, waitMs: number, run: number) =>
    summary(`soak of ${sha7(plan.commitSha)}: run ${run} of the production checks in ${human(waitMs)}`),
  deployPoll: (plan: PromotionPlan, waitMs: number) =>
    summary(`deploy wait: next read of ${plan.deployWait?.path ?? ''} for ${sha7(plan.commitSha)} in ${human(waitMs)}`),
  lockTimer: (target: string, reason: 'holder check' | 'cooldown' | 'idle', waitMs: number) =>
    summary(
      `lock ${lockSubject(target).name}: ${reason === 'holder check' ? 'check the holder still runs' : reason === 'cooldown' ? 'rate-window cooldown' : 'idle, ends'} in ${human(waitMs)}`,
    ),
};
