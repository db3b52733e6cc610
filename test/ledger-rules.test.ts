// The ledger's rules as functions, for mutation testing: the text format (rendering, escaping,
// scanning, the chain), what an entry says from a final status, the index built from a file, and
// the per-target references. Every value a reader or auditor sees is pinned exactly.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { appendFile, mkdtemp, open, rename, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { GateResult, PromotionPlan, PromotionStatus, RollbackPlan, RollbackStatus } from '../src/domain';
import { gateLine, ledgerFields, type LedgerFields, type LedgerRecord, type LedgerValue } from '../src/ledger/entry';
import { promotionEntry, rollbackEntry, type EntryAuthor } from '../src/ledger/entry-content';
import { nodeLedgerFiles, type LedgerFiles } from '../src/ledger/files';
import {
  chainOf,
  fieldText,
  GENESIS_CHAIN,
  LEDGER_HEADING,
  parseLedger,
  PROMOTION_KEYS,
  QUOTED_KEYS,
  renderBlock,
  renderEntryBody,
  ROLLBACK_KEYS,
  scanLedger,
  type ParsedEntry,
} from '../src/ledger/format';
import { ledgerIndex, requireVerified } from '../src/ledger/ledger-index';
import {
  driftReference,
  emptyTargetReferences,
  lastKnownGood,
  noteEntry,
  type TargetReferences,
} from '../src/ledger/target-references';
import { NOT_A_RELEASE_LOG } from '../src/ledger/verify';
import { gate, promotion, rollback } from './records';

const ID1 = '20261124-2231-rc1';
const ID2 = '20261124-2231-rc2';
const RB1 = '20261124-2231-rb1';
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);
const D = 'd'.repeat(40);
const REPO = '/srv/git/chat.git';
const SEED = path.join(__dirname, 'fixtures', 'seed-release-log.md');

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
/** Parses lines joined with newlines (and a final one). */
const parseLines = (lines: string[]) => parseLedger(`${lines.join('\n')}\n`);
/** The one line an entry of these fields renders for `key`. */
const renderedLine = (key: string, value: LedgerValue) =>
  renderEntryBody([
    ['release_id', ID1],
    [key, value],
  ]).split('\n')[1];

// ---------------------------------------------------------------------------------------------
// format.ts
// ---------------------------------------------------------------------------------------------

describe('the format constants', () => {
  test('the heading is the seed file’s first paragraphs, byte for byte', () => {
    const seed = readFileSync(SEED, 'utf8');
    expect(LEDGER_HEADING).toBe(
      '# Release Log (Append-Only)\n\nUse this file to record promotions and rollbacks. Do not overwrite existing entries; append new entries in chronological order. Evidence must reference staging gates and post-promotion checks. Do not paste secrets.\n',
    );
    expect(seed.startsWith(LEDGER_HEADING)).toBe(true);
  });

  test('the genesis chain is 64 zeros', () => {
    expect(GENESIS_CHAIN).toBe('0000000000000000000000000000000000000000000000000000000000000000');
  });

  test('the promotion and rollback keys are the seed templates’ keys in their order', () => {
    const seed = readFileSync(SEED, 'utf8');
    const templateKeys = (heading: string) => {
      const block = seed.slice(seed.indexOf(heading)).split('```')[1] as string;
      return block
        .split('\n')
        .map((l) => /^(?:- | {2})([a-z_]+):/.exec(l)?.[1])
        .filter((k): k is string => k !== undefined);
    };
    expect([...PROMOTION_KEYS]).toEqual(templateKeys('## Promotion Entry Template'));
    expect([...ROLLBACK_KEYS]).toEqual(templateKeys('## Rollback Entry Template'));
    expect([...PROMOTION_KEYS]).toEqual([
      'release_id',
      'type',
      'commit_sha',
      'environment',
      'from_branch',
      'to_branch',
      'staging_base',
      'staging_gate_command',
      'staging_gate_result',
      'gates_run',
      'change_class',
      'prod_verification',
      'result',
      'rollback_plan',
      'notes',
      'operator',
      'evidence_refs',
      'cost_control_evidence',
    ]);
    expect([...ROLLBACK_KEYS]).toEqual([
      'release_id',
      'type',
      'trigger',
      'from_sha',
      'to_sha',
      'environment',
      'actions',
      'post_rollback_verification',
      'result',
      'notes',
      'operator',
      'evidence_refs',
    ]);
  });

  test('exactly notes, rollback_plan, evidence_refs and trigger are free text (quoted)', () => {
    expect([...QUOTED_KEYS].sort()).toEqual(['evidence_refs', 'notes', 'rollback_plan', 'trigger']);
  });
});

describe('rendering an entry', () => {
  test('an entry renders as one line per key, a list as its items, an empty list as [], each line ending in a newline', () => {
    const body = renderEntryBody([
      ['release_id', ID1],
      ['type', 'promotion'],
      ['gates_run', ['health: pass (200, 12 ms)', 'db_health: fail (503, 9 ms)']],
      ['prod_verification', []],
      ['notes', 'all "good"\nreally'],
      ['operator', 'alice'],
    ]);
    expect(body).toBe(
      [
        `- release_id: ${ID1}`,
        '  type: promotion',
        '  gates_run:',
        '    - health: pass (200, 12 ms)',
        '    - db_health: fail (503, 9 ms)',
        '  prod_verification: []',
        '  notes: "all \\"good\\"\\nreally"',
        '  operator: alice',
        '',
      ].join('\n'),
    );
  });

  test.each([...QUOTED_KEYS])('%s is written as a JSON string and reads back as written', (key) => {
    const value = 'line one\nline two "two" \\ end';
    expect(renderedLine(key, value)).toBe(`  ${key}: ${JSON.stringify(value)}`);
    const block = renderBlock(
      [
        ['release_id', ID1],
        [key, value],
      ],
      GENESIS_CHAIN,
    );
    expect(parseLedger(block.text).entries[0]?.fields.get(key)?.value).toBe(value);
  });

  test('a key that is not free text is written plain, quotes and all', () => {
    expect(renderedLine('operator', 'say "hi"')).toBe('  operator: say "hi"');
    expect(renderedLine('drift', 'expected a, found b')).toBe('  drift: expected a, found b');
  });

  test.each([
    ['\u007f', '\\u007f'],
    ['\u0080', '\\u0080'],
    ['\u0085', '\\u0085'],
    ['\u009f', '\\u009f'],
    ['\u061c', '\\u061c'],
    ['\u200e', '\\u200e'],
    ['\u200f', '\\u200f'],
    ['\u2028', '\\u2028'],
    ['\u2029', '\\u2029'],
    ['\u202a', '\\u202a'],
    ['\u202e', '\\u202e'],
    ['\u2066', '\\u2066'],
    ['\u2069', '\\u2069'],
    ['\n', '\\n'],
    ['\u0000', '\\u0000'],
    ['\u001f', '\\u001f'],
  ])('free text escapes U+%j as %s, every occurrence, and reads it back', (ch, escape) => {
    const value = `a${ch}b${ch}c`;
    const line = renderedLine('notes', value);
    expect(line).toBe(`  notes: "a${escape}b${escape}c"`);
    expect(JSON.parse(line?.slice('  notes: '.length) ?? '')).toBe(value);
  });

  test.each(['~', ' ', '\u00a0', '\u061b', '\u061d', '\u200d', '\u2010', '\u2027', '\u202f', '\u2065', '\u206a', 'é'])(
    'free text keeps %j (no line break, no reordering) as it is',
    (ch) => {
      expect(renderedLine('notes', `a${ch}b`)).toBe(`  notes: "a${ch}b"`);
      expect(renderedLine('operator', `a${ch}b`)).toBe(`  operator: a${ch}b`);
    },
  );

  test.each([
    '\u0000',
    '\t',
    '\n',
    '\r',
    '\u001f',
    '\u007f',
    '\u0080',
    '\u0085',
    '\u009f',
    '\u061c',
    '\u200e',
    '\u200f',
    '\u2028',
    '\u2029',
    '\u202e',
    '\u2066',
    '\u2069',
  ])('a plain value, a list item and the release id collapse %j to a space', (ch) => {
    expect(renderedLine('operator', `a${ch}b`)).toBe('  operator: a b');
    expect(renderEntryBody([['release_id', `${ID1}${ch}x`]])).toBe(`- release_id: ${ID1} x\n`);
    expect(
      renderEntryBody([
        ['release_id', ID1],
        ['actions', [`a${ch}b`]],
      ]),
    ).toBe(`- release_id: ${ID1}\n  actions:\n    - a b\n`);
  });

  test('a run of line-breaking characters becomes one space, ordinary spaces stay, and the ends are trimmed', () => {
    expect(renderedLine('operator', 'a\u0085\u2028\u202e\nb')).toBe('  operator: a b');
    expect(renderedLine('operator', 'a  b')).toBe('  operator: a  b');
    expect(renderedLine('operator', '  a b \u2028')).toBe('  operator: a b');
    expect(renderedLine('actions', [' \u2028x\t'])).toBe('  actions:');
    expect(
      renderEntryBody([
        ['release_id', ` ${ID1} `],
        ['actions', [' \u2028x\t']],
      ]),
    ).toBe(`- release_id: ${ID1}\n  actions:\n    - x\n`);
  });

  test.each<[string, LedgerFields]>([
    ['no fields', []],
    ['a first key other than release_id', [['type', 'promotion']]],
    ['a list as the release id', [['release_id', [ID1]]]],
  ])('an entry with %s is refused: it must start with release_id', (_name, fields) => {
    expect(() => renderEntryBody(fields)).toThrow(new Error('a ledger entry starts with release_id'));
    expect(() => renderBlock(fields, GENESIS_CHAIN)).toThrow('a ledger entry starts with release_id');
  });

  test('the chain is sha256 of the previous chain, a newline and the body, in hex', () => {
    expect(chainOf(GENESIS_CHAIN, 'body\n')).toBe(sha256(`${GENESIS_CHAIN}\nbody\n`));
    expect(chainOf('x', '')).toBe(sha256('x\n'));
  });

  test('a block is a blank line, a fence, the body, the chain line over it, and a closing fence', () => {
    const fields: LedgerFields = [
      ['release_id', ID1],
      ['type', 'promotion'],
    ];
    const body = `- release_id: ${ID1}\n  type: promotion\n`;
    const previous = '1'.repeat(64);
    const block = renderBlock(fields, previous);
    expect(block.chain).toBe(sha256(`${previous}\n${body}`));
    expect(block.text).toBe(`\n\`\`\`\n${body}  chain: sha256:${block.chain}\n\`\`\`\n`);
  });
});

