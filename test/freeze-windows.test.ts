// Freeze windows (SPEC §9) as the registry declares them: which instant is frozen, until when, and
// how a bad entry is refused. Every instant is fixed; the Berlin dates straddle both 2026 DST changes
// (CET→CEST on 29 March, CEST→CET on 25 October).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { z } from 'zod';
import {
  activeFreeze,
  CHAIN_HORIZON_MS,
  FreezeRule,
  FreezeSettings,
  nextFreeze,
} from '../src/activities/freeze-windows';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const at = (iso: string): number => Date.parse(iso);
const parseRules = (entries: unknown[]): FreezeRule[] => z.array(FreezeRule).parse(entries);
const Environment = z.strictObject({ ...FreezeSettings });

/** What a registry entry is refused with, as "path: message" lines. */
function refusals(entry: unknown): string[] {
  const parsed = Environment.safeParse({ freezes: [entry] });
  if (parsed.success) throw new Error(`expected ${JSON.stringify(entry)} to be refused`);
  return parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

const WEEKEND_RRULE = {
  rrule: 'DTSTART:20260102T170000\nRRULE:FREQ=WEEKLY;BYDAY=FR',
  timezone: 'Europe/Berlin',
  duration: '64h',
  reason: 'weekend freeze',
};
const WEEKEND_CRON = { cron: '0 17 * * 5', timezone: 'Europe/Berlin', duration: '64h', reason: 'weekend freeze' };
const RRULE_TEXT = 'rrule DTSTART:20260102T170000 RRULE:FREQ=WEEKLY;BYDAY=FR (Europe/Berlin) for 64h';
const CRON_TEXT = 'cron 0 17 * * 5 (Europe/Berlin) for 64h';

// Friday 17:00 Berlin is 16:00Z in winter and 15:00Z in summer; 64h later is Monday 08:00 / 07:00Z,
// and across a DST change the elapsed 64h lands an hour off Monday 09:00 wall time.
const WEEKEND_CASES = [
  ['winter Saturday', '2026-01-10T12:00:00Z', '2026-01-09T16:00:00.000Z', '2026-01-12T08:00:00.000Z'],
  ['summer Saturday', '2026-07-04T12:00:00Z', '2026-07-03T15:00:00.000Z', '2026-07-06T07:00:00.000Z'],
  ['Saturday of the spring change', '2026-03-28T12:00:00Z', '2026-03-27T16:00:00.000Z', '2026-03-30T08:00:00.000Z'],
  ['Sunday of the autumn change', '2026-10-25T12:00:00Z', '2026-10-23T15:00:00.000Z', '2026-10-26T07:00:00.000Z'],
  ['exact start instant', '2026-01-09T16:00:00.000Z', '2026-01-09T16:00:00.000Z', '2026-01-12T08:00:00.000Z'],
  ['last millisecond', '2026-01-12T07:59:59.999Z', '2026-01-09T16:00:00.000Z', '2026-01-12T08:00:00.000Z'],
] as const;
const UNFROZEN = [
  ['Wednesday', '2026-01-07T12:00:00Z'],
  ['exact end instant', '2026-01-12T08:00:00.000Z'],
  ['a millisecond before the start', '2026-01-09T15:59:59.999Z'],
  ['summer Friday 16:00Z, an hour after the summer end', '2026-07-06T08:00:00Z'],
] as const;

describe('a weekly Friday 17:00 Europe/Berlin freeze for 64h', () => {
  describe.each([
    ['as an RRULE', WEEKEND_RRULE, RRULE_TEXT],
    ['as cron', WEEKEND_CRON, CRON_TEXT],
  ] as const)('%s', (_, entry, text) => {
    const rules = parseRules([entry]);

    test.each(WEEKEND_CASES)('covers the %s (%s)', (_case, instant, startedAt, endsAt) => {
      expect(activeFreeze(rules, at(instant))).toEqual({ reason: 'weekend freeze', rule: text, startedAt, endsAt });
    });

    test.each(UNFROZEN)('does not cover the %s (%s)', (_case, instant) => {
      expect(activeFreeze(rules, at(instant))).toBeUndefined();
    });
  });

  // rrule hands out dates shaped by the process zone when a rule has a TZID; these rules have none, and
  // the answer must not move with TZ. Jest cannot change its own process zone, so a child answers.
  test.each(['Pacific/Auckland', 'America/Los_Angeles'])(
    'gives the same answer in a process whose TZ is %s',
    (zone) => {
      const script = `
      const { z } = require('zod');
      const { FreezeRule, activeFreeze } = require('./src/activities/freeze-windows.ts');
      const rules = z.array(FreezeRule).parse([${JSON.stringify(WEEKEND_RRULE)}]);
      console.log(JSON.stringify({ offset: new Date('2026-01-10T00:00:00Z').getTimezoneOffset(),
        summer: activeFreeze(rules, Date.parse('2026-07-04T12:00:00Z')), winter: activeFreeze(rules, Date.parse('2026-01-10T12:00:00Z')) }));`;
      const output = execFileSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], {
        cwd: join(__dirname, '..'),
        env: { ...process.env, TZ: zone },
        encoding: 'utf8',
      });
      const { offset, summer, winter } = JSON.parse(output) as { offset: number; summer: unknown; winter: unknown };
      expect(offset).toBe(zone === 'Pacific/Auckland' ? -13 * 60 : 8 * 60);
      expect(summer).toMatchObject({ startedAt: '2026-07-03T15:00:00.000Z', endsAt: '2026-07-06T07:00:00.000Z' });
      expect(winter).toMatchObject({ startedAt: '2026-01-09T16:00:00.000Z', endsAt: '2026-01-12T08:00:00.000Z' });
    },
  );
});

