// A workflow's last ledger entry (SPEC §3): never given up. A failing ledger keeps the workflow in
// stage `recording`, holding its target, until the entry is written; it never undoes a release.
import type { AppendResult, LedgerRecord } from '../ledger/entry';
import type { Stage, StageTrack } from '../domain';
import { failureMessageOf } from '../failures';
import { lastEntryActivities, ledgerActivities } from './activity-proxies';
import { workflowNow } from './clock';
import { enter } from './stages';
import { summaries } from './summaries';

/**
 * Appends `record` (idempotent per release id + workflow id), then enters `stage`. When the
 * bounded attempts fail, the stage is `recording` (status, timeline, search attribute) while the
 * append retries without limit; only a non-retryable failure (ReleaseIdConflict) is thrown.
 */
export async function writeLastEntry(
  track: StageTrack,
  stage: Stage,
  record: LedgerRecord,
  target: { repo: string; branch: string; tip?: string },
): Promise<AppendResult> {
  let appended: AppendResult;
  try {
    appended = await ledgerActivities.appendLedgerEntry.executeWithOptions(
      { summary: summaries.appendEntry(record.releaseId, record.result, false) },
      [record, target],
    );
  } catch (err) {
    if (isNonRetryable(err)) throw err;
    track.recording = { since: workflowNow(), error: failureMessageOf(err).slice(0, 500) };
    enter(track, 'recording');
    appended = await lastEntryActivities.appendLedgerEntry.executeWithOptions(
      { summary: summaries.appendEntry(record.releaseId, record.result, true) },
      [record, target],
    );
    track.recording = undefined;
  }
  enter(track, stage);
  return appended;
}

function isNonRetryable(err: unknown): boolean {
  const cause = (err as { cause?: { nonRetryable?: boolean } } | undefined)?.cause;
  return cause?.nonRetryable === true;
}
