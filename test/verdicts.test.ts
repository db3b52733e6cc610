// What a set of gate results says (src/gates/results.ts) and how a throttled answer is read
// (src/gates/throttle.ts): the rules gate-results.test.ts and throttle.test.ts leave open.
// Pure functions, called as the probes and the workflows call them.
import { gateResult } from './records';
import { allPassed, describeFailures, stagingFailureMessage } from '../src/gates/results';
import {
  describeThrottling,
  THROTTLE_HEADER_NAMES,
  throttleHintMs,
  throttleWaitMs,
  type ThrottleHeaders,
} from '../src/gates/throttle';

const NOW = Date.parse('2026-12-01T10:00:00.000Z');

const result = gateResult;

const passed = (name: string) => result({ name, pass: true, status: 200 });
const throttled = (name: string, count = 6) => result({ name, status: 429, throttled: { count, waitedMs: 10_000 } });

describe('allPassed', () => {
  test.each([
    ['no results at all', [], false],
    ['every gate passed', [passed('health'), passed('db_health')], true],
    ['one gate failed among passes', [passed('health'), result({ name: 'db_health', status: 503 })], false],
    ['only the first gate failed', [result({ name: 'health', status: 503 }), passed('db_health')], false],
  ])('%s: %s', (_, results, expected) => {
    expect(allPassed(results)).toBe(expected);
  });
});

describe('describeFailures', () => {
  test('only failed gates are described, joined by ", "; all passed is the empty text', () => {
    expect(describeFailures([passed('health'), passed('db_health')])).toBe('');
    expect(
      describeFailures([
        result({ name: 'health', status: 500 }),
        passed('chat_415'),
        result({ name: 'db_health', status: 503 }),
      ]),
    ).toBe('health returned 500, db_health returned 503');
  });

  test('a gate throttled before a real verdict reports the verdict, not throttling', () => {
    // Two 429s were waited out, then the service answered 503: broken, not busy.
    const text = describeFailures([result({ name: 'db_health', status: 503, throttled: { count: 2, waitedMs: 900 } })]);
    expect(text).toBe('db_health returned 503');
  });

  test.each([
    ['no throttled record', undefined],
    ['a throttled record of zero', { count: 0, waitedMs: 0 }],
  ])('a 429 with %s is the verdict "returned 429" (the budget block), not throttling', (_, record) => {
    expect(describeFailures([result({ name: 'cost_gate_chat', status: 429, throttled: record })])).toBe(
      'cost_gate_chat returned 429',
    );
  });

  test('one throttled 429 is enough to call it kept throttling', () => {
    expect(
      describeFailures([result({ name: 'chat_happy', status: 429, throttled: { count: 1, waitedMs: 250 } })]),
    ).toBe('chat_happy kept throttling (after 1 x 429 rate-limited, waited 0.3 s)');
  });

  test('a burst that failed is described by what it counted, even when its status was 429', () => {
    const burst = result({ name: 'burst_429', status: 429, counts: { '429': 1 }, detail: '30 requests: 1 x 429' });
    expect(describeFailures([burst])).toBe('burst_429 failed (30 requests: 1 x 429)');
  });
});

describe('stagingFailureMessage', () => {
  const BUSY =
    'staging is busy (rate-limited), not broken: start a new promotion when its load drops, or raise defaults.rateLimitWaitMs in GATES_CONFIG';

  test('every failed gate kept throttling: staging is busy, whatever passed beside them', () => {
    expect(
      stagingFailureMessage([passed('health'), throttled('chat_happy'), throttled('cost_gate_chat', 2)], 'http://s'),
    ).toBe(
      `chat_happy kept throttling (after 6 x 429 rate-limited, waited 10.0 s), cost_gate_chat kept throttling (after 2 x 429 rate-limited, waited 10.0 s) on staging http://s; ${BUSY}`,
    );
  });

  test('throttled gates beside a real failure: fix the failing ones, the throttled only need a less busy staging', () => {
    expect(
      stagingFailureMessage([throttled('chat_happy'), result({ name: 'db_health', status: 503 })], 'http://s'),
    ).toBe(
      'chat_happy kept throttling (after 6 x 429 rate-limited, waited 10.0 s), db_health returned 503 on staging http://s; fix the failing gates (the throttled ones only need a less busy staging) and start a new promotion',
    );
  });

  test('a real failure first and a throttled gate after is the same mixed advice', () => {
    expect(
      stagingFailureMessage([result({ name: 'db_health', status: 503 }), throttled('chat_happy')], 'http://s'),
    ).toContain('; fix the failing gates (the throttled ones only need a less busy staging) and start a new promotion');
  });

  test('no throttling among the failures: fix staging', () => {
    expect(
      stagingFailureMessage(
        [passed('chat_happy'), result({ name: 'health' }), result({ name: 'db_health', status: 503 })],
        'https://staging.example.com',
      ),
    ).toBe(
      'health got no answer, db_health returned 503 on staging https://staging.example.com; fix staging and start a new promotion',
    );
  });
});

