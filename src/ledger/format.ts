// The release log's text format (SPEC §6): rendering an entry's fields as text, the hash chain,
// and parsing a file back into entries. Pure functions, but not workflow-safe (node:crypto for
// the chain); what an entry says is entry.ts's, the file I/O store.ts's.
import { createHash } from 'node:crypto';
import { RELEASE_ID } from '../domain';
import type { LedgerFields, LedgerValue } from './entry';

export const LEDGER_HEADING =
  '# Release Log (Append-Only)\n\n' +
  'Use this file to record promotions and rollbacks. Do not overwrite existing entries; append new entries in chronological order. ' +
  'Evidence must reference staging gates and post-promotion checks. Do not paste secrets.\n';

export const GENESIS_CHAIN = '0'.repeat(64);

/** Keys of the seed's templates, in order; extras go after the last and before `chain`. */
export const PROMOTION_KEYS = [
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
] as const;
export const ROLLBACK_KEYS = [
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
] as const;
/** Free text is written JSON-quoted so no value can open a new line or a fence. */
export const QUOTED_KEYS = new Set(['notes', 'rollback_plan', 'evidence_refs', 'trigger']);

/**
 * What a reader may take for a line break (C0 and C1 controls, DEL, U+2028, U+2029; NEL is
 * U+0085, in C1) or what reorders a line on screen (bidi controls), so a value could forge or
 * hide a line to a reader that is not this parser.
 */
// eslint-disable-next-line no-control-regex -- control characters are exactly what must go
const LINE_BREAKING = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;
// eslint-disable-next-line no-control-regex -- as above, in runs
const LINE_BREAKING_RUN = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]+/g;

/** Collapses anything that could break a line or reorder it in a plain value. */
function plain(value: string): string {
  return value.replace(LINE_BREAKING_RUN, ' ').trim();
}

/**
 * Free text as a JSON string in which nothing can break or reorder the line: JSON.stringify
 * leaves DEL, C1, U+2028/U+2029 and bidi controls raw; they become \uXXXX, which JSON.parse
 * reads back, so the value round-trips.
 */
