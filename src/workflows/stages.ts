// Stage changes, shared by both workflows: status, timeline and search attribute move together.
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import { upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { GateResult, Stage, StageTrack } from '../domain';
import { describeThrottling } from '../gates/throttle';
import { workflowNow } from './clock';
import { ReleaseStageKey } from './messages';

/**
 * Every stage change is visible in the status, the timeline and the search attributes. Other
 * attributes learnt since the last change (`also`) go in the same upsert: one event, not two.
 */
export function enter(track: StageTrack, stage: Stage, also: SearchAttributeUpdatePair[] = []): void {
  track.stage = stage;
  track.timeline.push({ stage, at: workflowNow() });
  upsertSearchAttributes([{ key: ReleaseStageKey, value: stage }, ...also]);
}

/** Who writes a ledger entry: the workflow id (the append's key) and a reference an auditor can open. */
export function ledgerAuthor(): { workflowId: string; evidenceRef: string } {
  const info = workflowInfo();
  return { workflowId: info.workflowId, evidenceRef: `temporal:${info.namespace}/${info.workflowId}/${info.runId}` };
}

/** Reads a string field of not-yet-validated input, for the status shown while it is checked. */
export function rawField(input: unknown): (key: string, fallback?: string) => string {
  const raw = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  return (key, fallback = '') => (typeof raw[key] === 'string' ? (raw[key] as string).slice(0, 64) : fallback);
}

export function allPassed(results: GateResult[]): boolean {
  return results.length > 0 && results.every((r) => r.pass);
}

/** "db_health returned 503, chat_happy got no answer, cost_gate_chat kept throttling (after 6 x 429 rate-limited, waited 10.0 s)" */
export function describeFailures(results: GateResult[]): string {
  return results
    .filter((r) => !r.pass)
    .map((r) => `${r.name} ${r.counts ? `failed (${r.detail})` : keptThrottling(r) ? `kept throttling (${describeThrottling(r.throttled ?? { count: 0, waitedMs: 0 })})` : r.status === undefined ? 'got no answer' : `returned ${r.status}`}`)
    .join(', ');
}

/** The gate failed only because the target kept answering 429 rate-limited past the wait bound. */
function keptThrottling(result: GateResult): boolean {
  return !result.pass && result.status === 429 && (result.throttled?.count ?? 0) > 0;
}

/** Why staging failed and what to do: a busy service is not sent to be fixed. */
export function stagingFailureMessage(results: GateResult[], stagingBase: string): string {
  const failed = results.filter((r) => !r.pass);
  const next = failed.every(keptThrottling)
    ? 'staging is busy (rate-limited), not broken: start a new promotion when its load drops, or raise defaults.rateLimitWaitMs in GATES_CONFIG'
    : failed.some(keptThrottling)
      ? 'fix the failing gates (the throttled ones only need a less busy staging) and start a new promotion'
      : 'fix staging and start a new promotion';
  return `${describeFailures(results)} on staging ${stagingBase}; ${next}`;
}
