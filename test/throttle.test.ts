// The throttle decision on its own: which 429s are a busy target, and how long each header form
// says to wait. Pure functions; the probes that use them are tested against real services in
// gates-throttling.test.ts.
import { describeThrottling, isRateLimited, throttleHintMs, throttleWaitMs } from '../src/gates/throttle';
import { stagingServiceOf } from '../src/activities/plan';

const NOW = Date.parse('2026-12-01T10:00:00.000Z');

describe('isRateLimited', () => {
  test('a 429 that names RATE_LIMITED, or says nothing, is throttling', () => {
    expect(isRateLimited(429, '{"error":"RATE_LIMITED"}')).toBe(true);
    expect(isRateLimited(429, '')).toBe(true);
  });

  test('a 429 whose body names BUDGET_EXCEEDED is a verdict, not throttling', () => {
    expect(isRateLimited(429, '{"error":"BUDGET_EXCEEDED","limit":"COST_REQUEST_MAX_TOKENS"}')).toBe(false);
  });

  test('other statuses are never throttling', () => {
    expect(isRateLimited(503, '{"error":"RATE_LIMITED"}')).toBe(false);
    expect(isRateLimited(200, '')).toBe(false);
    expect(isRateLimited(undefined, '')).toBe(false);
  });
});

describe('throttleHintMs', () => {
  test('Retry-After in delay-seconds', () => {
    expect(throttleHintMs({ 'retry-after': '3' }, NOW)).toBe(3_000);
    expect(throttleHintMs({ 'retry-after': '0' }, NOW)).toBe(0);
  });

  test('Retry-After as an HTTP-date counts from now, never below zero', () => {
    expect(throttleHintMs({ 'retry-after': 'Tue, 01 Dec 2026 10:00:02 GMT' }, NOW)).toBe(2_000);
    expect(throttleHintMs({ 'retry-after': 'Tue, 01 Dec 2026 09:59:00 GMT' }, NOW)).toBe(0);
  });

  test('the RateLimit field of draft 7+ gives t of the exhausted policy', () => {
    expect(throttleHintMs({ ratelimit: '"chat";r=0;t=4' }, NOW)).toBe(4_000);
    // Two policies: the hourly one still has quota, the per-second one is spent.
    expect(throttleHintMs({ ratelimit: '"hourly";r=500;t=1800, "burst";r=0;t=1' }, NOW)).toBe(1_000);
  });

  test('the RateLimit field of drafts 3-6 gives its reset parameter', () => {
    expect(throttleHintMs({ ratelimit: 'limit=20, remaining=0, reset=2' }, NOW)).toBe(2_000);
  });

  test('RateLimit-Reset in delta-seconds', () => {
    expect(throttleHintMs({ 'ratelimit-reset': '5' }, NOW)).toBe(5_000);
  });

  test('Retry-After wins over the RateLimit headers', () => {
    expect(throttleHintMs({ 'retry-after': '1', ratelimit: '"chat";r=0;t=9', 'ratelimit-reset': '9' }, NOW)).toBe(
      1_000,
    );
  });

  test('no usable header means no hint', () => {
    expect(throttleHintMs({}, NOW)).toBeUndefined();
    expect(throttleHintMs({ 'retry-after': 'soon', 'ratelimit-reset': 'later' }, NOW)).toBeUndefined();
    expect(throttleHintMs({ ratelimit: '"chat";r=0' }, NOW)).toBeUndefined();
  });
});

describe('throttleWaitMs', () => {
  test('a hint is honoured with at most 100 ms of jitter on top', () => {
    expect(throttleWaitMs(1_000, 1, () => 0)).toBe(1_020);
    expect(throttleWaitMs(1_000, 1, () => 0.999)).toBe(1_100);
  });

  test('without a hint the backoff doubles from 200 ms up to 2 s, jittered within its upper half', () => {
    const ceilings = [1, 2, 3, 4, 5, 6].map((n) => throttleWaitMs(undefined, n, () => 1));
    expect(ceilings).toEqual([200, 400, 800, 1_600, 2_000, 2_000]);
    expect(throttleWaitMs(undefined, 1, () => 0)).toBe(100);
  });
});

test('describeThrottling is the evidence wording of the ledger and the status', () => {
  expect(describeThrottling({ count: 2, waitedMs: 1_080 })).toBe('after 2 x 429 rate-limited, waited 1.1 s');
});

describe('stagingServiceOf', () => {
  test('scheme, lowercased host and port with its default; the path is not part of the service', () => {
    expect(stagingServiceOf('https://Staging.Example.com')).toBe('https://staging.example.com:443');
    expect(stagingServiceOf('https://staging.example.com:443/api')).toBe('https://staging.example.com:443');
    expect(stagingServiceOf('http://staging.example.com')).toBe('http://staging.example.com:80');
    expect(stagingServiceOf('http://127.0.0.1:8080/t/a')).toBe('http://127.0.0.1:8080');
    expect(stagingServiceOf('http://[::1]:9000')).toBe('http://[::1]:9000');
  });
});
