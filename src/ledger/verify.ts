// `ledger verify`: the file is a release log at all, every entry well-formed, ids unique, the hash
// chain unbroken, and (with a known head) nothing cut from the end. The first problem wins, with
// its line number. The worker checks appends against the same rules (LedgerVerifier).
import { FULL_SHA } from '../domain';
import { chainOf, fieldText, GENESIS_CHAIN, ParsedEntry, PROMOTION_KEYS, ROLLBACK_KEYS, scanLedger } from './format';
import { TIP_UNREADABLE } from './entry';

export interface LedgerProblem {
  line: number;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  entries: number;
  chained: number;
  /** The chain head the file ends at (64 zeros when nothing is chained). */
  head: string;
  problem?: LedgerProblem;
}

const SHA = /^[0-9a-f]{7,40}$/;
const VALUES: Record<string, (value: string) => boolean> = {
  type: (v) => v === 'promotion' || v === 'rollback',
  commit_sha: (v) => SHA.test(v),
  from_sha: (v) => SHA.test(v),
  to_sha: (v) => SHA.test(v),
  environment: (v) => /^[a-z0-9-]{1,40}$/.test(v),
  change_class: (v) => v === 'A' || v === 'B',
  staging_gate_result: (v) => v === 'pass' || v === 'fail' || v === 'not run',
  branch_tip_after: (v) => FULL_SHA.test(v) || v === '(branch missing)' || v === TIP_UNREADABLE,
  promotion_release_id: (v) => /^[0-9]{8}-[0-9]{4}-rc[0-9]+$/.test(v),
};

function checkEntry(entry: ParsedEntry): LedgerProblem | undefined {
  const type = fieldText(entry, 'type');
  const template: readonly string[] = type === 'rollback' ? ROLLBACK_KEYS : PROMOTION_KEYS;
  if (type !== 'promotion' && type !== 'rollback') {
    return {
      line: entry.fields.get('type')?.line ?? entry.line,
      message: `${entry.releaseId}: type must be promotion or rollback`,
    };
  }
  const kind = entry.releaseId.includes('-rb') ? 'rollback' : 'promotion';
  if (kind !== type)
    return {
      line: entry.fields.get('type')?.line ?? entry.line,
      message: `${entry.releaseId}: a ${kind} id on a ${type} entry`,
    };
  // Template keys come first and in the seed's order; extras only after the last of them.
  let expected = 0;
  for (const key of entry.keys) {
    const at = template.indexOf(key);
    const line = entry.fields.get(key)?.line ?? entry.line;
    if (at === -1) {
      if (expected < template.length)
        return { line, message: `${entry.releaseId}: ${key} comes before the template key ${template[expected]}` };
      continue;
    }
    if (at !== expected) {
      const later = entry.keys.includes(template[expected] as string);
      return {
        line,
        message:
          at > expected && !later
            ? `${entry.releaseId}: key ${template[expected]} is missing before ${key}`
            : `${entry.releaseId}: key ${key} is out of the template's order (expected ${template[expected]} here)`,
      };
    }
    expected++;
  }
  if (expected < template.length)
    return { line: entry.line, message: `${entry.releaseId}: key ${template[expected]} is missing` };
  const resultOk = type === 'promotion' ? ['pass', 'fail'] : ['completed', 'partial'];
  const result = fieldText(entry, 'result') ?? '';
  if (!resultOk.includes(result))
    return {
      line: entry.fields.get('result')?.line ?? entry.line,
      message: `${entry.releaseId}: result must be ${resultOk.join(' or ')}`,
    };
  for (const [key, valid] of Object.entries(VALUES)) {
    const field = entry.fields.get(key);
    if (!field) continue;
    if (typeof field.value !== 'string' || !valid(field.value))
      return {
        line: field.line,
        message: `${entry.releaseId}: ${key} has an invalid value ${JSON.stringify(field.value)}`,
      };
  }
  return undefined;
}

/** What `ledger verify` says of a file that is neither headed as a release log nor holds an entry. */
export const NOT_A_RELEASE_LOG =
  'not a release log: no "# Release Log" heading and no entries (is this the right file?)';
