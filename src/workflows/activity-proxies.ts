// The activity proxies the workflows call, with one bounded retry policy: a held lock must never
// wait forever on an unreachable repo or target.
import type { RetryPolicy } from '@temporalio/common';
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';

const retry: RetryPolicy = {
  initialInterval: '500ms',
  backoffCoefficient: 2,
  maximumInterval: '10s',
  maximumAttempts: 5,
};

/** Git against the remote: heartbeats let a dead worker's attempt be retried elsewhere in seconds. */
export const gitActivities = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '10s',
  retry,
});

/** Probes: a slow target costs probe timeouts (and command gates their own), not git's budget. */
export const probeActivities = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '10s',
  retry,
});

/** The ledger file: short, but it may queue behind other writers' lock, so not a local activity. */
export const ledgerActivities = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '10s',
  retry,
});

/**
 * A workflow's last ledger entry, once the bounded attempts above failed: retried without limit
 * (SPEC §3), because nothing may move the branch before the ledger records its last move. Its
 * ReleaseIdConflict is non-retryable and still ends the attempt.
 */
export const lastEntryActivities = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '10s',
  // No maximumAttempts: unlimited.
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * Lock bookkeeping (one signal-with-start, one describe) runs as local activities: no task-queue
 * round trip through the server. Only calls that cannot queue belong here: while a local
 * activity runs, the workflow answers no query.
 */
export const localActivities = proxyLocalActivities<Activities>({ startToCloseTimeout: '30s', retry });
