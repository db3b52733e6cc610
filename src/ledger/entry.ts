// A ledger entry's content (SPEC §6): the records the workflows hand over, and how a record
// becomes the entry's fields in the seed template's order (gateLine, ledgerFields), with caller
// text redacted. Workflow-safe (no Node builtins), so both workflows can build an entry's content
// here; the text format and the chain hash (node:crypto) are format.ts's, the file mechanics store.ts's.
import type { GateResult } from '../domain';
import { describeThrottling } from '../gates/throttle';
import { redact } from '../redact';

export type LedgerValue = string | string[];
/** An entry as key/value pairs in the order they are written (release_id first). */
export type LedgerFields = Array<[key: string, value: LedgerValue]>;

export interface PromotionRecord {
  type: 'promotion';
  releaseId: string;
  workflowId: string;
  evidenceRef: string;
  commitSha: string;
  environment: string;
  /** The canonical repo (see canonicalRepo): with toBranch, the target the drift reference and last known good belong to. */
  repo: string;
  fromBranch: string;
  toBranch: string;
  stagingBase: string;
  stagingGateCommand: string;
  stagingGateResult: 'pass' | 'fail' | 'not run';
  gatesRun: GateResult[];
  changeClass: string;
  prodVerification: GateResult[];
  /** The soak's summary line, after the first run's checks in prod_verification. */
  soak?: string;
  result: 'pass' | 'fail';
  rollbackPlan: string;
  notes: string;
  operator: string;
  evidenceRefs?: string;
  approvals: string[];
  /** Extra facts (drift, downgrade, rollback id) written after the template's keys. */
  extras: Array<[string, string]>;
}

export interface RollbackRecord {
  type: 'rollback';
  releaseId: string;
  workflowId: string;
  evidenceRef: string;
  trigger: string;
  fromSha: string;
  toSha: string;
  environment: string;
  /** The canonical repo, as in PromotionRecord. */
  repo: string;
  actions: string[];
  postRollbackVerification: GateResult[];
  result: 'completed' | 'partial';
  notes: string;
  operator: string;
  evidenceRefs?: string;
  promotionReleaseId?: string;
  /** Not in the seed's template; written as an extra so the drift check knows which branch moved. */
  toBranch: string;
  extras: Array<[string, string]>;
}

export type LedgerRecord = PromotionRecord | RollbackRecord;

/** `branch_tip_after` when the remote could not be read at the append (the entry is written anyway). */
export const TIP_UNREADABLE = '(remote unreadable)';

/** What appending a record answers. */
export interface AppendResult {
  chainHead: string;
  branchTipAfter: string | null;
  /** false when the entry was already there (a retry). */
  appended: boolean;
}

/** `health: pass (200, 12 ms)`; bursts and commands say what they counted. */
export function gateLine(gate: GateResult): string {
  const verdict = gate.pass ? 'pass' : 'fail';
  if (gate.counts) return `${gate.name}: ${verdict} (${gate.detail})`;
  const status = gate.status === undefined ? 'no answer' : String(gate.status);
  return `${gate.name}: ${verdict} (${status}, ${gate.latencyMs} ms${gate.throttled ? `, ${describeThrottling(gate.throttled)}` : ''})`;
}

function evidence(record: LedgerRecord): string {
  return redact([record.evidenceRef, record.evidenceRefs].filter(Boolean).join('; '));
}

/** The record as the seed's template keys, in order, then extras (the target's `repo` first). */
export function ledgerFields(record: LedgerRecord, branchTipAfter: string | null): LedgerFields {
  // Not redacted: validation keeps credentials out of a repo, and a masked key would name no
  // target. A record from a workflow started before records had a repo has none: its entry is
  // then matched like the seed's, by environment and branch, rather than written as "undefined".
  const repo: LedgerFields = record.repo ? [['repo', record.repo]] : [];
  const tail: LedgerFields = [
    ...record.extras.map(([k, v]): [string, string] => [k, redact(v)]),
    ['workflow_id', record.workflowId],
    ['branch_tip_after', branchTipAfter ?? '(branch missing)'],
  ];
  if (record.type === 'promotion') {
    const costGate = record.gatesRun.find((g) => g.name === 'cost_gate_chat');
    const breaker = record.gatesRun.find((g) => g.name === 'breaker_drill');
    return [
      ['release_id', record.releaseId],
      ['type', 'promotion'],
      ['commit_sha', record.commitSha],
      ['environment', record.environment],
      ['from_branch', record.fromBranch],
      ['to_branch', record.toBranch],
      ['staging_base', record.stagingBase],
      ['staging_gate_command', record.stagingGateCommand],
      ['staging_gate_result', record.stagingGateResult],
      ['gates_run', record.gatesRun.map(gateLine)],
      ['change_class', record.changeClass],
      ['prod_verification', [...record.prodVerification.map(gateLine), ...(record.soak ? [record.soak] : [])]],
      ['result', record.result],
      ['rollback_plan', redact(record.rollbackPlan)],
      ['notes', redact(record.notes)],
      ['operator', record.operator],
      ['evidence_refs', evidence(record)],
      [
        'cost_control_evidence',
        [
          costGate
            ? `cost_gate_chat: ${costGate.pass ? 'pass' : 'fail'} (${costGate.status ?? 'no answer'})`
            : 'cost_gate_chat: not run',
          breaker
            ? `breaker_drill: ${breaker.pass ? 'pass' : 'fail'} (${breaker.detail.split(':')[0]})`
            : 'breaker_drill: not run',
        ],
      ],
      ...repo,
      ['approvals', record.approvals.map(redact)],
      ...tail,
    ];
  }
  return [
    ['release_id', record.releaseId],
    ['type', 'rollback'],
    ['trigger', redact(record.trigger)],
    ['from_sha', record.fromSha],
    ['to_sha', record.toSha],
    ['environment', record.environment],
    ['actions', record.actions.map(redact)],
    ['post_rollback_verification', record.postRollbackVerification.map(gateLine)],
    ['result', record.result],
    ['notes', redact(record.notes)],
    ['operator', record.operator],
    ['evidence_refs', evidence(record)],
    ...repo,
    ...(record.promotionReleaseId ? ([['promotion_release_id', record.promotionReleaseId]] as LedgerFields) : []),
    ['to_branch', record.toBranch],
    ...tail,
  ];
}
