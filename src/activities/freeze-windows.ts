// Freeze windows (SPEC §9): the spans in which an environment's branch must not move. The worker's
// registry (ENVIRONMENTS_CONFIG) declares them per environment, the worker refuses a bad one at
// start, and a promotion asks `activeFreeze` before it takes the lock and again just before the
// push. No I/O and no clock: the caller passes the instant, so a workflow can ask at workflow time.
//
// Recurring freezes come from a library: RRULE text through `rrule` (its TZID handling returns
// dates shifted into the process zone, so rules here carry no zone: occurrences are read as wall
// times and this module places them in `timezone` itself), cron through `croner` (zone-aware).
import { Cron } from 'croner';
import { RRule } from 'rrule';
import { z } from 'zod';
import { Duration } from '../domain/fields';

const SECOND_MS = 1_000;
const MINUTE_MS = 60 * SECOND_MS;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
/** How far past the asked instant a chain of freezes is followed before `endsAt` is reported as it stands. */
export const CHAIN_HORIZON_MS = 365 * DAY_MS;
/** The most occurrences of one rule read per question; a rule firing more often shortens the horizon. */
export const MAX_OCCURRENCES_PER_RULE = 1000;

// ---------------------------------------------------------------------------------------------
// Time zones: wall clock ↔ instant, with Intl only (workflow-safe, no zone database shipped here).

const wallClockFormats = new Map<string, Intl.DateTimeFormat>();

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat(undefined, { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

function wallClockFormat(timeZone: string): Intl.DateTimeFormat {
  let format = wallClockFormats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    wallClockFormats.set(timeZone, format);
  }
  return format;
}

/** The wall clock in `timeZone` at `instantMs`, as the UTC instant with the same fields (rrule's "floating" form). */
function wallClockAt(instantMs: number, timeZone: string): number {
  const parts = wallClockFormat(timeZone).formatToParts(instantMs);
  const field = (type: Intl.DateTimeFormatPartTypes): number => Number(parts.find((part) => part.type === type)?.value);
  const wholeSeconds = Date.UTC(
    field('year'),
    field('month') - 1,
    field('day'),
    field('hour'),
    field('minute'),
    field('second'),
  );
  return wholeSeconds + (((instantMs % SECOND_MS) + SECOND_MS) % SECOND_MS);
}

/**
 * The instant at which the wall clock in `timeZone` shows `wallMs` (floating form). As RFC 5545
 * §3.3.5 reads a local time: a repeated one (autumn) is its first occurrence, a skipped one
 * (spring) is read with the offset before the gap, so 02:30 on a spring-forward night is 03:30.
 */
function instantOfWallClock(wallMs: number, timeZone: string): number {
  const offsetAt = (instantMs: number): number => wallClockAt(instantMs, timeZone) - instantMs;
  // Zones change offset at most once within two days, so the offsets a day either side are the only candidates.
  const offsetBefore = offsetAt(wallMs - DAY_MS);
  const offsetAfter = offsetAt(wallMs + DAY_MS);
  const matching = [wallMs - offsetBefore, wallMs - offsetAfter].filter(
    (instantMs) => wallClockAt(instantMs, timeZone) === wallMs,
  );
  return matching.length > 0 ? Math.min(...matching) : wallMs - offsetBefore;
}

// ---------------------------------------------------------------------------------------------
// RRULE text. The accepted form is two lines, a DTSTART without zone and an RRULE:
//   "DTSTART:20260102T170000\nRRULE:FREQ=WEEKLY;BYDAY=FR"
// DTSTART and UNTIL are wall times in the freeze's `timezone` (no TZID, no Z: one zone, one place).
// rrule itself accepts BYHOUR=25 or COUNT=x without a word, so each part is checked here first.

const RRULE_FORM =
  'write "DTSTART:<yyyymmddThhmmss>\\nRRULE:<rule>", e.g. "DTSTART:20260102T170000\\nRRULE:FREQ=WEEKLY;BYDAY=FR" ' +
  '(Fridays from 17:00; DTSTART is a wall time in "timezone")';
const WEEKDAY = '(MO|TU|WE|TH|FR|SA|SU)';

interface RrulePartRule {
  /** What a valid value looks like, in the message's words. */
  expected: string;
  valid: (value: string) => boolean;
}

/** A comma list of integers whose size is within [low, high]; `signed` also allows a leading + or - (counted from the end). */
function integerList(low: number, high: number, signed: boolean): RrulePartRule {
  const item = signed ? /^[+-]?[0-9]{1,3}$/ : /^[0-9]{1,3}$/;
  return {
    expected: signed ? `a comma list of ${low}..${high} or -${high}..-${low}` : `a comma list of ${low}..${high}`,
    valid: (value) =>
      value
        .split(',')
        .every((text) => item.test(text) && Math.abs(Number(text)) >= low && Math.abs(Number(text)) <= high),
  };
}

/** `yyyymmdd` or `yyyymmddThhmmss` naming a real date and time (no 30 February, no 24:00). */
function isCalendarStamp(stamp: string): boolean {
  const match = /^([0-9]{4})([0-9]{2})([0-9]{2})(?:T([0-9]{2})([0-9]{2})([0-9]{2}))?$/.exec(stamp);
  if (!match) return false;
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0] = match
    .slice(1)
    .map((digits) => Number(digits ?? 0));
  // Date.UTC rolls an impossible date over (30 Feb → 2 Mar), so a real one reads back the same.
  const readBack = new Date(Date.UTC(year, month - 1, day, hour, minute, second)).toISOString().replace(/[-:]/g, '');
  return readBack.startsWith(stamp);
}

