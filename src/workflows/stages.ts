// Stage changes, shared by both workflows: status, timeline and search attribute move together.
// Also the workflow's own identity for ledger entries, and a peek at input not yet validated.
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import { upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { Stage, StageTrack } from '../domain';
import { workflowNow } from './clock';
import { refreshDetails } from './current-details';
import { ReleaseStageKey } from './messages';

/**
 * Every stage change is visible in the status, the timeline, the search attributes and the
 * current details (Temporal UI). Other attributes learnt since the last change (`also`) go in
 * the same upsert: one event, not two.
 */
export function enter(track: StageTrack, stage: Stage, also: SearchAttributeUpdatePair[] = []): void {
  track.stage = stage;
  track.timeline.push({ stage, at: workflowNow() });
  upsertSearchAttributes([{ key: ReleaseStageKey, value: stage }, ...also]);
  refreshDetails(track);
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