describe('scanning a ledger', () => {
  const ENTRY = ['```', `- release_id: ${ID1}`, '  type: promotion', '```'];

  test('an entry’s keys, values, line numbers, body and chain are read back from its block', () => {
    const fields: LedgerFields = [
      ['release_id', ID1],
      ['type', 'promotion'],
      ['gates_run', ['health: pass', 'db: pass']],
      ['prod_verification', []],
      ['notes', 'a\nb'],
      ['operator', 'alice'],
    ];
    const block = renderBlock(fields, GENESIS_CHAIN);
    const { entries, problems } = parseLedger(`# Release Log\n${block.text}`);
    expect(problems).toEqual([]);
    expect(entries).toHaveLength(1);
    const [entry] = entries as [ParsedEntry];
    expect(entry.releaseId).toBe(ID1);
    expect(entry.line).toBe(4);
    expect(entry.keys).toEqual(['release_id', 'type', 'gates_run', 'prod_verification', 'notes', 'operator']);
    expect([...entry.fields.entries()]).toEqual([
      ['release_id', { line: 4, value: ID1 }],
      ['type', { line: 5, value: 'promotion' }],
      ['gates_run', { line: 6, value: ['health: pass', 'db: pass'] }],
      ['prod_verification', { line: 9, value: [] }],
      ['notes', { line: 10, value: 'a\nb' }],
      ['operator', { line: 11, value: 'alice' }],
    ]);
    expect(entry.body).toBe(renderEntryBody(fields));
    expect(entry.chain).toBe(block.chain);
    expect(entry.chainLine).toBe(12);
  });

  test('an entry without a chain has the lines up to its closing fence as its body', () => {
    const chained = renderBlock(
      [
        ['release_id', ID1],
        ['type', 'promotion'],
      ],
      GENESIS_CHAIN,
    ).text;
    const { entries, problems } = parseLedger(
      `${chained}\`\`\`\n- release_id: ${ID2}\n  type: promotion\n  operator: bob\n\`\`\`\n`,
    );
    expect(problems).toEqual([]);
    expect(entries.map((e) => e.releaseId)).toEqual([ID1, ID2]);
    expect(entries[1]?.body).toBe(`- release_id: ${ID2}\n  type: promotion\n  operator: bob\n`);
    expect(entries[1]?.chain).toBeUndefined();
    expect(entries[1]?.chainLine).toBeUndefined();
  });

  test('scanLedger hands each entry over when its block closes, in file order, and returns the problems', () => {
    const seen: string[] = [];
    const problems = scanLedger(
      `\`\`\`\n- release_id: ${ID1}\n\`\`\`\n\`\`\`\n- release_id: ${RB1}\n\`\`\`\n\`\`\`\n- release_id: ${ID2}\n`,
      (entry) => seen.push(entry.releaseId),
    );
    expect(seen).toEqual([ID1, RB1]);
    expect(problems).toEqual([{ line: 7, message: 'fence opened here is never closed' }]);
  });

  test('a file that ends on the release id line, without a newline, reads the whole id', () => {
    expect(parseLedger(`\`\`\`\n- release_id: ${ID1}`).problems).toEqual([
      { line: 1, message: 'fence opened here is never closed' },
    ]);
    const { entries, problems } = parseLedger(`\`\`\`\n- release_id: ${ID1}\n  type: promotion\n\`\`\``);
    expect(problems).toEqual([]);
    expect(entries[0]?.fields.get('type')).toEqual({ line: 3, value: 'promotion' });
  });

  test.each([
    ['no indentation', '```'],
    ['one space', ' ```'],
    ['two spaces', '  ```'],
    ['three spaces', '   ```'],
    ['an info string', '```text'],
  ])('a fence with %s opens an entry', (_name, fence) => {
    const { entries, problems } = parseLines([fence, `- release_id: ${ID1}`, '  type: promotion', '```']);
    expect(problems).toEqual([]);
    expect(entries.map((e) => e.releaseId)).toEqual([ID1]);
  });

  test('four spaces before ``` are no fence, so nothing there is an entry', () => {
    expect(parseLines(['    ```', `- release_id: ${ID1}`, '  type: promotion', '    ```'])).toEqual({
      entries: [],
      problems: [],
    });
  });

  test('a closing fence may be indented or trail spaces, but anything else on it is a problem', () => {
    expect(parseLines([...ENTRY.slice(0, 3), '  ```  ']).problems).toEqual([]);
    const closedWithInfo = parseLines([...ENTRY.slice(0, 3), '```js']);
    expect(closedWithInfo.problems).toEqual([{ line: 4, message: 'a closing fence must be a bare ``` line' }]);
    expect(closedWithInfo.entries.map((e) => e.releaseId)).toEqual([ID1]);
  });

  test('templates (a <placeholder> id), other blocks and text outside fences are prose, whatever they hold', () => {
    const parsed = parseLines([
      '  type: promotion',
      '- release_id: 20261124-2231-rc9',
      '```',
      '- release_id: <YYYYMMDD-HHMM-rc1>',
      '  type: promotion',
      '    - stray item',
      'garbage',
      '```',
      '```',
      '- date: 2026-01-22',
      '  summary: "x"',
      '```',
      '```',
      '```',
    ]);
    expect(parsed).toEqual({ entries: [], problems: [] });
  });

  test('an invalid release id is a problem on its line, and the entry is still read', () => {
    const { entries, problems } = parseLines(['```', '- release_id: 2026-11-24-rc1', '  type: promotion', '```']);
    expect(problems).toEqual([{ line: 2, message: 'release_id "2026-11-24-rc1" is not YYYYMMDD-HHMM-rcN or -rbN' }]);
    expect(entries.map((e) => e.releaseId)).toEqual(['2026-11-24-rc1']);
  });

  test('a block never closed is a problem at its opening fence', () => {
    expect(parseLines(['# Release Log', '', '```', `- release_id: ${ID1}`, '  type: promotion']).problems).toEqual([
      { line: 3, message: 'fence opened here is never closed' },
    ]);
    expect(parseLines(['```', 'prose']).problems).toEqual([{ line: 1, message: 'fence opened here is never closed' }]);
  });

  test('a key written twice is a problem naming key and entry; the later value is kept and both are in the key order', () => {
    const { entries, problems } = parseLines([
      '```',
      `- release_id: ${ID1}`,
      '  type: promotion',
      '  type: rollback',
      '```',
    ]);
    expect(problems).toEqual([{ line: 4, message: `key type appears twice in ${ID1}` }]);
    expect(entries[0]?.fields.get('type')).toEqual({ line: 4, value: 'rollback' });
    expect(entries[0]?.keys).toEqual(['release_id', 'type', 'type']);
    expect(parseLines(['```', `- release_id: ${ID1}`, '  release_id: x', '```']).problems).toEqual([
      { line: 3, message: `key release_id appears twice in ${ID1}` },
    ]);
  });

  test('list items belong to a key written bare (`key:`); an empty list is []; a key with a space after its colon is an empty string', () => {
    const { entries, problems } = parseLines([
      '```',
      `- release_id: ${ID1}`,
      '  actions:',
      '    - one',
      '    -  two ',
      '  verification: []',
      '  notes: ',
      '  empty:',
      '```',
    ]);
    expect(problems).toEqual([]);
    const fields = entries[0]?.fields;
    expect(fields?.get('actions')?.value).toEqual(['one', ' two ']);
    expect(fields?.get('verification')?.value).toEqual([]);
    expect(fields?.get('notes')?.value).toBe('');
    expect(fields?.get('empty')?.value).toEqual([]);
  });

  test('a list item right after the release id or under a plain value is a problem naming that key', () => {
    expect(parseLines(['```', `- release_id: ${ID1}`, '    - x', '```']).problems).toEqual([
      { line: 3, message: 'list item under release_id, which is not a list' },
    ]);
    expect(parseLines(['```', `- release_id: ${ID1}`, '  type: promotion', '    - x', '```']).problems).toEqual([
      { line: 4, message: 'list item under type, which is not a list' },
    ]);
  });

  test.each([
    ['one space of indentation', ' type: promotion'],
    ['three spaces of indentation', '   type: promotion'],
    ['no indentation', 'type: promotion'],
    ['a capital letter in the key', '  Type: promotion'],
    ['a key starting with a digit', '  1type: promotion'],
    ['a character after the key name', '  type-x: promotion'],
    ['no space after the colon', '  type:promotion'],
    ['no key name', '  : promotion'],
    ['no colon', '  type promotion'],
    ['an empty line', ''],
    ['an item with the wrong indentation', '  - x'],
  ])('a line with %s inside an entry is a problem quoting it', (_name, line) => {
    expect(parseLines(['```', `- release_id: ${ID1}`, line, '```']).problems).toEqual([
      { line: 3, message: `unexpected line in entry ${ID1}: ${JSON.stringify(line)}` },
    ]);
  });

  test('an unexpected line is quoted up to its first 60 characters', () => {
    const line = `  ${'x'.repeat(100)}`;
    expect(parseLines(['```', `- release_id: ${ID1}`, line, '```']).problems).toEqual([
      { line: 3, message: `unexpected line in entry ${ID1}: "  ${'x'.repeat(58)}"` },
    ]);
  });

  test('key names may hold underscores and digits after the first letter, and start with an underscore', () => {
    const { entries, problems } = parseLines(['```', `- release_id: ${ID1}`, '  to_branch2: x', '  _k: y', '```']);
    expect(problems).toEqual([]);
    expect(entries[0]?.keys).toEqual(['release_id', 'to_branch2', '_k']);
  });

  test.each([...QUOTED_KEYS])('%s is read as JSON when quoted, and as written otherwise', (key) => {
    const read = (raw: string) =>
      parseLines(['```', `- release_id: ${ID1}`, `  ${key}: ${raw}`, '```']).entries[0]?.fields.get(key)?.value;
    expect(read('"a\\nb \\u2028 \\"c\\""')).toBe('a\nb \u2028 "c"');
    expect(read('seed-era text "quoted" inside')).toBe('seed-era text "quoted" inside');
    expect(read('"unterminated')).toBe('"unterminated');
    expect(read('"a" and "b"')).toBe('"a" and "b"');
    expect(read(' "after a space"')).toBe(' "after a space"');
  });

  test('a quoted value under a key that is not free text keeps its quotes', () => {
    const { entries } = parseLines(['```', `- release_id: ${ID1}`, '  operator: "alice"', '```']);
    expect(fieldText(entries[0] as ParsedEntry, 'operator')).toBe('"alice"');
  });

  test.each([
    ['no value', '  chain:'],
    ['an empty value', '  chain: '],
    ['no sha256: prefix', `  chain: ${'a'.repeat(64)}`],
    ['another prefix', `  chain: sha999:${'a'.repeat(64)}`],
    ['63 hex digits', `  chain: sha256:${'a'.repeat(63)}`],
    ['65 hex digits', `  chain: sha256:${'a'.repeat(65)}`],
    ['capital hex', `  chain: sha256:${'A'.repeat(64)}`],
    ['a non-hex digit', `  chain: sha256:${'a'.repeat(63)}g`],
  ])('a chain with %s is a problem, and the entry still ends at it', (_name, line) => {
    const { entries, problems } = parseLines([
      '```',
      `- release_id: ${ID1}`,
      '  type: promotion',
      line,
      '  notes: "x"',
      '```',
    ]);
    expect(problems).toEqual([
      { line: 4, message: 'chain must be sha256:<64 hex>' },
      {
        line: 5,
        message: 'the entry does not close after chain: (a missing closing ``` fence, or a line added after chain)',
      },
    ]);
    expect(entries[0]?.chain).toBe('');
    expect(entries[0]?.chainLine).toBe(4);
    expect(entries[0]?.body).toBe(`- release_id: ${ID1}\n  type: promotion\n`);
    expect(entries[0]?.keys).toEqual(['release_id', 'type']);
  });

  test('a line after a valid chain is a problem, even a list item or a second chain', () => {
    const chain = `  chain: sha256:${'a'.repeat(64)}`;
    const { entries, problems } = parseLines(['```', `- release_id: ${ID1}`, chain, '    - x', chain, '```']);
    const message = 'the entry does not close after chain: (a missing closing ``` fence, or a line added after chain)';
    expect(problems).toEqual([
      { line: 4, message },
      { line: 5, message },
    ]);
    expect(entries[0]?.chain).toBe('a'.repeat(64));
    expect(entries[0]?.chainLine).toBe(3);
  });

  test('fieldText answers a string value only', () => {
    const { entries } = parseLines([
      '```',
      `- release_id: ${ID1}`,
      '  type: promotion',
      '  actions:',
      '    - x',
      '```',
    ]);
    const entry = entries[0] as ParsedEntry;
    expect(fieldText(entry, 'type')).toBe('promotion');
    expect(fieldText(entry, 'actions')).toBeUndefined();
    expect(fieldText(entry, 'missing')).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// entry.ts: gateLine, ledgerFields
// ---------------------------------------------------------------------------------------------

describe('gate lines and entry fields', () => {
  const base: GateResult = {
    name: 'health',
    target: 't',
    pass: true,
    status: 200,
    latencyMs: 12,
    attempts: 1,
    detail: 'ok',
  };

  test.each<[string, GateResult, string]>([
    ['a passing probe', base, 'health: pass (200, 12 ms)'],
    ['a failing probe', { ...base, pass: false, status: 503 }, 'health: fail (503, 12 ms)'],
    ['a probe with no answer', { ...base, pass: false, status: undefined }, 'health: fail (no answer, 12 ms)'],
    [
      'a throttled probe',
      { ...base, throttled: { count: 6, waitedMs: 10_000 } },
      'health: pass (200, 12 ms, after 6 x 429 rate-limited, waited 10.0 s)',
    ],
    [
      'a burst',
      { ...base, name: 'burst_429', counts: { '2xx': 3, '429': 7 }, detail: '7 x 429 of 10' },
      'burst_429: pass (7 x 429 of 10)',
    ],
  ])('%s is one line', (_name, result, line) => {
    expect(gateLine(result)).toBe(line);
  });

  test('a promotion’s fields are the template’s keys in order, then repo, approvals, extras, workflow_id and branch_tip_after', () => {
    const record = promotion(ID1, 'wf-one', {
      gatesRun: [
        gate('health'),
        { ...gate('cost_gate_chat', false, 402) },
        { ...gate('breaker_drill'), detail: 'opened: after 3 x 429' },
      ],
      evidenceRefs: 'ticket 42',
      approvals: ['bob: approved at 2026-11-24T22:00:00.000Z'],
      extras: [['drift', 'expected a, found b; refused']],
    });
    const fields = ledgerFields(record, A);
    expect(fields.map(([k]) => k)).toEqual([
      ...PROMOTION_KEYS,
      'repo',
      'approvals',
      'drift',
      'workflow_id',
      'branch_tip_after',
    ]);
    expect(Object.fromEntries(fields)).toMatchObject({
      gates_run: ['health: pass (200, 12 ms)', 'cost_gate_chat: fail (402, 12 ms)', 'breaker_drill: pass (200, 12 ms)'],
      evidence_refs: 'temporal:default/wf-one; ticket 42',
      cost_control_evidence: ['cost_gate_chat: fail (402)', 'breaker_drill: pass (opened)'],
      repo: REPO,
      workflow_id: 'wf-one',
      branch_tip_after: A,
    });
  });

  test('a breaker drill that failed is recorded as failed, with the first part of its detail', () => {
    const drill = { ...gate('breaker_drill', false, 500), detail: 'stayed closed: 20 calls got through' };
    expect(
      Object.fromEntries(ledgerFields(promotion(ID1, 'wf', { gatesRun: [drill] }), A)).cost_control_evidence,
    ).toEqual(['cost_gate_chat: not run', 'breaker_drill: fail (stayed closed)']);
  });

  test('a promotion without a cost gate or breaker drill says not run; a cost gate with no answer says so', () => {
    const none = Object.fromEntries(ledgerFields(promotion(ID1, 'wf', { gatesRun: [gate('health')] }), null));
    expect(none.cost_control_evidence).toEqual(['cost_gate_chat: not run', 'breaker_drill: not run']);
    expect(none.branch_tip_after).toBe('(branch missing)');
    expect(none.evidence_refs).toBe('temporal:default/wf');
    const noAnswer = { ...gate('cost_gate_chat'), status: undefined };
    expect(
      Object.fromEntries(ledgerFields(promotion(ID1, 'wf', { gatesRun: [noAnswer] }), A)).cost_control_evidence,
    ).toEqual(['cost_gate_chat: pass (no answer)', 'breaker_drill: not run']);
  });

  test('a rollback’s fields are the template’s keys in order, then repo, promotion_release_id, to_branch, extras, workflow_id and branch_tip_after', () => {
    const fields = ledgerFields(rollback(RB1, 'wf-rb', { promotionReleaseId: ID1, extras: [['x', 'y']] }), C);
    expect(fields.map(([k]) => k)).toEqual([
      ...ROLLBACK_KEYS,
      'repo',
      'promotion_release_id',
      'to_branch',
      'x',
      'workflow_id',
      'branch_tip_after',
    ]);
    expect(Object.fromEntries(fields)).toMatchObject({ promotion_release_id: ID1, to_branch: 'release', repo: REPO });
  });

  test('a record without a repo or a promotion id writes neither key (matched like the seed’s entries)', () => {
    const keys = ledgerFields(rollback(RB1, 'wf-rb', { repo: '' }), C).map(([k]) => k);
    expect(keys).not.toContain('repo');
    expect(keys).not.toContain('promotion_release_id');
    expect(ledgerFields(promotion(ID1, 'wf', { repo: '' }), C).map(([k]) => k)).not.toContain('repo');
  });

  test('caller text in extras, approvals, actions, notes and the trigger is redacted', () => {
    const secret = 'token=hunter2hunter2';
    const p = Object.fromEntries(
      ledgerFields(
        promotion(ID1, 'wf', { extras: [['drift', secret]], approvals: [`bob: ${secret}`], notes: secret }),
        A,
      ),
    );
    const r = Object.fromEntries(ledgerFields(rollback(RB1, 'wf', { actions: [secret], trigger: secret }), A));
    expect(JSON.stringify([p, r])).not.toContain('hunter2hunter2');
  });
});

// ---------------------------------------------------------------------------------------------
// entry-content.ts
// ---------------------------------------------------------------------------------------------

const AUTHOR: EntryAuthor = { workflowId: 'wf-promo', evidenceRef: 'temporal:default/wf-promo' };
const AT = '2026-11-24T22:31:17.000Z';

function promotionPlan(overrides: Partial<PromotionPlan> = {}): PromotionPlan {
  return {
    commitSha: B,
    changeClass: 'A',
    operator: 'alice',
    environment: 'production',
    repo: REPO,
    fromBranch: 'main',
    toBranch: 'release',
    stagingBase: 'https://staging.example.com',
    stagingService: 'chat',
    productionBase: 'https://prod.example.com',
    deployWait: { path: '/version', field: 'sha', timeoutMs: 60_000 },
    stagingGates: ['health', 'db_health'],
    optionalGates: [],
    expectBudgetBlock: false,
    approval: { required: false, minApprovals: 0, timeoutMs: 60_000 },
    acceptDrift: false,
    allowDowngrade: false,
    ...overrides,
  };
}

function promotionStatus(overrides: Partial<PromotionStatus> = {}): PromotionStatus {
  return {
    workflowId: 'wf-status',
    releaseId: ID1,
    stage: 'promoted',
    commitSha: D,
    changeClass: 'B',
    environment: 'status-env',
    operator: 'status-operator',
    gates: [gate('health'), gate('db_health')],
    approval: { required: false, state: 'not_required', minApprovals: 0, decisions: [], ignored: [] },
    pushed: true,
    prodVerification: [gate('health', true, 204)],
    timeline: [],
    ...overrides,
  };
}

describe('a promotion’s entry', () => {
  test('a promotion that went through says so, with the plan’s target and the status’s gates', () => {
    const status = promotionStatus({ lastKnownGood: A });
    expect(promotionEntry(status, promotionPlan({ evidenceRefs: 'ticket 7' }), 'pass', AUTHOR)).toEqual({
      type: 'promotion',
      releaseId: ID1,
      workflowId: 'wf-promo',
      evidenceRef: 'temporal:default/wf-promo',
      commitSha: B,
      environment: 'production',
      repo: REPO,
      fromBranch: 'main',
      toBranch: 'release',
      stagingBase: 'https://staging.example.com',
      stagingGateCommand: 'release-promoter gates --mode staging --base https://staging.example.com',
      stagingGateResult: 'pass',
      gatesRun: status.gates,
      changeClass: 'A',
      prodVerification: status.prodVerification,
      result: 'pass',
      rollbackPlan: `rollbackWorkflow to ${A}`,
      notes: 'promoted; production verification passed',
      operator: 'alice',
      evidenceRefs: 'ticket 7',
      approvals: [],
      extras: [],
    });
  });

  test('the result is the one given', () => {
    expect(promotionEntry(promotionStatus(), promotionPlan(), 'fail', AUTHOR).result).toBe('fail');
  });

  test.each<[string, GateResult[], string]>([
    ['no gates', [], 'not run'],
    ['every gate passing', [gate('health'), gate('db_health')], 'pass'],
    ['one gate failing', [gate('health'), gate('db_health', false, 503)], 'fail'],
  ])('the staging gate result with %s is %s', (_name, gates, result) => {
    expect(promotionEntry(promotionStatus({ gates }), promotionPlan(), 'fail', AUTHOR).stagingGateResult).toBe(result);
  });

  test.each<[string, Partial<PromotionPlan>, string]>([
    ['the default gates', {}, 'release-promoter gates --mode staging --base https://staging.example.com'],
    [
      'optional gates (listing every staging gate)',
      { stagingGates: ['health', 'chat_415'], optionalGates: ['chat_415'] },
      'release-promoter gates --mode staging --base https://staging.example.com --gates health,chat_415',
    ],
    [
      'an expected budget block',
      { expectBudgetBlock: true },
      'release-promoter gates --mode staging --base https://staging.example.com --expect-budget-block',
    ],
    [
      'both',
      { stagingGates: ['health', 'burst_429'], optionalGates: ['burst_429'], expectBudgetBlock: true },
      'release-promoter gates --mode staging --base https://staging.example.com --gates health,burst_429 --expect-budget-block',
    ],
  ])('the staging gate command for %s runs the same gates from the CLI', (_name, plan, command) => {
    expect(promotionEntry(promotionStatus(), promotionPlan(plan), 'pass', AUTHOR).stagingGateCommand).toBe(command);
  });

  test.each<[string, Partial<PromotionStatus>, Partial<PromotionPlan>, string]>([
    ['a clean promotion', {}, {}, 'promoted; production verification passed'],
    ['a clean promotion with notes', {}, { notes: 'hotfix' }, 'promoted; production verification passed | hotfix'],
    [
      'a failure',
      { failure: { type: 'ProductionVerificationFailed', message: 'db_health returned 503' } },
      {},
      'ProductionVerificationFailed: db_health returned 503',
    ],
    [
      'a push without deployWait, with notes',
      { failure: { type: 'DeployNotObserved', message: 'x' } },
      { deployWait: undefined, notes: 'n' },
      'DeployNotObserved: x | deployed version not confirmed (no deployWait) | n',
    ],
    [
      'a push without deployWait',
      {},
      { deployWait: undefined },
      'promoted; production verification passed | deployed version not confirmed (no deployWait)',
    ],
    [
      'no push and no deployWait',
      { pushed: false },
      { deployWait: undefined },
      'promoted; production verification passed',
    ],
  ])('the notes of %s', (_name, status, plan, notes) => {
    expect(promotionEntry(promotionStatus(status), promotionPlan(plan), 'pass', AUTHOR).notes).toBe(notes);
  });

  test('the notes stop at 1000 characters', () => {
    const { notes } = promotionEntry(promotionStatus(), promotionPlan({ notes: 'x'.repeat(2000) }), 'pass', AUTHOR);
    const prefix = 'promoted; production verification passed | ';
    expect(notes).toBe(`${prefix}${'x'.repeat(1000 - prefix.length)}`);
    expect(notes).toHaveLength(1000);
  });

  test.each<[string, Partial<PromotionStatus>, Partial<PromotionPlan>, string]>([
    [
      'the plan’s own rollback plan, whatever happened',
      { rollback: { workflowId: 'wf-rb', releaseId: RB1, result: 'completed' } },
      { rollbackPlan: 'revert by hand' },
      'revert by hand',
    ],
    [
      'a rollback that ran',
      { rollback: { workflowId: 'wf-rb', releaseId: RB1, result: 'completed' } },
      {},
      `rolled back by ${RB1} (completed)`,
    ],
    [
      'a rollback with no id or result yet',
      { rollback: { workflowId: 'wf-rb' } },
      {},
      'rolled back by wf-rb (partial)',
    ],
    [
      'a rollback that could not start (the branch was new)',
      { rollback: { releaseId: RB1, result: 'completed' } },
      {},
      'none possible: release did not exist before this promotion',
    ],
    ['a push with a previous tip', { lastKnownGood: A }, {}, `rollbackWorkflow to ${A}`],
    ['a push onto a new branch', { lastKnownGood: undefined }, {}, 'rollbackWorkflow to (no previous tip)'],
    ['no push', { pushed: false, lastKnownGood: A }, {}, 'nothing was promoted'],
  ])('the rollback plan after %s', (_name, status, plan, rollbackPlan) => {
    expect(promotionEntry(promotionStatus(status), promotionPlan(plan), 'fail', AUTHOR).rollbackPlan).toBe(
      rollbackPlan,
    );
  });

  test.each<[string, Partial<PromotionStatus>, Array<[string, string]>]>([
    ['nothing unusual', { downgrade: false }, []],
    [
      'accepted drift',
      { drift: { expected: A, found: C, accepted: true } },
      [['drift', `expected ${A}, found ${C}; accepted (acceptDrift)`]],
    ],
    [
      'refused drift onto a missing branch',
      { drift: { expected: A, found: null, accepted: false } },
      [['drift', `expected ${A}, found (missing); refused`]],
    ],
    [
      'an allowed downgrade',
      { downgrade: true, lastKnownGood: C },
      [['downgrade', `${C} -> ${B} is not a fast-forward; allowed (allowDowngrade)`]],
    ],
    [
      'a downgrade with no previous tip',
      { downgrade: true },
      [['downgrade', `(none) -> ${B} is not a fast-forward; allowed (allowDowngrade)`]],
    ],
    [
      'a rollback',
      { rollback: { workflowId: 'wf-rb', releaseId: RB1, result: 'completed' } },
      [
        ['rollback_release_id', RB1],
        ['rollback_result', 'completed'],
      ],
    ],
    [
      'a rollback with no id or result',
      { rollback: {} },
      [
        ['rollback_release_id', '(none)'],
        ['rollback_result', 'partial'],
      ],
    ],
    [
      'drift, a downgrade and a rollback together (in that order)',
      {
        drift: { expected: A, found: C, accepted: true },
        downgrade: true,
        lastKnownGood: C,
        rollback: { workflowId: 'wf-rb', releaseId: RB1, result: 'partial' },
      },
      [
        ['drift', `expected ${A}, found ${C}; accepted (acceptDrift)`],
        ['downgrade', `${C} -> ${B} is not a fast-forward; allowed (allowDowngrade)`],
        ['rollback_release_id', RB1],
        ['rollback_result', 'partial'],
      ],
    ],
  ])('the extras of %s', (_name, status, extras) => {
    expect(promotionEntry(promotionStatus(status), promotionPlan(), 'pass', AUTHOR).extras).toEqual(extras);
  });

  test('approvals list the approving decisions only, each with its time and any comment JSON-quoted', () => {
    const status = promotionStatus({
      approval: {
        required: true,
        state: 'approved',
        minApprovals: 2,
        ignored: [],
        decisions: [
          { decision: 'approve', approver: 'bob', at: AT, comment: 'lgtm "ship"' },
          { decision: 'reject', approver: 'carol', at: AT, reason: 'no' },
          { decision: 'approve', approver: 'dave', at: AT },
          { decision: 'approve', approver: 'erin', at: AT, comment: '' },
        ],
      },
    });
    expect(promotionEntry(status, promotionPlan(), 'pass', AUTHOR).approvals).toEqual([
      `bob: approved at ${AT} "lgtm \\"ship\\""`,
      `dave: approved at ${AT}`,
      `erin: approved at ${AT}`,
    ]);
  });
});

function rollbackPlan(overrides: Partial<RollbackPlan> = {}): RollbackPlan {
  return {
    environment: 'production',
    repo: REPO,
    toBranch: 'release',
    fromSha: B,
    toSha: C,
    productionBase: 'https://prod.example.com',
    trigger: '5xx spike',
    operator: 'alice',
    promotionReleaseId: ID1,
    ...overrides,
  };
}

function rollbackStatus(overrides: Partial<RollbackStatus> = {}): RollbackStatus {
  return {
    workflowId: 'wf-status',
    releaseId: RB1,
    stage: 'rolled_back',
    environment: 'status-env',
    fromSha: D,
    toSha: D,
    trigger: 'status trigger',
    operator: 'status-operator',
    branchRestored: true,
    actions: [`moved release to ${C}`],
    verification: [gate('health'), gate('db_health')],
    result: 'completed',
    timeline: [],
    ...overrides,
  };
}

describe('a rollback’s entry', () => {
  const author: EntryAuthor = { workflowId: 'wf-rb', evidenceRef: 'temporal:default/wf-rb' };

  test('a completed rollback says the branch is back and the checks pass, with the plan’s target', () => {
    const status = rollbackStatus();
    expect(rollbackEntry(status, rollbackPlan(), author)).toEqual({
      type: 'rollback',
      releaseId: RB1,
      workflowId: 'wf-rb',
      evidenceRef: 'temporal:default/wf-rb',
      trigger: '5xx spike',
      fromSha: B,
      toSha: C,
      environment: 'production',
      repo: REPO,
      actions: status.actions,
      postRollbackVerification: status.verification,
      result: 'completed',
      notes: `release back on ${C}; production checks pass`,
      operator: 'alice',
      promotionReleaseId: ID1,
      toBranch: 'release',
      extras: [],
    });
  });

  test.each<[string, Partial<RollbackStatus>, string]>([
    [
      'restored but failing checks',
      { result: 'partial', verification: [gate('health'), gate('db_health', false, 503)] },
      'partial: branch restored; checks failing: db_health returned 503. Investigate before promoting again',
    ],
    [
      'not restored, checks passing',
      { result: 'partial', branchRestored: false },
      'partial: branch NOT restored; checks pass. Investigate before promoting again',
    ],
    [
      'no result at all',
      { result: undefined, branchRestored: false, verification: [gate('chat_happy', false, 500)] },
      'partial: branch NOT restored; checks failing: chat_happy returned 500. Investigate before promoting again',
    ],
  ])('a partial rollback (%s) says what is wrong', (_name, status, notes) => {
    const entry = rollbackEntry(rollbackStatus(status), rollbackPlan(), author);
    expect(entry.result).toBe('partial');
    expect(entry.notes).toBe(notes);
  });
});

// ---------------------------------------------------------------------------------------------
// target-references.ts
// ---------------------------------------------------------------------------------------------

/** A parsed entry with these string fields (undefined leaves a key out). */
function entryOf(releaseId: string, fields: Record<string, string | undefined>): ParsedEntry {
  const map = new Map<string, { line: number; value: LedgerValue }>([['release_id', { line: 1, value: releaseId }]]);
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) map.set(key, { line: 1, value });
  return { releaseId, line: 1, fields: map, keys: [...map.keys()], body: '' };
}

const promoted = (releaseId: string, tip: string, fields: Record<string, string | undefined> = {}) =>
  entryOf(releaseId, {
    type: 'promotion',
    result: 'pass',
    environment: 'production',
    repo: REPO,
    to_branch: 'release',
    branch_tip_after: tip,
    ...fields,
  });

const rolledBack = (releaseId: string, tip: string, fields: Record<string, string | undefined> = {}) =>
  entryOf(releaseId, {
    type: 'rollback',
    result: 'completed',
    environment: 'production',
    repo: REPO,
    to_branch: 'release',
    branch_tip_after: tip,
    ...fields,
  });

function refsOf(...entries: ParsedEntry[]): TargetReferences {
  const refs = emptyTargetReferences();
  entries.forEach((entry, seq) => noteEntry(refs, entry, seq));
  return refs;
}

const drift = (refs: TargetReferences, repo = REPO, branch = 'release', environment = 'production') =>
  driftReference(refs, repo, branch, environment);
const good = (refs: TargetReferences, unlike?: string, repo = REPO, branch = 'release', environment = 'production') =>
  lastKnownGood(refs, repo, branch, environment, unlike === undefined ? undefined : { unlike });

describe('which entries are target references', () => {
  test('empty references hold nothing, and each is new', () => {
    const refs = emptyTargetReferences();
    expect(refs).toEqual({ moves: new Map(), goods: new Map() });
    refs.moves.set('x', { releaseId: ID1, tip: A, seq: 0 });
    expect(emptyTargetReferences().moves.size).toBe(0);
  });

  test.each<[string, boolean, boolean, ParsedEntry]>([
    ['a pass promotion', true, true, promoted(ID1, A)],
    ['a failed promotion that names no rollback (it never pushed)', false, false, promoted(ID1, A, { result: 'fail' })],
    [
      'a failed promotion that names its rollback',
      true,
      false,
      promoted(ID1, A, { result: 'fail', rollback_release_id: RB1 }),
    ],
    [
      'a failed promotion the lock closed for its holder',
      true,
      false,
      promoted(ID1, A, { result: 'fail', closed_while_holding: 'wf-gone' }),
    ],
    ['a promotion with another result', true, false, promoted(ID1, A, { result: 'completed' })],
    ['a promotion with no result', true, false, promoted(ID1, A, { result: undefined })],
    ['a completed rollback', true, true, rolledBack(RB1, A)],
    ['a partial rollback', true, false, rolledBack(RB1, A, { result: 'partial' })],
    ['a rollback with a promotion’s result (pass)', true, false, rolledBack(RB1, A, { result: 'pass' })],
    ['a rollback with result fail', true, false, rolledBack(RB1, A, { result: 'fail' })],
    ['an entry of no type', true, false, promoted(ID1, A, { type: undefined })],
    ['an entry whose branch was missing', false, false, promoted(ID1, A, { branch_tip_after: '(branch missing)' })],
    [
      'an entry whose remote was unreadable',
      false,
      false,
      promoted(ID1, A, { branch_tip_after: '(remote unreadable)' }),
    ],
    ['an entry with a short tip', false, false, promoted(ID1, 'a'.repeat(39))],
    ['an entry with a capital-hex tip', false, false, promoted(ID1, 'A'.repeat(40))],
    ['an entry with no tip', false, false, promoted(ID1, A, { branch_tip_after: undefined })],
    [
      'an entry with neither repo nor environment',
      false,
      false,
      promoted(ID1, A, { repo: undefined, environment: undefined }),
    ],
  ])('%s: drift reference %s, known good %s', (_name, move, isGood, entry) => {
    const refs = refsOf(entry);
    expect(refs.moves.size).toBe(move ? 1 : 0);
    expect(refs.goods.size).toBe(isGood ? 1 : 0);
    if (move) expect(drift(refs)).toEqual({ releaseId: entry.releaseId, tip: A });
    else expect(drift(refs)).toBeUndefined();
    if (isGood) expect(good(refs)).toEqual({ releaseId: entry.releaseId, tip: A });
    else expect(good(refs)).toBeUndefined();
  });

  test('a later promotion that never pushed leaves the drift reference where the branch was left', () => {
    const refs = refsOf(promoted(ID1, A), promoted(ID2, B, { result: 'fail' }));
    expect(drift(refs)).toEqual({ releaseId: ID1, tip: A });
    expect(refs.moves.get(`repo\0${REPO}\0release`)).toEqual({ releaseId: ID1, tip: A, seq: 0 });
  });

  test('the references keep the seq each entry was given', () => {
    const refs = emptyTargetReferences();
    noteEntry(refs, promoted(ID1, A), 7);
    noteEntry(refs, promoted(ID2, B), 9);
    expect([...refs.moves.values()]).toEqual([{ releaseId: ID2, tip: B, seq: 9 }]);
    expect([...refs.goods.values()]).toEqual([
      [
        { releaseId: ID1, tip: A, seq: 7 },
        { releaseId: ID2, tip: B, seq: 9 },
      ],
    ]);
  });
});

describe('whose target an entry is', () => {
  test('an entry naming its repo belongs to that repo and branch in any environment, and to no other repo', () => {
    const refs = refsOf(promoted(ID1, A));
    expect(drift(refs, REPO, 'release', 'staging')).toEqual({ releaseId: ID1, tip: A });
    expect(good(refs, undefined, REPO, 'release', 'staging')).toEqual({ releaseId: ID1, tip: A });
    expect(drift(refs, '/srv/git/other.git', 'release', 'production')).toBeUndefined();
    expect(good(refs, undefined, '/srv/git/other.git', 'release', 'production')).toBeUndefined();
    expect(drift(refs, REPO, 'main', 'production')).toBeUndefined();
    expect(good(refs, undefined, REPO, 'main', 'production')).toBeUndefined();
  });

  test('an entry without a repo (written before the key) belongs to its environment and branch, whatever the repo', () => {
    const refs = refsOf(promoted(ID1, A, { repo: undefined }));
    expect(drift(refs, '/any/repo.git', 'release', 'production')).toEqual({ releaseId: ID1, tip: A });
    expect(good(refs, undefined, '/any/repo.git', 'release', 'production')).toEqual({ releaseId: ID1, tip: A });
    expect(drift(refs, REPO, 'release', 'staging')).toBeUndefined();
    expect(good(refs, undefined, REPO, 'release', 'staging')).toBeUndefined();
    expect(drift(refs, REPO, 'main', 'production')).toBeUndefined();
    expect(good(refs, undefined, REPO, 'main', 'production')).toBeUndefined();
  });

  test('a repo name and an environment name that are the same string are different targets', () => {
    const refs = refsOf(promoted(ID1, A, { repo: undefined, environment: 'chat' }));
    expect(drift(refs, 'chat', 'release', 'production')).toBeUndefined();
    expect(good(refs, undefined, 'chat', 'release', 'production')).toBeUndefined();
  });

  test('an entry without to_branch (the seed’s rollback template) matches every branch of its repo', () => {
    const refs = refsOf(rolledBack(RB1, A, { to_branch: undefined }));
    for (const branch of ['release', 'main', '*'])
      expect([drift(refs, REPO, branch), good(refs, undefined, REPO, branch)]).toEqual([
        { releaseId: RB1, tip: A },
        { releaseId: RB1, tip: A },
      ]);
    expect(drift(refs, '/srv/git/other.git', 'release')).toBeUndefined();
  });

  test('an entry without to_branch or repo matches every branch of its environment', () => {
    const refs = refsOf(rolledBack(RB1, A, { to_branch: undefined, repo: undefined }));
    expect(drift(refs, '/any.git', 'hotfix', 'production')).toEqual({ releaseId: RB1, tip: A });
    expect(good(refs, undefined, '/any.git', 'hotfix', 'production')).toEqual({ releaseId: RB1, tip: A });
    expect(drift(refs, '/any.git', 'hotfix', 'staging')).toBeUndefined();
  });
});

describe('the drift reference and the last known good', () => {
  // One entry per way of naming the target (repo+branch, repo only, environment+branch, environment only).
  const forms: Array<[string, Record<string, string | undefined>]> = [
    ['repo and branch', {}],
    ['repo, any branch', { to_branch: undefined }],
    ['environment and branch', { repo: undefined }],
    ['environment, any branch', { repo: undefined, to_branch: undefined }],
  ];

  test.each(
    forms.flatMap(([older, o]) =>
      forms.filter(([newer]) => newer !== older).map(([newer, n]) => [older, newer, o, n] as const),
    ),
  )(
    'the latest entry wins, from whichever key: an older one by %s, a newer one by %s',
    (_older, _newer, olderFields, newerFields) => {
      const forward = refsOf(promoted(ID1, A, olderFields), promoted(ID2, B, newerFields));
      expect(drift(forward)).toEqual({ releaseId: ID2, tip: B });
      expect(good(forward)).toEqual({ releaseId: ID2, tip: B });
      expect(good(forward, B)).toEqual({ releaseId: ID1, tip: A });
    },
  );

  test('the last known good skips partial rollbacks and failed promotions, and `unlike` skips every entry at that tip', () => {
    const refs = refsOf(
      promoted(ID1, A, { repo: undefined }),
      rolledBack(RB1, B, { to_branch: undefined }),
      promoted('20261124-2231-rc3', C),
      promoted('20261124-2231-rc4', B, { repo: undefined, to_branch: undefined }),
      rolledBack('20261124-2231-rb2', D, { result: 'partial' }),
      promoted('20261124-2231-rc5', D, { result: 'fail', rollback_release_id: '20261124-2231-rb2' }),
    );
    expect(good(refs)).toEqual({ releaseId: '20261124-2231-rc4', tip: B });
    expect(lastKnownGood(refs, REPO, 'release', 'production')).toEqual({ releaseId: '20261124-2231-rc4', tip: B });
    expect(good(refs, B)).toEqual({ releaseId: '20261124-2231-rc3', tip: C });
    expect(good(refs, C)).toEqual({ releaseId: '20261124-2231-rc4', tip: B });
    expect(good(refs, D)).toEqual({ releaseId: '20261124-2231-rc4', tip: B });
    expect(drift(refs)).toEqual({ releaseId: '20261124-2231-rc5', tip: D });
  });

  test('`unlike` with only entries at that tip finds none; no entries find none', () => {
    const refs = refsOf(promoted(ID1, A), promoted(ID2, A));
    expect(good(refs, A)).toBeUndefined();
    expect(good(emptyTargetReferences())).toBeUndefined();
    expect(drift(emptyTargetReferences())).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// ledger-index.ts (real files)
// ---------------------------------------------------------------------------------------------

let tmp: string;
beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ledger-rules-'));
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** The blocks of these records, chained on `previous`, with the head they end at. */
function blocks(
  records: Array<[LedgerRecord, string | null]>,
  previous = GENESIS_CHAIN,
): { text: string; heads: string[] } {
  let head = previous;
  let text = '';
  const heads: string[] = [];
  for (const [record, tip] of records) {
    const block = renderBlock(ledgerFields(record, tip), head);
    text += block.text;
    head = block.chain;
    heads.push(head);
  }
  return { text, heads };
}

/** A LedgerFiles that counts the bytes read and the handles closed. */
function countingFiles(): { files: LedgerFiles; reads: number[]; closes: () => number; opens: () => number } {
  const reads: number[] = [];
  let opened = 0;
  let closed = 0;
  const files: LedgerFiles = {
    ...nodeLedgerFiles,
    async open(file, flags, mode) {
      const handle = await nodeLedgerFiles.open(file, flags, mode);
      opened++;
      return {
        stat: () => handle.stat(),
        read: async (buffer, offset, length, position) => {
          const result = await handle.read(buffer, offset, length, position);
          reads.push(result.bytesRead);
          return result;
        },
        write: (buffer, offset, length) => handle.write(buffer, offset, length),
        truncate: (length) => handle.truncate(length),
        sync: () => handle.sync(),
        close: async () => {
          closed++;
          await handle.close();
        },
      };
    },
  };
  return { files, reads, closes: () => closed, opens: () => opened };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const FIXED = new Date('2026-01-01T00:00:00.000Z');

describe('the index of a ledger file', () => {
  test('the index lists every id with its workflow, chain and branch tip, ends at the last chain and counts the entries', async () => {
    const file = path.join(tmp, 'RELEASE_LOG.md');
    // Written by hand: every template key, no workflow_id, branch_tip_after or chain.
    const handFields = ledgerFields(promotion('20261124-2200-rc1', 'x'), A).filter(
      ([key]) => key !== 'workflow_id' && key !== 'branch_tip_after',
    );
    const handWritten = `\`\`\`\n${renderEntryBody(handFields)}\`\`\`\n`;
    const { text, heads } = blocks([
      [promotion(ID1, 'wf-one'), A],
      [rollback(RB1, 'wf-rb', { result: 'partial' }), null],
    ]);
    await writeFile(file, `${LEDGER_HEADING}${handWritten}${text}`);
    const index = await ledgerIndex(file);
    expect([...index.ids.entries()]).toEqual([
      ['20261124-2200-rc1', { workflowId: undefined, chain: undefined, branchTipAfter: undefined }],
      [ID1, { workflowId: 'wf-one', chain: heads[0], branchTipAfter: A }],
      [RB1, { workflowId: 'wf-rb', chain: heads[1], branchTipAfter: '(branch missing)' }],
    ]);
    expect(index.head).toBe(heads[1]);
    expect(index.entries).toBe(3);
    expect(index.problem).toBeUndefined();
    expect(() => requireVerified(index, file)).not.toThrow();
    // The references are fed with each entry's position in the file.
    expect([...index.moves.values()]).toEqual([{ releaseId: ID1, tip: A, seq: 1 }]);
    expect(driftReference(index, REPO, 'release', 'production')).toEqual({ releaseId: ID1, tip: A });
    expect(lastKnownGood(index, REPO, 'release', 'production')).toEqual({ releaseId: ID1, tip: A });
  });

  test('a ledger of only the heading has no entries, the genesis head and no problem', async () => {
    const file = path.join(tmp, 'RELEASE_LOG.md');
    await writeFile(file, LEDGER_HEADING);
    const index = await ledgerIndex(file);
    expect(index).toEqual({ ids: new Map(), head: GENESIS_CHAIN, entries: 0, moves: new Map(), goods: new Map() });
  });

  test('an empty file is not a release log: a problem at line 1, not an error', async () => {
    const file = path.join(tmp, 'RELEASE_LOG.md');
    await writeFile(file, '');
    const index = await ledgerIndex(file);
    expect(index.problem).toEqual({ line: 1, message: NOT_A_RELEASE_LOG });
    expect(index.entries).toBe(0);
  });

  test('a missing file is the file error itself', async () => {
    await expect(ledgerIndex(path.join(tmp, 'missing.md'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  test('an edited entry is the index’s problem, and requireVerified throws the retryable LedgerDoesNotVerify naming its line', async () => {
    const file = path.join(tmp, 'RELEASE_LOG.md');
    const { text } = blocks([[promotion(ID1, 'wf-one'), A]]);
    await writeFile(file, `${LEDGER_HEADING}${text.replace('operator: alice', 'operator: mallory')}`);
    const index = await ledgerIndex(file);
    const line = LEDGER_HEADING.split('\n').length + 2;
    const message = `${ID1}: chain does not match (the entry was edited, or an entry before it was removed, reordered or edited)`;
    expect(index.problem).toEqual({ line, message });
    let thrown: unknown;
    try {
      requireVerified(index, file);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ApplicationFailure);
    const failure = thrown as ApplicationFailure;
    expect(failure.type).toBe('LedgerDoesNotVerify');
    expect(failure.nonRetryable).toBe(false);
    expect(failure.message).toBe(
      `the ledger ${file} does not verify at line ${line}: ${message}. Nothing was written, and nothing will be until it verifies: ` +
        `run release-promoter ledger verify ${file}, repair the file (never edit existing entries; remove a torn last entry or close its fence), and the attempt is retried`,
    );
    expect(failure.details).toEqual([{ path: file, line, problem: message }]);
  });

  test('an unchanged file is answered from the cache without reading a byte, and every look closes the file', async () => {
    const file = path.join(tmp, 'RELEASE_LOG.md');
    await writeFile(file, `${LEDGER_HEADING}${blocks([[promotion(ID1, 'wf-one'), A]]).text}`);
    const counting = countingFiles();
    const first = await ledgerIndex(file, counting.files);
    const readFirst = sum(counting.reads);
    expect(readFirst).toBe((await stat(file)).size);
    const second = await ledgerIndex(file, counting.files);
    expect(second).toBe(first);
    expect(sum(counting.reads)).toBe(readFirst);
    expect(counting.opens()).toBe(2);
    expect(counting.closes()).toBe(2);
  });

  test.each([
    ['larger than the re-read tail', true],
    ['smaller than the re-read tail', false],
  ])(
    'an append to a verified file (%s) reads only the last 512 bytes before it and the new bytes, and updates the same index, which then answers from the cache',
    async (_name, large) => {
      const file = path.join(tmp, 'RELEASE_LOG.md');
      const first = blocks(large ? [[promotion(ID1, 'wf-one'), A]] : []);
      const before = `${LEDGER_HEADING}${first.text}`;
      await writeFile(file, before);
      await utimes(file, FIXED, FIXED);
      const counting = countingFiles();
      const index = await ledgerIndex(file, counting.files);
      expect(before.length > 512).toBe(large);
      counting.reads.length = 0;

      const id = large ? ID2 : ID1;
      const added = blocks([[promotion(id, 'wf-two', { commitSha: C }), C]], large ? first.heads[0] : GENESIS_CHAIN);
      await appendFile(file, added.text);
      const after = await ledgerIndex(file, counting.files);
      expect(after).toBe(index);
      expect(sum(counting.reads)).toBe(Math.min(512, before.length) + added.text.length);
      expect(after.head).toBe(added.heads[0]);
      expect(after.entries).toBe(large ? 2 : 1);
      expect(after.problem).toBeUndefined();
      expect(after.ids.get(id)).toEqual({ workflowId: 'wf-two', chain: added.heads[0], branchTipAfter: C });
      expect(driftReference(after, REPO, 'release', 'production')).toEqual({ releaseId: id, tip: C });
      expect(after.moves.get(`repo\0${REPO}\0release`)?.seq).toBe(large ? 1 : 0);
      // The index remembers the appended file as it is now: the next look reads nothing.
      counting.reads.length = 0;
      expect(await ledgerIndex(file, counting.files)).toBe(index);
      expect(counting.reads).toEqual([]);
    },
  );

  test('problems in appended bytes are reported at their line in the whole file, after several appends', async () => {
    const file = path.join(tmp, 'RELEASE_LOG.md');
    const first = blocks([[promotion(ID1, 'wf-one'), A]]);
    await writeFile(file, `${LEDGER_HEADING}${first.text}`);
    const index = await ledgerIndex(file);
    const second = blocks([[promotion(ID2, 'wf-two'), B]], first.heads[0]);
    await appendFile(file, second.text);
    expect(await ledgerIndex(file)).toBe(index);
    expect(index.problem).toBeUndefined();
    await appendFile(file, '\n```\n- release_id: 20261124-2231-rc3\n');
    const text = `${LEDGER_HEADING}${first.text}${second.text}`;
    const fenceLine = text.split('\n').length + 1;
    const after = await ledgerIndex(file);
    expect(after).toBe(index);
    expect(after.problem).toEqual({ line: fenceLine, message: 'fence opened here is never closed' });
    expect(() => requireVerified(after, file)).toThrow(`does not verify at line ${fenceLine}`);
  });

  test('a file that grew but kept its mtime is still read (the size is part of the cache key)', async () => {
    const file = path.join(tmp, 'RELEASE_LOG.md');
    await writeFile(file, LEDGER_HEADING);
    await utimes(file, FIXED, FIXED);
    const index = await ledgerIndex(file);
    await appendFile(file, blocks([[promotion(ID1, 'wf-one'), A]]).text);
    await utimes(file, FIXED, FIXED);
    expect((await ledgerIndex(file)).ids.has(ID1)).toBe(true);
    expect(index.entries).toBe(1);
  });

  test('a file rewritten in place to the same size is read again once its mtime changes', async () => {
    const file = path.join(tmp, 'RELEASE_LOG.md');
    const { text } = blocks([
      [promotion(ID1, 'wf-one'), A],
      [promotion(ID2, 'wf-two'), B],
    ]);
    await writeFile(file, `${LEDGER_HEADING}${text}`);
    await utimes(file, FIXED, FIXED);
    const before = await ledgerIndex(file);
    expect(before.problem).toBeUndefined();
    // Change the first entry (far more than 512 bytes before the end), keeping every size.
    const handle = await open(file, 'r+');
    const at = `${LEDGER_HEADING}${text}`.indexOf('workflow_id: wf-one');
    await handle.write(Buffer.from('workflow_id: wf-1x1'), 0, 19, at);
    await handle.close();
    await utimes(file, new Date(FIXED.getTime() + 5000), new Date(FIXED.getTime() + 5000));
    const after = await ledgerIndex(file);
    expect(after).not.toBe(before);
    expect(after.ids.get(ID1)?.workflowId).toBe('wf-1x1');
    expect(after.problem?.message).toBe(
      `${ID1}: chain does not match (the entry was edited, or an entry before it was removed, reordered or edited)`,
    );
  });

  test('a file replaced by another of the same size and mtime is read again (the inode is part of the cache key)', async () => {
    const file = path.join(tmp, 'RELEASE_LOG.md');
    const other = path.join(tmp, 'other.md');
    await writeFile(file, `${LEDGER_HEADING}${blocks([[promotion(ID1, 'wf-one'), A]]).text}`);
    await writeFile(other, `${LEDGER_HEADING}${blocks([[promotion(ID1, 'wf-two'), A]]).text}`);
    await utimes(file, FIXED, FIXED);
    await utimes(other, FIXED, FIXED);
    const before = await ledgerIndex(file);
    expect(before.ids.get(ID1)?.workflowId).toBe('wf-one');
    await rename(other, file);
    expect((await ledgerIndex(file)).ids.get(ID1)?.workflowId).toBe('wf-two');
  });

  test('a file replaced by a longer one that starts the same is read whole, not as an append', async () => {
    const file = path.join(tmp, 'RELEASE_LOG.md');
    const other = path.join(tmp, 'other.md');
    const first = blocks([[promotion(ID1, 'wf-one'), A]]);
    await writeFile(file, `${LEDGER_HEADING}${first.text}`);
    const counting = countingFiles();
    const before = await ledgerIndex(file, counting.files);
    const longer = `${LEDGER_HEADING}${first.text}${blocks([[promotion(ID2, 'wf-two'), B]], first.heads[0]).text}`;
    await writeFile(other, longer);
    await rename(other, file);
    counting.reads.length = 0;
    const after = await ledgerIndex(file, counting.files);
    expect(after).not.toBe(before);
    expect(sum(counting.reads)).toBe(Buffer.byteLength(longer));
    expect([...after.ids.keys()]).toEqual([ID1, ID2]);
  });

  test('a file rewritten and grown (its old tail changed) is read whole', async () => {
    const file = path.join(tmp, 'RELEASE_LOG.md');
    await writeFile(file, `${LEDGER_HEADING}${blocks([[promotion(ID1, 'wf-one'), A]]).text}`);
    const before = await ledgerIndex(file);
    await writeFile(
      file,
      `${LEDGER_HEADING}${
        blocks([
          [promotion(ID1, 'wf-rewritten'), A],
          [promotion(ID2, 'wf-two'), B],
        ]).text
      }`,
    );
    const after = await ledgerIndex(file);
    expect(after).not.toBe(before);
    expect(after.ids.get(ID1)?.workflowId).toBe('wf-rewritten');
    expect([...after.ids.keys()]).toEqual([ID1, ID2]);
    expect(after.problem).toBeUndefined();
  });

  test('a file cut shorter is read whole', async () => {
    const file = path.join(tmp, 'RELEASE_LOG.md');
    const first = `${LEDGER_HEADING}${blocks([[promotion(ID1, 'wf-one'), A]]).text}`;
    await writeFile(file, `${first}${'\n'.repeat(600)}`);
    await ledgerIndex(file);
    await truncate(file, Buffer.byteLength(first));
    const after = await ledgerIndex(file);
    expect([...after.ids.keys()]).toEqual([ID1]);
    expect(after.problem).toBeUndefined();
  });

  test('an append after a last line without a newline is read whole (the line it completes may open a fence)', async () => {
    const file = path.join(tmp, 'RELEASE_LOG.md');
    const block = blocks([[promotion(ID1, 'wf-one'), A]]);
    // The block's text starts with "\n```\n": the file ends in "``" and the append completes the fence.
    await writeFile(file, `${LEDGER_HEADING}\n\`\``);
    const before = await ledgerIndex(file);
    expect(before.problem).toBeUndefined();
    await appendFile(file, block.text.slice(3));
    const after = await ledgerIndex(file);
    expect(after).not.toBe(before);
    expect([...after.ids.keys()]).toEqual([ID1]);
    expect(after.head).toBe(block.heads[0]);
    expect(after.problem).toBeUndefined();
  });

  test('an append that leaves the last line open makes the next append read the file whole', async () => {
    const file = path.join(tmp, 'RELEASE_LOG.md');
    const block = blocks([[promotion(ID1, 'wf-one'), A]]);
    await writeFile(file, LEDGER_HEADING);
    const index = await ledgerIndex(file);
    await appendFile(file, '\n``');
    expect(await ledgerIndex(file)).toBe(index);
    await appendFile(file, block.text.slice(3));
    const after = await ledgerIndex(file);
    expect([...after.ids.keys()]).toEqual([ID1]);
    expect(after.head).toBe(block.heads[0]);
    expect(after.problem).toBeUndefined();
  });

  test('an append that repairs a file that did not verify is read whole, and the file then verifies', async () => {
    const file = path.join(tmp, 'RELEASE_LOG.md');
    await writeFile(file, `${LEDGER_HEADING}\n\`\`\`\nprose never closed\n`);
    const before = await ledgerIndex(file);
    expect(before.problem).toEqual({
      line: LEDGER_HEADING.split('\n').length + 1,
      message: 'fence opened here is never closed',
    });
    await appendFile(file, '```\n');
    const after = await ledgerIndex(file);
    expect(after).not.toBe(before);
    expect(after.problem).toBeUndefined();
  });
});