const RRULE_PARTS: Record<string, RrulePartRule> = {
  // Sub-daily rules are refused: rrule walks every occurrence from DTSTART, which a cron rule does not.
  FREQ: {
    expected: 'YEARLY, MONTHLY, WEEKLY or DAILY (for a freeze more often than daily write a "cron" rule)',
    valid: (value) => /^(YEARLY|MONTHLY|WEEKLY|DAILY)$/.test(value),
  },
  INTERVAL: { expected: 'a whole number 1..1000', valid: (value) => /^[1-9][0-9]{0,2}$|^1000$/.test(value) },
  COUNT: { expected: 'a whole number 1..100000', valid: (value) => /^[1-9][0-9]{0,4}$|^100000$/.test(value) },
  UNTIL: {
    expected: 'a wall time like 20261231T235959 or a date like 20261231 (no Z: it is read in "timezone")',
    valid: (value) => isCalendarStamp(value),
  },
  BYSECOND: integerList(0, 59, false),
  BYMINUTE: integerList(0, 59, false),
  BYHOUR: integerList(0, 23, false),
  BYDAY: {
    expected: 'a comma list of MO TU WE TH FR SA SU, each optionally after a position like 1 or -1 (1MO, -1FR)',
    valid: (value) =>
      value.split(',').every((day) => new RegExp(`^([+-]?([1-9]|[1-4][0-9]|5[0-3]))?${WEEKDAY}$`).test(day)),
  },
  BYMONTHDAY: integerList(1, 31, true),
  BYYEARDAY: integerList(1, 366, true),
  BYWEEKNO: integerList(1, 53, true),
  BYMONTH: integerList(1, 12, false),
  BYSETPOS: integerList(1, 366, true),
  WKST: { expected: 'one of MO TU WE TH FR SA SU', valid: (value) => new RegExp(`^${WEEKDAY}$`).test(value) },
};

/** The rule's NAME=VALUE parts, or what is wrong with one of them. */
function rruleParts(rule: string): Map<string, string> | string {
  const parts = new Map<string, string>();
  for (const part of rule.split(';')) {
    const [name = '', value, extra] = part.split('=');
    const check = RRULE_PARTS[name];
    if (!check || value === undefined || extra !== undefined)
      return `RRULE part "${part}" is not NAME=VALUE with NAME one of ${Object.keys(RRULE_PARTS).join(', ')}`;
    if (parts.has(name)) return `RRULE gives ${name} twice`;
    if (!check.valid(value)) return `RRULE ${name}=${value}: must be ${check.expected}`;
    parts.set(name, value);
  }
  return parts;
}

