// `ledger verify` and `ledger show` on a real release log: six entries appended to a copy of the
// seed with appendLedgerEntry, then tampered with (edit, delete, swap, broken fence, truncation,
// repeated id, key order). Every expected line number is found in the text by this file's own
// scanner, never taken from the project's parser.
import { spawnSync, SpawnSyncReturns } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { PromotionRecord, RollbackRecord } from '../src/ledger/entry';
import { appendLedgerEntry, reserveReleaseId } from '../src/ledger/store';
import { chainOf, parseLedger } from '../src/ledger/format';
import { verifyLedger } from '../src/ledger/verify';
import { gate, promotion, rollback } from './records';

const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'release-promoter.js');
const SEED = path.join(__dirname, 'fixtures', 'seed-release-log.md');
const ZEROS = '0'.repeat(64);
const TIP = 'a'.repeat(40);
const AT = '2026-11-24T22:31:17.000Z';
const FENCE = '```';

// ---- an independent reader of the file text -------------------------------------------------

interface Block {
  id: string;
  /** 1-based line numbers. */
  open: number;
  idLine: number;
  chainLine: number;
  close: number;
}

/**
 * Chained entry blocks as written by the tool: a bare fence line, `- release_id: <real id>`, key
 * lines up to `  chain: sha256:<hex>`, a bare closing fence. Other fenced blocks are skipped whole.
 */
function blocksOf(text: string): Block[] {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== FENCE) continue;
    const id = /^- release_id: (\d{8}-\d{4}-r[cb]\d+)$/.exec(lines[i + 1] ?? '')?.[1];
    let j = i + 1;
    while (j < lines.length && lines[j] !== FENCE) j++;
    if (id) {
      const chainAt = lines.findIndex((l, k) => k > i && k < j && l.startsWith('  chain: sha256:'));
      blocks.push({ id, open: i + 1, idLine: i + 2, chainLine: chainAt + 1, close: j + 1 });
    }
    i = j;
  }
  return blocks;
}

function nth(blocks: Block[], k: number): Block {
  const block = blocks[k - 1];
  if (!block) throw new Error(`no block ${k} (there are ${blocks.length})`);
  return block;
}

/** The 1-based number of the one line equal to `exact` (fails when there is not exactly one). */
function lineOf(text: string, exact: string): number {
  const hits = text.split('\n').flatMap((l, i) => (l === exact ? [i + 1] : []));
  expect({ exact, hits: hits.length }).toEqual({ exact, hits: 1 });
  return hits[0] as number;
}

/** Lines `from`..`to` (1-based, inclusive) of `text`, as a list. */
function linesOf(text: string, from: number, to: number): string[] {
  return text.split('\n').slice(from - 1, to);
}

/** A block with the blank line the tool writes before it: the unit an append adds. */
function segment(text: string, block: Block): string[] {
  const lines = linesOf(text, block.open - 1, block.close);
  expect(lines[0]).toBe('');
  return lines;
}

function withoutLines(text: string, from: number, to: number): string {
  const lines = text.split('\n');
  lines.splice(from - 1, to - from + 1);
  return lines.join('\n');
}

/** Recomputes every chain line from the text with the project's chainOf, so only the intended defect remains. */
function rechain(text: string): string {
  const lines = text.split('\n');
  let previous = ZEROS;
  for (const block of blocksOf(text)) {
    const body = lines
      .slice(block.idLine - 1, block.chainLine - 1)
      .map((l) => `${l}\n`)
      .join('');
    previous = chainOf(previous, body);
    lines[block.chainLine - 1] = `  chain: sha256:${previous}`;
  }
  return lines.join('\n');
}