describe('throttleHintMs', () => {
  test.each<[string, ThrottleHeaders, number | undefined]>([
    // Retry-After: delay-seconds are digits only, surrounding spaces ignored; anything else is a date or nothing.
    ['Retry-After of several digits', { 'retry-after': '30' }, 30_000],
    ['Retry-After with spaces around it', { 'retry-after': ' 3 ' }, 3_000],
    ['Retry-After with a unit', { 'retry-after': '5s' }, undefined],
    ['Retry-After with a leading letter', { 'retry-after': 'x5' }, undefined],
    [
      'an unreadable Retry-After falls through to RateLimit-Reset',
      { 'retry-after': 'soon', 'ratelimit-reset': '4' },
      4_000,
    ],
    ['an empty Retry-After falls through to RateLimit-Reset', { 'retry-after': '  ', 'ratelimit-reset': '4' }, 4_000],
    // RateLimit-Reset: the same delta-seconds rules.
    ['RateLimit-Reset of several digits', { 'ratelimit-reset': '12' }, 12_000],
    ['RateLimit-Reset with spaces around it', { 'ratelimit-reset': ' 5 ' }, 5_000],
    ['RateLimit-Reset with a unit', { 'ratelimit-reset': '5s' }, undefined],
    ['RateLimit-Reset with a leading letter', { 'ratelimit-reset': 'x5' }, undefined],
    // The RateLimit field wins over RateLimit-Reset.
    ['RateLimit over RateLimit-Reset', { ratelimit: '"chat";r=0;t=2', 'ratelimit-reset': '9' }, 2_000],
    [
      'a RateLimit field without a reset falls through to RateLimit-Reset',
      { ratelimit: '"chat";r=0', 'ratelimit-reset': '7' },
      7_000,
    ],
  ])('%s', (_, headers, expected) => {
    expect(throttleHintMs(headers, NOW)).toBe(expected);
  });

  test.each<[string, string, number | undefined]>([
    // Drafts 3-6: a reset parameter, at the start or after a separator, of any number of digits.
    ['reset first', 'reset=3', 3_000],
    ['reset after a semicolon', 'limit=20;reset=4', 4_000],
    ['reset of two digits', 'limit=20, remaining=0, reset=12', 12_000],
    ['a parameter that only ends in reset', 'limit=20, remaining=0, xreset=9', undefined],
    // Draft 7+: t of the exhausted policies, the longest of them; all with a reset when none is exhausted.
    ['t of two digits', '"chat";r=0;t=12', 12_000],
    ['parameters spaced after their semicolons', '"chat"; r=0; t=3', 3_000],
    ['the longest of two exhausted policies', '"a";r=0;t=2, "b";r=0;t=5', 5_000],
    ['the longest of the policies when none is exhausted', '"a";r=5;t=3, "b";r=2;t=7', 7_000],
    ['an exhausted policy without t is skipped', '"a";r=0, "b";r=0;t=5', 5_000],
    ['a remaining of 10 is not exhausted', '"a";r=10;t=30, "b";r=0;t=2', 2_000],
    ['a remaining of 05 is not exhausted, 00 is', '"a";r=05;t=30, "b";r=00;t=2', 2_000],
    ['spaced parameters pick the exhausted one of two', '"hourly"; r=500; t=1800, "burst"; r=0; t=1', 1_000],
  ])('the RateLimit field, %s', (_, ratelimit, expected) => {
    expect(throttleHintMs({ ratelimit }, NOW)).toBe(expected);
  });

  test('a Retry-After date now or earlier means no wait; a later one counts from now', () => {
    expect(throttleHintMs({ 'retry-after': 'Tue, 01 Dec 2026 10:00:00 GMT' }, NOW)).toBe(0);
    expect(throttleHintMs({ 'retry-after': 'Tue, 01 Dec 2026 10:01:00 GMT' }, NOW + 30_000)).toBe(30_000);
  });

  test('the headers a throttle decision reads are the three it knows', () => {
    expect([...THROTTLE_HEADER_NAMES]).toEqual(['retry-after', 'ratelimit', 'ratelimit-reset']);
  });
});

describe('throttleWaitMs', () => {
  test('a hint of zero still waits the jitter (20 ms to 100 ms)', () => {
    expect(throttleWaitMs(0, 3, () => 0)).toBe(20);
    expect(throttleWaitMs(0, 3, () => 0.5)).toBe(60);
  });

  test('the hint ignores how often the probe was throttled', () => {
    expect(throttleWaitMs(500, 1, () => 0)).toBe(throttleWaitMs(500, 9, () => 0));
  });

  test('before any throttling the backoff starts at 200 ms, not below', () => {
    expect(throttleWaitMs(undefined, 0, () => 1)).toBe(200);
  });

  test('the backoff is jittered across the upper half of its ceiling, rounded to a whole ms', () => {
    expect(throttleWaitMs(undefined, 3, () => 0)).toBe(400);
    expect(throttleWaitMs(undefined, 3, () => 0.5)).toBe(600);
    expect(throttleWaitMs(undefined, 1, () => 0.333)).toBe(133);
  });

  test('without a random source the wait stays within its bounds', () => {
    for (let i = 0; i < 20; i++) {
      const hinted = throttleWaitMs(1_000, 1);
      expect(hinted).toBeGreaterThanOrEqual(1_020);
      expect(hinted).toBeLessThanOrEqual(1_100);
      const backoff = throttleWaitMs(undefined, 2);
      expect(backoff).toBeGreaterThanOrEqual(200);
      expect(backoff).toBeLessThanOrEqual(400);
    }
  });
});

test('describeThrottling rounds the wait to a tenth of a second', () => {
  expect(describeThrottling({ count: 0, waitedMs: 0 })).toBe('after 0 x 429 rate-limited, waited 0.0 s');
  expect(describeThrottling({ count: 12, waitedMs: 12_345 })).toBe('after 12 x 429 rate-limited, waited 12.3 s');
});