describe('an RRULE that ends', () => {
  test.each([
    ['UNTIL as a date', 'UNTIL=20260110'],
    ['UNTIL as a wall time', 'UNTIL=20260109T170000'],
    ['COUNT', 'COUNT=2'],
  ])('with %s, covers its last occurrence and none after', (_, end) => {
    const rules = parseRules([
      { ...WEEKEND_RRULE, rrule: `DTSTART:20260102T170000\nRRULE:FREQ=WEEKLY;BYDAY=FR;${end}` },
    ]);
    expect(activeFreeze(rules, at('2026-01-10T12:00:00Z'))?.startedAt).toBe('2026-01-09T16:00:00.000Z');
    expect(activeFreeze(rules, at('2026-01-17T12:00:00Z'))).toBeUndefined();
  });
});

describe('wall times that DST skips or repeats', () => {
  const [rruleAt0230, cronAt0230] = parseRules([
    { rrule: 'DTSTART:20260101T023000\nRRULE:FREQ=DAILY', timezone: 'Europe/Berlin', duration: '10m', reason: 'r' },
    { cron: '30 2 * * *', timezone: 'Europe/Berlin', duration: '10m', reason: 'c' },
  ]) as [FreezeRule, FreezeRule];

  test('a skipped 02:30 is 03:30 CEST for an RRULE (RFC 5545) and 03:00 CEST for cron (Vixie cron)', () => {
    expect(activeFreeze([rruleAt0230], at('2026-03-29T01:30:00Z'))?.startedAt).toBe('2026-03-29T01:30:00.000Z');
    expect(activeFreeze([rruleAt0230], at('2026-03-29T01:05:00Z'))).toBeUndefined();
    expect(activeFreeze([cronAt0230], at('2026-03-29T01:00:00Z'))?.startedAt).toBe('2026-03-29T01:00:00.000Z');
  });

  test('a repeated 02:30 starts a freeze once, at its first (CEST) occurrence', () => {
    for (const rule of [rruleAt0230, cronAt0230]) {
      expect(activeFreeze([rule], at('2026-10-25T00:35:00Z'))?.startedAt).toBe('2026-10-25T00:30:00.000Z');
      expect(activeFreeze([rule], at('2026-10-25T01:35:00Z'))).toBeUndefined();
    }
  });
});

describe('a one-off freeze', () => {
  const rules = parseRules([{ from: '2026-12-24T00:00:00+01:00', to: '2026-12-27T00:00:00Z', reason: 'holidays' }]);

  test('covers [from, to), read with its offset', () => {
    expect(activeFreeze(rules, at('2026-12-23T23:00:00Z'))).toEqual({
      reason: 'holidays',
      rule: '2026-12-24T00:00:00+01:00–2026-12-27T00:00:00Z',
      startedAt: '2026-12-23T23:00:00.000Z',
      endsAt: '2026-12-27T00:00:00.000Z',
    });
    expect(activeFreeze(rules, at('2026-12-26T23:59:59.999Z'))?.endsAt).toBe('2026-12-27T00:00:00.000Z');
  });

  test('does not cover before from or at to', () => {
    expect(activeFreeze(rules, at('2026-12-23T22:59:59.999Z'))).toBeUndefined();
    expect(activeFreeze(rules, at('2026-12-27T00:00:00Z'))).toBeUndefined();
  });
});