/** RFC 5545 §3.3.10's limits on which parts go together, which rrule does not enforce. */
function rrulePartsProblem(rule: string): string | undefined {
  const parts = rruleParts(rule);
  if (typeof parts === 'string') return parts;
  const freq = parts.get('FREQ');
  if (!freq) return 'RRULE needs FREQ (YEARLY, MONTHLY, WEEKLY or DAILY)';
  if (parts.has('COUNT') && parts.has('UNTIL')) return 'RRULE gives both COUNT and UNTIL; keep one';
  if (freq !== 'YEARLY' && (parts.has('BYWEEKNO') || parts.has('BYYEARDAY')))
    return `RRULE BYWEEKNO and BYYEARDAY go only with FREQ=YEARLY, not FREQ=${freq}`;
  if (freq === 'WEEKLY' && parts.has('BYMONTHDAY')) return 'RRULE BYMONTHDAY does not go with FREQ=WEEKLY';
  if ((freq === 'DAILY' || freq === 'WEEKLY') && /[0-9]/.test(parts.get('BYDAY') ?? ''))
    return `RRULE BYDAY positions (like 1MO or -1FR) go only with FREQ=MONTHLY or YEARLY, not FREQ=${freq}`;
  return undefined;
}

/** The text's lines, trimmed: rrule trims only the start of a line. */
const rruleLines = (text: string): string[] =>
  text
    .trim()
    .split(/\r?\n/)
    .map((line) => line.trim());

/** A fresh reading per question, uncached: rrule's cache keeps every window it was asked about. */
const recurrenceOf = (text: string): RRule => new RRule(RRule.parseString(rruleLines(text).join('\n')), true);

/** What is wrong with an `rrule` text, in the platform owner's words, or undefined when it is a rule this module reads. */
function rruleProblem(text: string): string | undefined {
  const [dtstart = '', rule = '', ...more] = rruleLines(text);
  if (more.length > 0 || !rule) return `must be exactly two lines, DTSTART then RRULE; ${RRULE_FORM}`;
  const start = /^DTSTART:(.*)$/.exec(dtstart)?.[1];
  if (start === undefined || /[;Z]/i.test(dtstart))
    return `the first line must be DTSTART:<yyyymmddThhmmss> without TZID or Z (the zone is "timezone"); ${RRULE_FORM}`;
  if (!/^[0-9]{8}T[0-9]{6}$/.test(start) || !isCalendarStamp(start))
    return `DTSTART ${start} is not a date and time like 20260102T170000; ${RRULE_FORM}`;
  const parts = /^RRULE:(.*)$/.exec(rule)?.[1];
  if (parts === undefined) return `the second line must start with "RRULE:"; ${RRULE_FORM}`;
  const partsProblem = rrulePartsProblem(parts);
  if (partsProblem) return `${partsProblem}; ${RRULE_FORM}`;
  let recurrence: RRule;
  try {
    recurrence = recurrenceOf(text);
  } catch (err) {
    return `is not a recurrence rule rrule can read (${(err as Error).message}); ${RRULE_FORM}`;
  }
  // A rule that never fires would make every later question walk to the year 9999: refuse it here.
  if (recurrence.all((_, count) => count < 1).length === 0)
    return 'never produces an occurrence (check BYMONTH/BYMONTHDAY, BYSETPOS and UNTIL against DTSTART)';
  return undefined;
}

const CRON_FORM =
  'write 5 fields "minute hour day-of-month month day-of-week", e.g. "0 17 * * 5" (Fridays at 17:00 in "timezone")';