function lastLineNumber(text: string): number {
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

// ---- the ledger under test ------------------------------------------------------------------

const IDS = [
  '20261124-2231-rc1',
  '20261124-2231-rc2',
  '20261124-2231-rb1',
  '20261124-2231-rc3',
  '20261124-2231-rb2',
  '20261124-2231-rc4',
] as const;

let tmp: string;
let ledgerPath: string;
let seedText: string;
let text: string;
/** The chain head each append returned, in order. */
let heads: string[];
let blocks: Block[];

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ledger-verify-test-'));
  ledgerPath = path.join(tmp, 'RELEASE_LOG.md');
  await copyFile(SEED, ledgerPath);
  seedText = await readFile(SEED, 'utf8');

  const plan: Array<{
    kind: 'rc' | 'rb';
    workflowId: string;
    make: (id: string, wf: string) => PromotionRecord | RollbackRecord;
  }> = [
    { kind: 'rc', workflowId: 'promotion-production-1', make: (id, wf) => promotion(id, wf) },
    {
      kind: 'rc',
      workflowId: 'promotion-production-2',
      make: (id, wf) =>
        promotion(id, wf, {
          stagingGateResult: 'fail',
          gatesRun: [gate('health'), gate('db_health', false, 503)],
          prodVerification: [],
          result: 'fail',
          rollbackPlan: 'nothing was promoted',
          notes: 'StagingGatesFailed: db_health returned 503',
          operator: 'bob',
        }),
    },
    {
      kind: 'rb',
      workflowId: 'rollback-production-1',
      make: (id, wf) => rollback(id, wf, { promotionReleaseId: IDS[0] }),
    },
    {
      kind: 'rc',
      workflowId: 'promotion-canary-1',
      make: (id, wf) =>
        promotion(id, wf, { environment: 'canary', commitSha: 'd'.repeat(40), operator: 'carol', approvals: ['dave'] }),
    },
    {
      kind: 'rb',
      workflowId: 'rollback-production-2',
      make: (id, wf) =>
        rollback(id, wf, { result: 'partial', operator: 'bob', notes: 'verification still failing: "db_health"' }),
    },
    {
      kind: 'rc',
      workflowId: 'promotion-production-3',
      make: (id, wf) => promotion(id, wf, { commitSha: 'e'.repeat(40), extras: [['drift', 'accepted']] }),
    },
  ];
  heads = [];
  const reserved: string[] = [];
  for (const step of plan) {
    const id = await reserveReleaseId({ ledgerPath, workflowId: step.workflowId, kind: step.kind, at: AT });
    reserved.push(id);
    const result = await appendLedgerEntry(ledgerPath, step.make(id, step.workflowId), async () => TIP);
    expect(result.appended).toBe(true);
    heads.push(result.chainHead);
  }
  expect(reserved).toEqual([...IDS]);
  text = await readFile(ledgerPath, 'utf8');
  blocks = blocksOf(text);
});

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** The ledger with `operator: alice` changed to `mallory` inside the third entry only. */
function editThirdOperator(): { edited: string; operatorLine: number } {
  const third = nth(blocks, 3);
  const operatorLine = linesOf(text, third.idLine, third.close).indexOf('  operator: alice') + third.idLine;
  expect(operatorLine).toBeGreaterThan(third.idLine);
  const lines = text.split('\n');
  lines[operatorLine - 1] = '  operator: mallory';
  return { edited: lines.join('\n'), operatorLine };
}

describe('clean ledgers', () => {
  test('the seed file verifies clean with no entries and the all-zero head', () => {
    expect(verifyLedger(seedText)).toEqual({ ok: true, entries: 0, chained: 0, head: ZEROS, problem: undefined });
  });

  test('the built ledger keeps the seed bytes and holds six fenced entries in append order', () => {
    expect(text.startsWith(seedText)).toBe(true);
    expect(blocks.map((b) => b.id)).toEqual([...IDS]);
    expect(parseLedger(text).entries.map((e) => e.releaseId)).toEqual([...IDS]);
  });

  test('the built ledger verifies clean with six chained entries, ending at the head the last append returned', () => {
    const report = verifyLedger(text);
    expect(report).toEqual({ ok: true, entries: 6, chained: 6, head: heads[5], problem: undefined });
    expect(new Set(heads).size).toBe(6);
  });

  test('verify with --head equal to the last append head is ok', () => {
    expect(verifyLedger(text, heads[5])).toMatchObject({ ok: true, entries: 6, head: heads[5] });
  });
});

