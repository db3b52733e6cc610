// Telling a busy target from a broken one (SPEC §5 "Throttling is not a verdict"), and how long
// a throttled probe should wait. Pure functions over what the probe read: status, body, headers.
//
// undici's RetryAgent is not used: it decides on the status line alone, so it would also retry
// `429 BUDGET_EXCEEDED` (a verdict only the body reveals) and the burst's expected 429s.

/** The response headers a throttle decision reads, lowercased. */
export interface ThrottleHeaders {
  'retry-after'?: string;
  ratelimit?: string;
  'ratelimit-reset'?: string;
}

export const THROTTLE_HEADER_NAMES = ['retry-after', 'ratelimit', 'ratelimit-reset'] as const;

/** A 429 that is not the budget block: the target is busy, not giving a verdict. */
export function isRateLimited(status: number | undefined, body: string): boolean {
  return status === 429 && !body.includes('BUDGET_EXCEEDED');
}

/**
 * How long the target asks callers to wait, in ms, or undefined when it does not say.
 * Reads, in this order: `Retry-After` (delay-seconds or HTTP-date), the IETF `RateLimit` field
 * (draft 7+: `"policy";r=0;t=5`; drafts 3–6: `limit=20, remaining=0, reset=5`) and
 * `RateLimit-Reset` (delta-seconds).
 */
export function throttleHintMs(headers: ThrottleHeaders, nowMs: number): number | undefined {
  const retryAfter = headers['retry-after']?.trim();
  if (retryAfter) {
    if (/^[0-9]+$/.test(retryAfter)) return Number(retryAfter) * 1000;
    const at = Date.parse(retryAfter);
    if (!Number.isNaN(at)) return Math.max(0, at - nowMs);
  }
  const fromField = headers.ratelimit ? rateLimitFieldResetS(headers.ratelimit) : undefined;
  if (fromField !== undefined) return fromField * 1000;
  const reset = headers['ratelimit-reset']?.trim();
  if (reset && /^[0-9]+$/.test(reset)) return Number(reset) * 1000;
  return undefined;
}

/** Seconds until the exhausted policy resets, from a `RateLimit` header of either draft shape. */
function rateLimitFieldResetS(value: string): number | undefined {
  const older = /(?:^|[\s,;])reset=([0-9]+)/.exec(value);
  if (older) return Number(older[1]);
  // One list member per policy; the ones with no quota left are what the caller waits for.
  const policies = value.split(',').map((member) => ({
    remaining: /;\s*r=([0-9]+)/.exec(member)?.[1],
    resetS: /;\s*t=([0-9]+)/.exec(member)?.[1],
  }));
  const withReset = policies.filter((p) => p.resetS !== undefined);
  // r is a structured-field integer: 0 and 00 alike mean no quota left.
  const exhausted = withReset.filter((p) => Number(p.remaining) === 0);
  const relevant = exhausted.length ? exhausted : withReset;
  if (relevant.length === 0) return undefined;
  return Math.max(...relevant.map((p) => Number(p.resetS)));
}

/**
 * The wait before the next try: the target's hint plus a little jitter (so callers released
 * together do not arrive together), else exponential backoff with jitter from 200 ms to 2 s.
 */
export function throttleWaitMs(
  hintMs: number | undefined,
  throttledSoFar: number,
  random: () => number = Math.random,
): number {
  if (hintMs !== undefined) return Math.round(hintMs + 20 + random() * 80);
  const ceiling = Math.min(2_000, 200 * 2 ** Math.max(0, throttledSoFar - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** `after 2 x 429 rate-limited, waited 1.1 s`: the throttling a gate's verdict came after. */
export function describeThrottling(throttled: { count: number; waitedMs: number }): string {
  return `after ${throttled.count} x 429 rate-limited, waited ${(throttled.waitedMs / 1000).toFixed(1)} s`;
}