/** What is wrong with a `cron` text, or undefined when it is a 5-field expression croner reads and that fires. */
function cronProblem(text: string): string | undefined {
  // croner also takes nicknames (@daily) and ISO dates as one-off patterns: only 5 fields are a cron rule here.
  const fields = text.trim().split(/\s+/);
  if (fields.length !== 5) return `has ${fields.length} field(s), not 5; ${CRON_FORM}`;
  try {
    if (!new Cron(text, { mode: '5-part' }).nextRun(new Date(0))) return `never fires; ${CRON_FORM}`;
  } catch (err) {
    return `is not a cron expression (${(err as Error).message.replace(/^CronPattern: /, '')}); ${CRON_FORM}`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The registry's schema.

const Reason = z
  .string()
  .min(1, 'must say why the environment is frozen, e.g. "year-end code freeze" (1–200 characters)')
  .max(200, 'must be at most 200 characters');

const TimeZone = z.string().refine(isTimeZone, {
  error: (issue) =>
    `${JSON.stringify(issue.input)} is not a time zone; write an IANA name like "Europe/Berlin", "America/New_York" or "UTC"`,
});

const RruleText = z
  .string()
  .max(1000, 'must be at most 1000 characters')
  .superRefine((text, ctx) => {
    const problem = rruleProblem(text);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

const CronText = z
  .string()
  .max(200, 'must be at most 200 characters')
  .superRefine((text, ctx) => {
    const problem = cronProblem(text);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

const Instant = z.iso.datetime({
  offset: true,
  error: 'must be an ISO-8601 instant with Z or an offset, e.g. "2026-12-24T00:00:00Z" or "2026-12-24T00:00:00+01:00"',
});

/** Each occurrence of `rrule` (wall times in `timezone`) starts a freeze lasting `duration` (elapsed time, in ms once parsed). */
const RruleFreeze = z.strictObject({ rrule: RruleText, timezone: TimeZone, duration: Duration, reason: Reason });
/** Each firing of `cron` in `timezone` starts a freeze lasting `duration`. */
const CronFreeze = z.strictObject({ cron: CronText, timezone: TimeZone, duration: Duration, reason: Reason });
/** A one-off freeze over [from, to). */
const RangeFreeze = z.strictObject({ from: Instant, to: Instant, reason: Reason }).refine(
  // An unreadable instant is reported by its own field; comparing it would add a second, wrong message.
  (range) =>
    !Instant.safeParse(range.from).success ||
    !Instant.safeParse(range.to).success ||
    Date.parse(range.from) < Date.parse(range.to),
  { path: ['to'], message: 'must be later than "from": a freeze covers [from, to)' },
);
type RruleFreeze = z.output<typeof RruleFreeze>;
type CronFreeze = z.output<typeof CronFreeze>;
type RangeFreeze = z.output<typeof RangeFreeze>;

type FreezeForm = RruleFreeze | CronFreeze | RangeFreeze;
interface FreezeKind {
  /** The key that names this form in an entry. */
  key: string;
  schema: z.ZodType<FreezeForm>;
  /** A whole entry of this form, for the messages. */
  example: string;
}
const FREEZE_KINDS: FreezeKind[] = [
  {
    key: '"rrule"',
    schema: RruleFreeze,
    example:
      '{"rrule": "DTSTART:20260102T170000\\nRRULE:FREQ=WEEKLY;BYDAY=FR", "timezone": "Europe/Berlin", "duration": "64h", "reason": "weekend"}',
  },
  {
    key: '"cron"',
    schema: CronFreeze,
    example: '{"cron": "0 17 * * 5", "timezone": "Europe/Berlin", "duration": "64h", "reason": "weekend"}',
  },
  {
    key: '"from"/"to"',
    schema: RangeFreeze,
    example: '{"from": "2026-12-24T00:00:00Z", "to": "2026-12-27T00:00:00Z", "reason": "holidays"}',
  },
];
const FREEZE_FORMS =
  'a freeze is {rrule, timezone, duration, reason}, {cron, timezone, duration, reason} or {from, to, reason}';

/** The one form an entry is written in, by the keys it has, so its errors are that form's and not a union's "Invalid input". */
function freezeKindOf(input: unknown): FreezeKind | string {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return `must be an object; ${FREEZE_FORMS}`;
  const [rrule, cron, range] = FREEZE_KINDS as [FreezeKind, FreezeKind, FreezeKind];
  const named = [
    'rrule' in input && rrule,
    'cron' in input && cron,
    ('from' in input || 'to' in input) && range,
  ].filter((kind) => kind !== false);
  const [kind, ...others] = named;
  if (!kind) return `names no schedule; ${FREEZE_FORMS}`;
  if (others.length > 0) return `gives ${named.map((each) => each.key).join(' and ')}; keep one: ${FREEZE_FORMS}`;
  return kind;
}

/** A zod issue in the platform owner's words: what is missing or unknown, with an entry to copy. */
function ownerMessage(issue: z.core.$ZodIssue, input: object, kind: FreezeKind): string {
  if (issue.code === 'unrecognized_keys')
    return `${issue.keys.map((key) => `"${key}"`).join(', ')} is not a setting of a ${kind.key} freeze; remove it or fix its spelling (e.g. ${kind.example})`;
  const [field] = issue.path;
  if (issue.code === 'invalid_type' && issue.path.length === 1 && typeof field === 'string' && !(field in input))
    return `is required for a ${kind.key} freeze (e.g. ${kind.example})`;
  return issue.message;
}

/** One freeze of an environment's registry entry: recurring by RRULE or cron, or one-off. */
export const FreezeRule = z.unknown().transform((input, ctx): FreezeForm => {
  const kind = freezeKindOf(input);
  if (typeof kind === 'string') {
    ctx.addIssue({ code: 'custom', message: kind, input });
    return z.NEVER;
  }
  const parsed = kind.schema.safeParse(input);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues)
    ctx.addIssue({ code: 'custom', path: issue.path, message: ownerMessage(issue, input as object, kind), input });
  return z.NEVER;
});
export type FreezeRule = z.output<typeof FreezeRule>;

/** An environment's freeze settings, spread into its registry schema (a plain object of schemas). */
export const FreezeSettings = {
  freezes: z.array(FreezeRule).max(100, 'must list at most 100 freezes').default([]),
  onFreeze: z
    .enum(['wait', 'refuse'], {
      error: 'must be "wait" (wait without the lock until the freeze ends) or "refuse" (fail with FreezeWindowActive)',
    })
    .default('wait'),
};

// ---------------------------------------------------------------------------------------------
// Occurrences and chains.

export interface ActiveFreeze {
  reason: string;
  /** The rule in short words: `cron 0 17 * * 5 (Europe/Berlin) for 64h`. */
  rule: string;
  /** ISO-8601 UTC. */
  startedAt: string;
  /** ISO-8601 UTC: the first instant at which no freeze is active (see `activeFreeze` for the bound). */
  endsAt: string;
}

/** One occurrence of a rule: frozen over [startMs, endMs). */
interface Occurrence {
  startMs: number;
  endMs: number;
  rule: FreezeRule;
}

/** Occurrences of every rule in start order, complete for starts up to `completeUntilMs`. */
interface Occurrences {
  list: Occurrence[];
  completeUntilMs: number;
}

const isRrule = (rule: FreezeRule): rule is RruleFreeze => 'rrule' in rule;
const isCron = (rule: FreezeRule): rule is CronFreeze => 'cron' in rule;

/** Starts of `rule` in (afterMs, untilMs], at most MAX_OCCURRENCES_PER_RULE. */
function rruleStarts(rule: RruleFreeze, afterMs: number, untilMs: number): number[] {
  const recurrence = recurrenceOf(rule.rrule);
  // rrule counts in floating wall time: widen by a day (more than any zone offset change), then filter on instants.
  const walls = recurrence.between(
    new Date(wallClockAt(afterMs, rule.timezone) - DAY_MS),
    new Date(wallClockAt(untilMs, rule.timezone) + DAY_MS),
    true,
    (_, count) => count < MAX_OCCURRENCES_PER_RULE,
  );
  return walls
    .map((wall) => instantOfWallClock(wall.getTime(), rule.timezone))
    .filter((startMs) => startMs > afterMs && startMs <= untilMs);
}

/** Firings of `rule` in (afterMs, untilMs], at most MAX_OCCURRENCES_PER_RULE. */
function cronStarts(rule: CronFreeze, afterMs: number, untilMs: number): number[] {
  const cron = new Cron(rule.cron, { mode: '5-part', timezone: rule.timezone });
  const starts: number[] = [];
  // nextRun is exclusive of the date it is given.
  for (let run = cron.nextRun(new Date(afterMs)); run && run.getTime() <= untilMs; run = cron.nextRun(run)) {
    starts.push(run.getTime());
    if (starts.length === MAX_OCCURRENCES_PER_RULE) break;
  }
  return starts;
}

/** Occurrences of one rule still active after `fromMs` and starting by `untilMs`. */
function occurrencesOf(rule: FreezeRule, fromMs: number, untilMs: number): Occurrences {
  if (!isRrule(rule) && !isCron(rule)) {
    const [startMs, endMs] = [Date.parse(rule.from), Date.parse(rule.to)];
    const list = endMs > fromMs && startMs <= untilMs ? [{ startMs, endMs, rule }] : [];
    return { list, completeUntilMs: untilMs };
  }
  // An occurrence still active after fromMs started less than `duration` before it.
  const afterMs = fromMs - rule.duration;
  const starts = isRrule(rule) ? rruleStarts(rule, afterMs, untilMs) : cronStarts(rule, afterMs, untilMs);
  const list = starts.map((startMs) => ({ startMs, endMs: startMs + rule.duration, rule }));
  const lastStart = starts[starts.length - 1];
  const truncated = starts.length >= MAX_OCCURRENCES_PER_RULE && lastStart !== undefined;
  return { list, completeUntilMs: truncated ? Math.min(untilMs, lastStart) : untilMs };
}

function occurrencesAround(rules: readonly FreezeRule[], fromMs: number, untilMs: number): Occurrences {
  const perRule = rules.map((rule) => occurrencesOf(rule, fromMs, untilMs));
  return {
    // A stable sort: among equal starts, the rule listed first comes first.
    list: perRule.flatMap((occurrences) => occurrences.list).sort((a, b) => a.startMs - b.startMs),
    completeUntilMs: Math.min(untilMs, ...perRule.map((occurrences) => occurrences.completeUntilMs)),
  };
}

/**
 * The first instant after `fromMs` at which no occurrence is active, following occurrences that
 * overlap or touch (one starts when another ends). Only starts up to `completeUntilMs` are known.
 */
function chainEnd(occurrences: Occurrences, fromMs: number): number {
  let endMs = fromMs;
  for (const occurrence of occurrences.list) {
    if (occurrence.startMs > endMs || occurrence.startMs > occurrences.completeUntilMs) break;
    endMs = Math.max(endMs, occurrence.endMs);
  }
  return endMs;
}

function durationText(ms: number): string {
  const units: [string, number][] = [
    ['d', DAY_MS],
    ['h', HOUR_MS],
    ['m', MINUTE_MS],
    ['s', SECOND_MS],
  ];
  const [unit, unitMs] = units.find(([, size]) => ms % size === 0) ?? ['ms', 1];
  return `${ms / unitMs}${unit}`;
}

/** The rule as the registry wrote it, on one line. */
function ruleText(rule: FreezeRule): string {
  if (isRrule(rule))
    return `rrule ${rruleLines(rule.rrule).join(' ')} (${rule.timezone}) for ${durationText(rule.duration)}`;
  if (isCron(rule)) return `cron ${rule.cron.trim()} (${rule.timezone}) for ${durationText(rule.duration)}`;
  return `${rule.from}–${rule.to}`;
}

function describe(occurrence: Occurrence, endsMs: number): ActiveFreeze {
  return {
    reason: occurrence.rule.reason,
    rule: ruleText(occurrence.rule),
    startedAt: new Date(occurrence.startMs).toISOString(),
    endsAt: new Date(endsMs).toISOString(),
  };
}

/**
 * The freeze covering `atMs` (an occurrence covers [start, start + duration)), or undefined.
 * `reason`, `rule` and `startedAt` are the earliest-starting covering occurrence's (the rule listed
 * first on a tie); `endsAt` is the first instant at which no freeze is active, across overlapping
 * or touching freezes of any rule. The chain is followed for starts up to CHAIN_HORIZON_MS past
 * `atMs` (less when a rule fires more than MAX_OCCURRENCES_PER_RULE times in that span); at that
 * bound `endsAt` is the end of the last occurrence reached, a freeze may still be active then, and
 * asking again at `endsAt` (as a waiting promotion does) finds the rest.
 */
export function activeFreeze(rules: readonly FreezeRule[], atMs: number): ActiveFreeze | undefined {
  const occurrences = occurrencesAround(rules, atMs, atMs + CHAIN_HORIZON_MS);
  const covering = occurrences.list.find((occurrence) => occurrence.startMs <= atMs && atMs < occurrence.endMs);
  return covering && describe(covering, chainEnd(occurrences, atMs));
}

/**
 * The first freeze starting in (atMs, atMs + withinMs], for a dry run's "a freeze starts at …";
 * its `endsAt` follows the chain as `activeFreeze` does. A freeze already active at `atMs` is
 * `activeFreeze`'s answer, not this one's.
 */
export function nextFreeze(rules: readonly FreezeRule[], atMs: number, withinMs: number): ActiveFreeze | undefined {
  const occurrences = occurrencesAround(rules, atMs, atMs + withinMs + CHAIN_HORIZON_MS);
  const lastStartMs = Math.min(atMs + withinMs, occurrences.completeUntilMs);
  const next = occurrences.list.find((occurrence) => occurrence.startMs > atMs && occurrence.startMs <= lastStartMs);
  return next && describe(next, chainEnd(occurrences, next.startMs));
}