describe('tampering is reported at the right line', () => {
  test("a value edited in the third entry is reported at that entry's release_id line", () => {
    const { edited, operatorLine } = editThirdOperator();
    expect(operatorLine).toBeGreaterThan(nth(blocks, 3).idLine);
    expect(edited.split('\n').filter((l, i) => l !== text.split('\n')[i])).toEqual(['  operator: mallory']);

    const report = verifyLedger(edited);
    expect(report.ok).toBe(false);
    expect(report.problem?.line).toBe(lineOf(edited, `- release_id: ${IDS[2]}`));
    expect(report.problem?.message).toContain(IDS[2]);
    expect(report.problem?.message).toMatch(/chain does not match/);
    expect(report.chained).toBe(2);
  });

  test('a deleted third entry is reported at the entry that now follows it', () => {
    const third = nth(blocks, 3);
    const deleted = withoutLines(text, third.open - 1, third.close);
    expect(deleted).not.toContain(IDS[2]);

    const report = verifyLedger(deleted);
    expect(report.ok).toBe(false);
    expect(report.entries).toBe(5);
    const followingLine = lineOf(deleted, `- release_id: ${IDS[3]}`);
    expect(followingLine).toBe(nth(blocks, 4).idLine - (third.close - third.open + 2));
    expect(report.problem?.line).toBe(followingLine);
    expect(report.problem?.message).toContain(IDS[3]);
  });

  test('two swapped entries are reported at the first of them in the new order', () => {
    const second = nth(blocks, 2);
    const third = nth(blocks, 3);
    const lines = text.split('\n');
    const swapped = [
      ...lines.slice(0, second.open - 2),
      ...segment(text, third),
      ...segment(text, second),
      ...lines.slice(third.close),
    ].join('\n');
    expect(swapped.length).toBe(text.length);
    expect(blocksOf(swapped).map((b) => b.id)).toEqual([IDS[0], IDS[2], IDS[1], IDS[3], IDS[4], IDS[5]]);

    const report = verifyLedger(swapped);
    expect(report.ok).toBe(false);
    expect(report.problem?.line).toBe(lineOf(swapped, `- release_id: ${IDS[2]}`));
    expect(report.problem?.line).toBe(second.idLine);
    expect(report.problem?.message).toContain(IDS[2]);
  });

  test('a deleted closing fence of the second entry is reported on the line where that fence belongs', () => {
    const second = nth(blocks, 2);
    expect(linesOf(text, second.close, second.close)).toEqual([FENCE]);
    const broken = withoutLines(text, second.close, second.close);
    // The line after entry 2's chain line is now the blank line that separated it from entry 3:
    // the parser is still inside entry 2's fence there, and a chained entry may hold nothing more.
    expect(linesOf(broken, second.chainLine, second.close)).toEqual([`  chain: sha256:${heads[1]}`, '']);

    const report = verifyLedger(broken);
    expect(report.ok).toBe(false);
    // Reported at exactly the line where the missing fence was (second.close in both texts). The
    // verifier cannot tell a missing fence from an extra line, so the message names both.
    expect(report.problem).toEqual({
      line: second.close,
      message: 'the entry does not close after chain: (a missing closing ``` fence, or a line added after chain)',
    });
  });

  test("a deleted closing fence of the last entry is reported at that entry's opening fence as never closed", () => {
    const last = nth(blocks, 6);
    const broken = withoutLines(text, last.close, last.close);

    const report = verifyLedger(broken);
    expect(report.ok).toBe(false);
    expect(report.problem?.line).toBe(last.open);
    expect(report.problem?.message).toMatch(/fence.*never closed/);
  });

  test('a truncated tail verifies without --head but fails with the old head at the last line of the file', () => {
    const last = nth(blocks, 6);
    const truncated = withoutLines(text, last.open - 1, last.close);
    expect(truncated.endsWith(`${FENCE}\n`)).toBe(true);
    expect(blocksOf(truncated).map((b) => b.id)).toEqual(IDS.slice(0, 5));

    expect(verifyLedger(truncated)).toEqual({ ok: true, entries: 5, chained: 5, head: heads[4], problem: undefined });

    const report = verifyLedger(truncated, heads[5]);
    expect(report.ok).toBe(false);
    const lastLine = truncated.split('\n').length - 1;
    expect(linesOf(truncated, lastLine, lastLine)).toEqual([FENCE]);
    expect(report.problem?.line).toBe(lastLine);
    expect(report.problem?.message).toMatch(/truncated/);
  });

  test('an earlier head on the complete file fails and says entries were appended after it', () => {
    const report = verifyLedger(text, heads[4]);
    expect(report.ok).toBe(false);
    expect(report.problem?.line).toBe(lastLineNumber(text));
    expect(report.problem?.message).toMatch(/appended after/);
  });

  test('a --head on the seed file, where nothing is chained, fails at its last line', () => {
    const report = verifyLedger(seedText, 'f'.repeat(64));
    expect(report.ok).toBe(false);
    expect(report.problem?.line).toBe(lastLineNumber(seedText));
  });

  test('stripping every chain line is accepted as hand-written history, but caught by --head', () => {
    const stripped = text
      .split('\n')
      .filter((l) => !l.startsWith('  chain: sha256:'))
      .join('\n');
    expect(verifyLedger(stripped)).toMatchObject({ ok: true, entries: 6, chained: 0, head: ZEROS });
    const report = verifyLedger(stripped, heads[5]);
    expect(report.ok).toBe(false);
    expect(report.problem?.message).toMatch(/truncated or rewritten/);
  });

  test('removing the chain line of only the first entry breaks the chain at the second entry', () => {
    const first = nth(blocks, 1);
    const stripped = withoutLines(text, first.chainLine, first.chainLine);
    const report = verifyLedger(stripped);
    expect(report.ok).toBe(false);
    expect(report.problem?.line).toBe(lineOf(stripped, `- release_id: ${IDS[1]}`));
  });

  test('an entry block copied verbatim to the end is reported at the copy', () => {
    const second = nth(blocks, 2);
    const copied = `${text}${segment(text, second).join('\n')}\n`;

    const report = verifyLedger(copied);
    expect(report.ok).toBe(false);
    expect(report.entries).toBe(7);
    const copyLine = copied.split('\n').lastIndexOf(`- release_id: ${IDS[1]}`) + 1;
    expect(copyLine).toBe(lastLineNumber(text) + 3);
    expect(report.problem?.line).toBe(copyLine);
    expect(report.problem?.message).toMatch(new RegExp(`${IDS[1]} appears again \\(first at line ${second.idLine}\\)`));
  });

  test('a repeated release id on a valid chain is still reported at the repeat', () => {
    const second = nth(blocks, 2);
    const repeated = rechain(`${text}${segment(text, second).join('\n')}\n`);
    expect(repeated.startsWith(text)).toBe(true);

    const report = verifyLedger(repeated);
    expect(report.ok).toBe(false);
    expect(report.chained).toBe(7); // the copy's chain is right; only the id gives it away
    expect(report.problem?.line).toBe(repeated.split('\n').lastIndexOf(`- release_id: ${IDS[1]}`) + 1);
    expect(report.problem?.message).toMatch(/appears again/);
  });

  test.each([
    { entry: 4, first: 'notes', second: 'operator' },
    { entry: 3, first: 'from_sha', second: 'to_sha' },
  ])(
    'keys $first and $second swapped in entry $entry, with the chain recomputed, are reported by name at the first misplaced key',
    ({ entry, first, second }) => {
      const block = nth(blocks, entry);
      const lines = text.split('\n');
      const inBlock = (key: string) =>
        lines.findIndex((l, i) => i >= block.idLine - 1 && i < block.close && l.startsWith(`  ${key}: `));
      const a = inBlock(first);
      const b = inBlock(second);
      expect(b).toBe(a + 1);
      [lines[a], lines[b]] = [lines[b] as string, lines[a] as string];
      const reordered = rechain(lines.join('\n'));
      expect(reordered).not.toBe(text);

      const report = verifyLedger(reordered);
      expect(report.ok).toBe(false);
      expect(report.chained).toBe(6); // the chain holds: only the order is wrong
      expect(report.problem?.line).toBe(a + 1);
      expect(linesOf(reordered, a + 1, a + 1)[0]).toMatch(new RegExp(`^  ${second}: `));
      expect(report.problem?.message).toContain(IDS[entry - 1]);
      expect(report.problem?.message).toContain(second);
      expect(report.problem?.message).toContain(first);
    },
  );
});