describe('freezes that chain', () => {
  const rangeEndingAt = (to: string): unknown => ({ from: '2026-01-08T00:00:00Z', to, reason: 'release prep' });

  test('a range ending inside the weekend freeze ends when the weekend freeze does; reason and start are the range’s', () => {
    const rules = parseRules([WEEKEND_CRON, rangeEndingAt('2026-01-09T18:00:00Z')]);
    expect(activeFreeze(rules, at('2026-01-08T12:00:00Z'))).toEqual({
      reason: 'release prep',
      rule: '2026-01-08T00:00:00Z–2026-01-09T18:00:00Z',
      startedAt: '2026-01-08T00:00:00.000Z',
      endsAt: '2026-01-12T08:00:00.000Z',
    });
  });

  test('a range ending exactly when the weekend freeze starts chains into it; a millisecond earlier does not', () => {
    const touching = parseRules([WEEKEND_RRULE, rangeEndingAt('2026-01-09T16:00:00Z')]);
    expect(activeFreeze(touching, at('2026-01-08T12:00:00Z'))?.endsAt).toBe('2026-01-12T08:00:00.000Z');
    const apart = parseRules([WEEKEND_RRULE, rangeEndingAt('2026-01-09T15:59:59.999Z')]);
    expect(activeFreeze(apart, at('2026-01-08T12:00:00Z'))?.endsAt).toBe('2026-01-09T15:59:59.999Z');
  });

  test('of two freezes covering the instant, the earlier-starting one is reported, with the later end', () => {
    const rules = parseRules([
      WEEKEND_CRON,
      { from: '2026-01-10T00:00:00Z', to: '2026-01-20T00:00:00Z', reason: 'audit' },
    ]);
    expect(activeFreeze(rules, at('2026-01-11T00:00:00Z'))).toMatchObject({
      reason: 'weekend freeze',
      startedAt: '2026-01-09T16:00:00.000Z',
      endsAt: '2026-01-20T00:00:00.000Z',
    });
  });

  test('a daily freeze lasting 36h is found from an occurrence that started the day before, and chains up to the horizon', () => {
    const rules = parseRules([
      { rrule: 'DTSTART:20260101T000000\nRRULE:FREQ=DAILY', timezone: 'UTC', duration: '36h', reason: 'overlapping' },
    ]);
    const atMs = at('2026-06-01T06:00:00Z');
    const freeze = activeFreeze(rules, atMs);
    // Both 31 May and 1 June cover 06:00; the earlier one is reported.
    expect(freeze?.startedAt).toBe('2026-05-31T00:00:00.000Z');
    // Never free: the last start within the horizon is 1 June 2027 00:00, which ends 36h later.
    expect(new Date(atMs + CHAIN_HORIZON_MS).toISOString()).toBe('2027-06-01T06:00:00.000Z');
    expect(freeze?.endsAt).toBe('2027-06-02T12:00:00.000Z');
  });

  test('a rule firing more often than the occurrence bound ends the chain early, and asking again at endsAt goes on', () => {
    const rules = parseRules([{ cron: '*/30 * * * *', timezone: 'UTC', duration: '1h', reason: 'busy' }]);
    const first = activeFreeze(rules, at('2026-06-01T00:00:00Z'));
    // 1000 occurrences from 31 May 23:30, every 30 minutes: the last starts 21 June 19:00.
    expect(first).toMatchObject({ startedAt: '2026-05-31T23:30:00.000Z', endsAt: '2026-06-21T20:00:00.000Z' });
    expect(activeFreeze(rules, at(first!.endsAt))).toMatchObject({ startedAt: '2026-06-21T19:30:00.000Z' });
  });
});

