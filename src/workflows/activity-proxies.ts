// The activity proxies the workflows call, with one bounded retry policy: a held lock must never
// wait forever on an unreachable repo or target.
import type { RetryPolicy } from '@temporalio/common';
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';

const retry: RetryPolicy = { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5 };

/** Git against the remote: heartbeats let a dead worker's attempt be retried elsewhere in seconds. */
export const gitActivities = proxyActivities<Activities>({ startToCloseTimeout: '2 minutes', heartbeatTimeout: '10s', retry });

/** Probes: a slow target costs probe timeouts (and command gates their own), not git's budget. */
export const probeActivities = proxyActivities<Activities>({ startToCloseTimeout: '10 minutes', heartbeatTimeout: '10s', retry });

/**
 * Short, idempotent bookkeeping (the ledger file on this machine, lock requests, tip reads) runs
 * as local activities: no task-queue round trip through the server, which under load was the
 * larger part of a promotion's time. Each is keyed (release id + workflow id) so a re-run after
 * a crash changes nothing.
 */
export const localActivities = proxyLocalActivities<Activities>({ startToCloseTimeout: '1 minute', retry });