describe('templates', () => {
  function promotionTemplate(): string[] {
    const open = lineOf(seedText, '- release_id: <YYYYMMDD-HHMM-rc1>') - 1;
    const close = seedText.split('\n').indexOf(FENCE, open) + 1;
    const template = linesOf(seedText, open, close);
    expect(template[0]).toBe(FENCE);
    return template;
  }

  test('a template block with a <placeholder> release id is prose, never an entry, wherever it stands', () => {
    expect(parseLedger(seedText).entries).toEqual([]);
    const third = nth(blocks, 3);
    const lines = text.split('\n');
    const withTemplate = [...lines.slice(0, third.close), '', ...promotionTemplate(), ...lines.slice(third.close)].join(
      '\n',
    );

    expect(verifyLedger(withTemplate)).toEqual({
      ok: true,
      entries: 6,
      chained: 6,
      head: heads[5],
      problem: undefined,
    });
    expect(parseLedger(withTemplate).entries.map((e) => e.releaseId)).toEqual([...IDS]);
  });

  test('the same template block with a real release id is an entry, and fails', () => {
    const real = promotionTemplate().map((l) => l.replace('<YYYYMMDD-HHMM-rc1>', '20261124-2231-rc9'));
    const withEntry = `${text}\n${real.join('\n')}\n`;

    const report = verifyLedger(withEntry);
    expect(report.entries).toBe(7);
    expect(report.ok).toBe(false);
    expect(report.problem?.line).toBe(lineOf(withEntry, '- release_id: 20261124-2231-rc9'));
    expect(report.problem?.message).toMatch(/20261124-2231-rc9 has no chain although entries before it are chained/);
  });
});