describe('the next freeze', () => {
  const rules = parseRules([
    WEEKEND_RRULE,
    { from: '2026-01-08T09:00:00Z', to: '2026-01-08T10:00:00Z', reason: 'demo' },
  ]);

  test('is the first that starts after the instant within the span, with its own end', () => {
    expect(nextFreeze(rules, at('2026-01-07T12:00:00Z'), 7 * DAY_MS)).toEqual({
      reason: 'demo',
      rule: '2026-01-08T09:00:00Z–2026-01-08T10:00:00Z',
      startedAt: '2026-01-08T09:00:00.000Z',
      endsAt: '2026-01-08T10:00:00.000Z',
    });
    expect(nextFreeze(rules, at('2026-01-08T09:00:00Z'), 7 * DAY_MS)).toMatchObject({
      rule: RRULE_TEXT,
      startedAt: '2026-01-09T16:00:00.000Z',
      endsAt: '2026-01-12T08:00:00.000Z',
    });
  });

  test('includes a start at the end of the span and nothing past it', () => {
    const fridayStart = at('2026-01-09T16:00:00Z');
    const afterDemo = at('2026-01-08T12:00:00Z');
    expect(nextFreeze(rules, afterDemo, fridayStart - afterDemo)?.startedAt).toBe('2026-01-09T16:00:00.000Z');
    expect(nextFreeze(rules, afterDemo, fridayStart - afterDemo - 1)).toBeUndefined();
  });

  test('inside a freeze, is the one after it', () => {
    expect(nextFreeze(rules, at('2026-01-10T12:00:00Z'), 7 * DAY_MS)?.startedAt).toBe('2026-01-16T16:00:00.000Z');
  });
});