const HEADING = /^# Release Log\b/m;

/**
 * The checks of `ledger verify` (all but --head), fed the file's text in one piece or in
 * consecutive pieces (the worker's index reads only appended bytes). Every rule lives here, so
 * the command and the worker cannot disagree on whether a file verifies.
 */
export class LedgerVerifier {
  entries = 0;
  chained = 0;
  /** The chain head so far (64 zeros when nothing is chained). */
  head = GENESIS_CHAIN;
  /** Every chain value seen, kept only when asked for (--head's message needs it). */
  readonly heads: Set<string> | undefined;
  private readonly problems: LedgerProblem[] = [];
  private readonly seen = new Map<string, number>();
  private chainBroken = false;
  private headed = false;

  constructor(options: { keepHeads?: boolean } = {}) {
    this.heads = options.keepHeads ? new Set() : undefined;
  }

  /**
   * Checks `text`, which starts on line `lineOffset + 1` of the file, at a line start outside any
   * fence (the end of an earlier piece that verified). Entries also go to `onEntry`, their line
   * numbers relative to `text`.
   */
  scan(text: string, lineOffset = 0, onEntry?: (entry: ParsedEntry) => void): void {
    if (!this.headed && HEADING.test(text)) this.headed = true;
    const found = scanLedger(text, (entry) => {
      this.check(entry, lineOffset);
      onEntry?.(entry);
    });
    for (const p of found) this.problems.push({ line: p.line + lineOffset, message: p.message });
  }

  /** The first problem by line in what was scanned, or undefined when it verifies. */
  get problem(): LedgerProblem | undefined {
    let first: LedgerProblem | undefined;
    for (const p of this.problems) if (!first || p.line < first.line) first = p;
    if (!first && !this.headed && this.entries === 0) return { line: 1, message: NOT_A_RELEASE_LOG };
    return first;
  }

  private check(entry: ParsedEntry, offset: number): void {
    const line = entry.line + offset;
    this.entries++;
    if (entry.chain) this.heads?.add(entry.chain);
    const first = this.seen.get(entry.releaseId);
    if (first !== undefined)
      this.problems.push({ line, message: `release id ${entry.releaseId} appears again (first at line ${first})` });
    else this.seen.set(entry.releaseId, line);
    const problem = checkEntry(entry);
    if (problem) this.problems.push({ line: problem.line + offset, message: problem.message });
    if (this.chainBroken) return;
    if (entry.chain === undefined) {
      if (this.chained > 0) {
        this.problems.push({
          line,
          message: `${entry.releaseId} has no chain although entries before it are chained (an edit or an insertion)`,
        });
        this.chainBroken = true;
      }
      return;
    }
    if (entry.chain !== chainOf(this.head, entry.body)) {
      this.problems.push({
        line,
        message: `${entry.releaseId}: chain does not match (the entry was edited, or an entry before it was removed, reordered or edited)`,
      });
      this.chainBroken = true;
      return;
    }
    this.head = entry.chain;
    this.chained++;
  }
}

/** Checks a ledger's text. `expectedHead` (hex) catches a truncated tail. */
export function verifyLedger(text: string, expectedHead?: string): VerifyReport {
  const verifier = new LedgerVerifier({ keepHeads: expectedHead !== undefined });
  verifier.scan(text);
  const { head } = verifier;
  let problem = verifier.problem;
  if (expectedHead !== undefined && !problem && expectedHead.toLowerCase() !== head) {
    const lastLine = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    problem = {
      line: lastLine,
      message: verifier.heads?.has(expectedHead.toLowerCase())
        ? `the file ends at chain ${head} but --head ${expectedHead} is an earlier entry's: entries were appended after it (pass the newer head)`
        : `the file ends at chain ${head}, not at --head ${expectedHead}: entries after line ${lastLine} are missing (the tail was truncated or rewritten)`,
    };
  }
  return { ok: !problem, entries: verifier.entries, chained: verifier.chained, head, problem };
}