function quoted(value: string): string {
  return JSON.stringify(value).replace(LINE_BREAKING, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function renderValue(key: string, value: LedgerValue): string[] {
  if (Array.isArray(value)) {
    if (value.length === 0) return [`  ${key}: []`];
    return [`  ${key}:`, ...value.map((item) => `    - ${plain(item)}`)];
  }
  return [`  ${key}: ${QUOTED_KEYS.has(key) ? quoted(value) : plain(value)}`];
}

/**
 * The entry's lines from `- release_id:` to the last key before `chain`, each ending in "\n":
 * exactly the text the chain hashes.
 */
export function renderEntryBody(fields: LedgerFields): string {
  const [first, ...rest] = fields;
  if (!first || first[0] !== 'release_id' || typeof first[1] !== 'string')
    throw new Error('a ledger entry starts with release_id');
  const lines = [`- release_id: ${plain(first[1])}`, ...rest.flatMap(([key, value]) => renderValue(key, value))];
  return lines.map((line) => `${line}\n`).join('');
}

export function chainOf(previous: string, body: string): string {
  return createHash('sha256').update(previous).update('\n').update(body).digest('hex');
}

/** The fenced block appended to the file (with a blank line before it) and its chain head. */
export function renderBlock(fields: LedgerFields, previousChain: string): { text: string; chain: string } {
  const body = renderEntryBody(fields);
  const chain = chainOf(previousChain, body);
  return { text: `\n\`\`\`\n${body}  chain: sha256:${chain}\n\`\`\`\n`, chain };
}

export interface ParsedEntry {
  releaseId: string;
  /** 1-based line of `- release_id:` */
  line: number;
  fields: Map<string, { line: number; value: LedgerValue }>;
  /** Key order as written, for order checks. */
  keys: string[];
  body: string;
  chain?: string;
  chainLine?: number;
}

export interface ParseProblem {
  line: number;
  message: string;
}

export interface ParsedLedger {
  entries: ParsedEntry[];
  problems: ParseProblem[];
}

const KEY_NAME = /^[a-z_][a-z0-9_]*$/;

function unquote(key: string, raw: string): string {
  if (QUOTED_KEYS.has(key) && raw.startsWith('"')) {
    try {
      const value: unknown = JSON.parse(raw);
      if (typeof value === 'string') return value;
    } catch {
      // seed-era free text was not always quoted; keep it as written
    }
  }
  return raw;
}

/**
 * Reads every entry: a fenced block whose first line is `- release_id: <real id>`. Templates
 * (`<placeholder>` ids) and other blocks are prose. Problems carry 1-based line numbers.
 */
export function parseLedger(text: string): ParsedLedger {
  const entries: ParsedEntry[] = [];
  const problems = scanLedger(text, (entry) => entries.push(entry));
  return { entries, problems };
}

/**
 * Streams the entries to `onEntry` in file order and returns the format problems. Nothing is
 * kept between entries, so a 100k-entry ledger verifies without holding it all as objects.
 */
export function scanLedger(text: string, onEntry: (entry: ParsedEntry) => void): ParseProblem[] {
  const problems: ParseProblem[] = [];
  let inFence = false;
  let fenceLine = 0;
  let current: ParsedEntry | undefined;
  // The key a list item belongs to: release_id when an entry opens, then each key as it comes.
  let lastKey = 'release_id';
  // Offsets into `text`: an entry's body is one slice of the file, not a copy line by line
  // (100k entries must verify in well under 2 s).
  let bodyStart = 0;
  // Stryker disable next-line UnaryOperator: equivalent, every entry sets it to -1 when it opens, before it is read
  let bodyEnd = -1;
  let pos = 0;
  let lineNo = 0;
  const length = text.length;
  while (pos < length) {
    let end = text.indexOf('\n', pos);
    if (end === -1) end = length;
    const line = text.slice(pos, end);
    lineNo++;
    const lineStart = pos;
    pos = end + 1;
    if (isFence(line)) {
      if (!inFence) {
        inFence = true;
        fenceLine = lineNo;
        current = undefined;
        // Peek at the next line: an entry starts with `- release_id: <real id>`.
        let nextEnd = text.indexOf('\n', pos);
        if (nextEnd === -1) nextEnd = length;
        if (text.startsWith('- release_id: ', pos) && text.charCodeAt(pos + 14) !== 60 /* '<' */) {
          const id = text.slice(pos + 14, nextEnd);
          lineNo++;
          if (!RELEASE_ID.test(id))
            problems.push({ line: lineNo, message: `release_id "${id}" is not YYYYMMDD-HHMM-rcN or -rbN` });
          current = {
            releaseId: id,
            line: lineNo,
            fields: new Map([['release_id', { line: lineNo, value: id }]]),
            keys: ['release_id'],
            // Stryker disable next-line StringLiteral: equivalent, the closing fence sets it before anyone reads it
            body: '',
          };
          bodyStart = pos;
          bodyEnd = -1;
          lastKey = 'release_id';
          pos = nextEnd + 1;
        }
      } else {
        if (line.trim() !== '```') problems.push({ line: lineNo, message: 'a closing fence must be a bare ``` line' });
        if (current) {
          current.body = text.slice(bodyStart, bodyEnd === -1 ? lineStart : bodyEnd);
          onEntry(current);
        }
        inFence = false;
        current = undefined;
      }
      continue;
    }
    if (!inFence || !current) continue;
    if (current.chain !== undefined) {
      problems.push({
        line: lineNo,
        message: 'the entry does not close after chain: (a missing closing ``` fence, or a line added after chain)',
      });
      continue;
    }
    if (line.startsWith('    - ')) {
      const field = current.fields.get(lastKey);
      if (field && Array.isArray(field.value)) field.value.push(line.slice(6));
      else problems.push({ line: lineNo, message: `list item under ${lastKey}, which is not a list` });
      continue;
    }
    // `  key: value` or `  key:` (a list follows); checked by hand, this loop runs per line. A
    // third space, or any text that is not a key name, fails KEY_NAME below.
    // Stryker disable next-line UnaryOperator: equivalent, any colon at or before 2 gives no name
    const colon = line.charCodeAt(0) === 32 && line.charCodeAt(1) === 32 ? line.indexOf(':', 2) : -1;
    // Stryker disable next-line EqualityOperator,StringLiteral: equivalent, slice(2, 2) is '' too, and KEY_NAME refuses any other text
    const name = colon > 2 ? line.slice(2, colon) : '';
    if (name && KEY_NAME.test(name) && (colon === line.length - 1 || line.charCodeAt(colon + 1) === 32)) {
      const raw = colon === line.length - 1 ? undefined : line.slice(colon + 2);
      if (current.fields.has(name))
        problems.push({ line: lineNo, message: `key ${name} appears twice in ${current.releaseId}` });
      if (name === 'chain') {
        const hex =
          // Stryker disable next-line Regex: equivalent, the length check leaves exactly 64 characters after sha256:
          raw !== undefined && raw.length === 71 && raw.startsWith('sha256:') && /^[0-9a-f]{64}$/.test(raw.slice(7))
            ? raw.slice(7)
            : undefined;
        if (!hex) problems.push({ line: lineNo, message: 'chain must be sha256:<64 hex>' });
        current.chain = hex ?? '';
        current.chainLine = lineNo;
        bodyEnd = lineStart;
        continue;
      }
      current.fields.set(name, { line: lineNo, value: raw === undefined || raw === '[]' ? [] : unquote(name, raw) });
      current.keys.push(name);
      lastKey = name;
      continue;
    }
    problems.push({
      line: lineNo,
      message: `unexpected line in entry ${current.releaseId}: ${JSON.stringify(line.slice(0, 60))}`,
    });
  }
  if (inFence) problems.push({ line: fenceLine, message: 'fence opened here is never closed' });
  return problems;
}

function isFence(line: string): boolean {
  // Up to three spaces of indentation, then ``` (CommonMark's rule for a fence).
  const i = line.charCodeAt(0) === 32 ? (line.charCodeAt(1) === 32 ? (line.charCodeAt(2) === 32 ? 3 : 2) : 1) : 0;
  return line.startsWith('```', i);
}

export function fieldText(entry: ParsedEntry, key: string): string | undefined {
  const value = entry.fields.get(key)?.value;
  return typeof value === 'string' ? value : undefined;
}
