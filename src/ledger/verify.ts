// `ledger verify`: every entry well-formed, ids unique, the hash chain unbroken, and (with a
// known head) nothing cut from the end. The first problem wins, with its line number.
import { chainOf, fieldText, GENESIS_CHAIN, ParsedEntry, PROMOTION_KEYS, ROLLBACK_KEYS, scanLedger } from './format';

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
const FULL_SHA = /^[0-9a-f]{40}$/;
const VALUES: Record<string, (value: string) => boolean> = {
  type: (v) => v === 'promotion' || v === 'rollback',
  commit_sha: (v) => SHA.test(v),
  from_sha: (v) => SHA.test(v),
  to_sha: (v) => SHA.test(v),
  environment: (v) => /^[a-z0-9-]{1,40}$/.test(v),
  change_class: (v) => v === 'A' || v === 'B',
  staging_gate_result: (v) => v === 'pass' || v === 'fail' || v === 'not run',
  branch_tip_after: (v) => FULL_SHA.test(v) || v === '(branch missing)',
  promotion_release_id: (v) => /^[0-9]{8}-[0-9]{4}-rc[0-9]+$/.test(v),
};

function checkEntry(entry: ParsedEntry): LedgerProblem | undefined {
  const type = fieldText(entry, 'type');
  const template: readonly string[] = type === 'rollback' ? ROLLBACK_KEYS : PROMOTION_KEYS;
  if (type !== 'promotion' && type !== 'rollback') {
    return { line: entry.fields.get('type')?.line ?? entry.line, message: `${entry.releaseId}: type must be promotion or rollback` };
  }
  const kind = entry.releaseId.includes('-rb') ? 'rollback' : 'promotion';
  if (kind !== type) return { line: entry.fields.get('type')?.line ?? entry.line, message: `${entry.releaseId}: a ${kind} id on a ${type} entry` };
  // Template keys come first and in the seed's order; extras only after the last of them.
  let expected = 0;
  for (const key of entry.keys) {
    const at = template.indexOf(key);
    const line = entry.fields.get(key)?.line ?? entry.line;
    if (at === -1) {
      if (expected < template.length) return { line, message: `${entry.releaseId}: ${key} comes before the template key ${template[expected]}` };
      continue;
    }
    if (at !== expected) {
      const later = entry.keys.includes(template[expected] as string);
      return {
        line,
        message: at > expected && !later ? `${entry.releaseId}: key ${template[expected]} is missing before ${key}` : `${entry.releaseId}: key ${key} is out of the template's order (expected ${template[expected]} here)`,
      };
    }
    expected++;
  }
  if (expected < template.length) return { line: entry.line, message: `${entry.releaseId}: key ${template[expected]} is missing` };
  const resultOk = type === 'promotion' ? ['pass', 'fail'] : ['completed', 'partial'];
  const result = fieldText(entry, 'result') ?? '';
  if (!resultOk.includes(result)) return { line: entry.fields.get('result')?.line ?? entry.line, message: `${entry.releaseId}: result must be ${resultOk.join(' or ')}` };
  for (const [key, valid] of Object.entries(VALUES)) {
    const field = entry.fields.get(key);
    if (!field) continue;
    if (typeof field.value !== 'string' || !valid(field.value)) return { line: field.line, message: `${entry.releaseId}: ${key} has an invalid value ${JSON.stringify(field.value)}` };
  }
  return undefined;
}

/** Checks a ledger's text. `expectedHead` (hex) catches a truncated tail. */
export function verifyLedger(text: string, expectedHead?: string): VerifyReport {
  const problems: LedgerProblem[] = [];
  const seen = new Map<string, number>();
  const heads = new Set<string>();
  let previous = GENESIS_CHAIN;
  let entries = 0;
  let chained = 0;
  let chainBroken = false;
  const check = (entry: ParsedEntry): void => {
    entries++;
    if (entry.chain) heads.add(entry.chain);
    const first = seen.get(entry.releaseId);
    if (first !== undefined) problems.push({ line: entry.line, message: `release id ${entry.releaseId} appears again (first at line ${first})` });
    else seen.set(entry.releaseId, entry.line);
    const problem = checkEntry(entry);
    if (problem) problems.push(problem);
    if (chainBroken) return;
    if (entry.chain === undefined) {
      if (chained > 0) {
        problems.push({ line: entry.line, message: `${entry.releaseId} has no chain although entries before it are chained (an edit or an insertion)` });
        chainBroken = true;
      }
      return;
    }
    if (entry.chain !== chainOf(previous, entry.body)) {
      problems.push({
        line: entry.line,
        message: `${entry.releaseId}: chain does not match (the entry was edited, or an entry before it was removed, reordered or edited)`,
      });
      chainBroken = true;
      return;
    }
    previous = entry.chain;
    chained++;
  };
  problems.push(...scanLedger(text, check));
  const head = previous;
  if (expectedHead !== undefined && problems.length === 0 && expectedHead.toLowerCase() !== head) {
    const lastLine = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    problems.push({
      line: lastLine,
      message: heads.has(expectedHead.toLowerCase())
        ? `the file ends at chain ${head} but --head ${expectedHead} is an earlier entry's: entries were appended after it (pass the newer head)`
        : `the file ends at chain ${head}, not at --head ${expectedHead}: entries after line ${lastLine} are missing (the tail was truncated or rewritten)`,
    });
  }
  problems.sort((a, b) => a.line - b.line);
  return { ok: problems.length === 0, entries, chained, head, problem: problems[0] };
}