describe('the registry schema', () => {
  test('defaults to no freezes and waiting, and keeps durations in milliseconds', () => {
    expect(Environment.parse({})).toEqual({ freezes: [], onFreeze: 'wait' });
    const parsed = Environment.parse({ freezes: [WEEKEND_CRON], onFreeze: 'refuse' });
    expect(parsed).toEqual({ freezes: [{ ...WEEKEND_CRON, duration: 64 * HOUR_MS }], onFreeze: 'refuse' });
  });

  test('refuses an onFreeze other than wait or refuse, and more than 100 freezes', () => {
    const wrongMode = Environment.safeParse({ onFreeze: 'skip' });
    expect(wrongMode.error?.issues.map((issue) => issue.message)).toEqual([
      'must be "wait" (wait without the lock until the freeze ends) or "refuse" (fail with FreezeWindowActive)',
    ]);
    const tooMany = Environment.safeParse({ freezes: Array.from({ length: 101 }, () => WEEKEND_CRON) });
    expect(tooMany.error?.issues.map((issue) => issue.message)).toEqual(['must list at most 100 freezes']);
  });

  test.each([
    [
      'an RRULE part with a value out of range',
      { ...WEEKEND_RRULE, rrule: 'DTSTART:20260102T170000\nRRULE:FREQ=WEEKLY;BYHOUR=25' },
      'freezes.0.rrule: RRULE BYHOUR=25: must be a comma list of 0..23; write "DTSTART:<yyyymmddThhmmss>\\nRRULE:<rule>"',
    ],
    [
      'an unknown RRULE part',
      { ...WEEKEND_RRULE, rrule: 'DTSTART:20260102T170000\nRRULE:FREQ=WEEKLY;BYDAYS=FR' },
      'freezes.0.rrule: RRULE part "BYDAYS=FR" is not NAME=VALUE with NAME one of FREQ, INTERVAL, COUNT, UNTIL,',
    ],
    [
      'an RRULE without DTSTART',
      { ...WEEKEND_RRULE, rrule: 'RRULE:FREQ=WEEKLY;BYDAY=FR' },
      'freezes.0.rrule: must be exactly two lines, DTSTART then RRULE; write "DTSTART:<yyyymmddThhmmss>\\nRRULE:<rule>", e.g. "DTSTART:20260102T170000\\nRRULE:FREQ=WEEKLY;BYDAY=FR"',
    ],
    [
      'a DTSTART with its own zone',
      { ...WEEKEND_RRULE, rrule: 'DTSTART;TZID=Europe/Berlin:20260102T170000\nRRULE:FREQ=WEEKLY' },
      'freezes.0.rrule: the first line must be DTSTART:<yyyymmddThhmmss> without TZID or Z (the zone is "timezone")',
    ],
    [
      'a DTSTART that is no date',
      { ...WEEKEND_RRULE, rrule: 'DTSTART:20260230T170000\nRRULE:FREQ=WEEKLY' },
      'freezes.0.rrule: DTSTART 20260230T170000 is not a date and time like 20260102T170000',
    ],
    [
      'a sub-daily RRULE',
      { ...WEEKEND_RRULE, rrule: 'DTSTART:20260102T170000\nRRULE:FREQ=MINUTELY' },
      'freezes.0.rrule: RRULE FREQ=MINUTELY: must be YEARLY, MONTHLY, WEEKLY or DAILY (for a freeze more often than daily write a "cron" rule)',
    ],
    [
      'RRULE parts RFC 5545 does not combine',
      { ...WEEKEND_RRULE, rrule: 'DTSTART:20260102T170000\nRRULE:FREQ=WEEKLY;BYMONTHDAY=13' },
      'freezes.0.rrule: RRULE BYMONTHDAY does not go with FREQ=WEEKLY',
    ],
    [
      'an RRULE that never fires',
      { ...WEEKEND_RRULE, rrule: 'DTSTART:20260102T170000\nRRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30' },
      'freezes.0.rrule: never produces an occurrence (check BYMONTH/BYMONTHDAY, BYSETPOS and UNTIL against DTSTART)',
    ],
    [
      'a cron with 4 fields',
      { ...WEEKEND_CRON, cron: '0 17 * *' },
      'freezes.0.cron: has 4 field(s), not 5; write 5 fields "minute hour day-of-month month day-of-week", e.g. "0 17 * * 5"',
    ],
    ['a cron nickname', { ...WEEKEND_CRON, cron: '@weekly' }, 'freezes.0.cron: has 1 field(s), not 5; write 5 fields'],
    [
      'a cron field out of range',
      { ...WEEKEND_CRON, cron: '61 17 * * 5' },
      'freezes.0.cron: is not a cron expression (Invalid value for minute: 61); write 5 fields',
    ],
    ['a cron that never fires', { ...WEEKEND_CRON, cron: '0 0 30 2 *' }, 'freezes.0.cron: never fires; write 5 fields'],
    [
      'a time zone that is not IANA',
      { ...WEEKEND_CRON, timezone: 'CEST+2' },
      'freezes.0.timezone: "CEST+2" is not a time zone; write an IANA name like "Europe/Berlin", "America/New_York" or "UTC"',
    ],
    [
      'a range ending at its start',
      { from: '2026-12-24T00:00:00Z', to: '2026-12-24T01:00:00+01:00', reason: 'holidays' },
      'freezes.0.to: must be later than "from": a freeze covers [from, to)',
    ],
    [
      'a range bound without offset',
      { from: '2026-12-24T00:00:00', to: '2026-12-27T00:00:00Z', reason: 'holidays' },
      'freezes.0.from: must be an ISO-8601 instant with Z or an offset, e.g. "2026-12-24T00:00:00Z"',
    ],
    [
      'an unknown key',
      { ...WEEKEND_CRON, zone: 'Europe/Berlin' },
      'freezes.0: "zone" is not a setting of a "cron" freeze; remove it or fix its spelling (e.g. {"cron": "0 17 * * 5", "timezone": "Europe/Berlin", "duration": "64h", "reason": "weekend"})',
    ],
    [
      'a missing duration',
      { rrule: WEEKEND_RRULE.rrule, timezone: 'Europe/Berlin', reason: 'weekend freeze' },
      'freezes.0.duration: is required for a "rrule" freeze (e.g. {"rrule": "DTSTART:20260102T170000\\nRRULE:FREQ=WEEKLY;BYDAY=FR"',
    ],
    [
      'a bad duration',
      { ...WEEKEND_CRON, duration: '64 hours' },
      'freezes.0.duration: must be a duration like "90s", "30m", "24h" or "2d"',
    ],
    [
      'an empty reason',
      { ...WEEKEND_CRON, reason: '' },
      'freezes.0.reason: must say why the environment is frozen, e.g. "year-end code freeze" (1–200 characters)',
    ],
    [
      'both rrule and cron',
      { ...WEEKEND_CRON, rrule: WEEKEND_RRULE.rrule },
      'freezes.0: gives "rrule" and "cron"; keep one: a freeze is {rrule, timezone, duration, reason}, {cron, timezone, duration, reason} or {from, to, reason}',
    ],
    ['no schedule', { reason: 'just because' }, 'freezes.0: names no schedule; a freeze is {rrule, timezone, duration'],
  ])('refuses %s, saying what to write', (_, entry, expected) => {
    const messages = refusals(entry);
    expect(messages).toHaveLength(1);
    // The start of the message, so the example entries after it may grow without breaking this.
    expect(messages[0]?.slice(0, expected.length)).toBe(expected);
  });
});
