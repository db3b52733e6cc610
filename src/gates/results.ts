// What a set of gate results says, in words the status, the failure messages and the ledger
// share. Pure: used by the workflows and the ledger's entry content alike.
import type { GateResult } from '../domain';
import { describeThrottling } from './throttle';

export function allPassed(results: GateResult[]): boolean {
  return results.length > 0 && results.every((r) => r.pass);
}

/** "db_health returned 503, chat_happy got no answer, cost_gate_chat kept throttling (after 6 x 429 rate-limited, waited 10.0 s)" */
export function describeFailures(results: GateResult[]): string {
  return results
    .filter((r) => !r.pass)
    .map(
      (r) =>
        `${r.name} ${r.counts ? `failed (${r.detail})` : keptThrottling(r) ? `kept throttling (${describeThrottling(r.throttled ?? { count: 0, waitedMs: 0 })})` : r.status === undefined ? 'got no answer' : `returned ${r.status}`}`,
    )
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
