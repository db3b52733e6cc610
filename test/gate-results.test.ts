// How a promotion words its gate failures (a pure function of the results).
import { gateResult } from './records';
import { describeFailures, stagingFailureMessage } from '../src/gates/results';

const result = gateResult;

test('a burst that got 30 x 404 says what it counted, not that it got no answer', () => {
  const burst = result({ name: 'burst_429', counts: { '404': 30 }, detail: '30 requests: 30 x 404, 0 x 429, 0 x 5xx' });
  expect(describeFailures([burst])).toBe('burst_429 failed (30 requests: 30 x 404, 0 x 429, 0 x 5xx)');
});

test('a gate without an answer, one with a status and one that kept throttling are each worded for what happened', () => {
  const text = describeFailures([
    result({ name: 'health' }),
    result({ name: 'db_health', status: 503 }),
    result({ name: 'chat_happy', status: 429, throttled: { count: 6, waitedMs: 10_000 } }),
    result({ name: 'chat_415', pass: true, status: 415 }),
  ]);
  expect(text).toBe(
    'health got no answer, db_health returned 503, chat_happy kept throttling (after 6 x 429 rate-limited, waited 10.0 s)',
  );
});

test('staging that only throttled is called busy, not broken; a real failure sends the operator to fix staging', () => {
  const busy = stagingFailureMessage(
    [result({ name: 'chat_happy', status: 429, throttled: { count: 2, waitedMs: 10_000 } })],
    'http://s',
  );
  expect(busy).toContain('staging is busy (rate-limited), not broken');
  expect(busy).not.toContain('fix staging');
  const broken = stagingFailureMessage([result({ name: 'db_health', status: 503 })], 'http://s');
  expect(broken).toContain('fix staging and start a new promotion');
});