describe('the CLI', () => {
  function cli(...args: string[]): SpawnSyncReturns<string> {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    delete env.FORCE_COLOR;
    const run = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', env, timeout: 30_000 });
    if (run.error) throw run.error;
    return run;
  }

  async function editedCopy(): Promise<{ file: string; line: number }> {
    const file = path.join(tmp, 'edited.md');
    const { edited } = editThirdOperator();
    await writeFile(file, edited);
    return { file, line: lineOf(edited, `- release_id: ${IDS[2]}`) };
  }

  test('ledger verify exits 0 with a one-line summary on the good file', () => {
    const run = cli('ledger', 'verify', ledgerPath);
    expect(run.status).toBe(0);
    expect(run.stderr).toBe('');
    const out = run.stdout.trimEnd().split('\n');
    expect(out).toHaveLength(1);
    expect(out[0]).toContain(ledgerPath);
    expect(out[0]).toContain('6 entries');
    expect(out[0]).toContain(heads[5]);
  });

  test('ledger verify exits 1 and prints <path>:<line>: on an edited copy', async () => {
    const { file, line } = await editedCopy();
    const run = cli('ledger', 'verify', file);
    expect(run.status).toBe(1);
    expect(run.stdout).toContain(`${file}:${line}: `);
    expect(run.stdout).toContain(IDS[2]);
  });

  test("ledger verify --head exits 0 on the file's head (with or without sha256:) and 1 on another", () => {
    expect(cli('ledger', 'verify', ledgerPath, '--head', heads[5] as string).status).toBe(0);
    expect(cli('ledger', 'verify', ledgerPath, '--head', `sha256:${heads[5]}`).status).toBe(0);
    const mismatch = cli('ledger', 'verify', ledgerPath, '--head', heads[4] as string);
    expect(mismatch.status).toBe(1);
    expect(mismatch.stdout).toContain(`${ledgerPath}:${lastLineNumber(text)}: `);
  });

  test('ledger verify --json prints parseable JSON with ok false and the problem line', async () => {
    const { file, line } = await editedCopy();
    const run = cli('ledger', 'verify', file, '--json');
    expect(run.status).toBe(1);
    const report = JSON.parse(run.stdout) as {
      path: string;
      ok: boolean;
      entries: number;
      problem?: { line: number; message: string };
    };
    expect(report).toMatchObject({ path: file, ok: false, entries: 6, problem: { line } });

    const good = JSON.parse(cli('ledger', 'verify', ledgerPath, '--json').stdout) as { ok: boolean; head: string };
    expect(good).toMatchObject({ ok: true, head: heads[5] });
  });

  test('ledger show --json --last 2 returns exactly the last two release ids', () => {
    const run = cli('ledger', 'show', ledgerPath, '--json', '--last', '2');
    expect(run.status).toBe(0);
    const rows = JSON.parse(run.stdout) as Array<{ releaseId: string }>;
    expect(rows.map((r) => r.releaseId)).toEqual([IDS[4], IDS[5]]);
  });

  test("ledger show --environment keeps only that environment's entries", () => {
    const run = cli('ledger', 'show', ledgerPath, '--json', '--environment', 'canary');
    expect(run.status).toBe(0);
    const rows = JSON.parse(run.stdout) as Array<{ releaseId: string; environment: string; operator: string }>;
    expect(rows).toEqual([expect.objectContaining({ releaseId: IDS[3], environment: 'canary', operator: 'carol' })]);
  });

  test('ledger verify on a missing file exits 2, not 0 or 1', () => {
    const run = cli('ledger', 'verify', path.join(tmp, 'no-such-ledger.md'));
    expect(run.status).toBe(2);
    // Which setting names the ledger, not the system's ENOENT.
    expect(run.stderr).toContain(
      `no ledger at ${path.join(tmp, 'no-such-ledger.md')}: set RELEASE_LEDGER or pass the path`,
    );
  });
});
