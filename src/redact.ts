// The one redaction function every path uses (gate detail, notes, ledger, command output, logs).
// Workflow-safe: pure string work (no Buffer, no TextEncoder, no Node builtins), because the
// promotion and rollback workflows redact caller free text before any activity sees it.

const MASK = '[REDACTED]';

/** Words that make a key name a secret when the key ends in one of them. */
const SECRET_WORD =
  'token|api[_-]?key|apikey|password|passwd|pass[_-]?phrase|secret|access[_-]?key|private[_-]?key|credentials?';

// Order matters: whole-token shapes first, then key/value pairs, so a token inside a
// pair is masked once and the key stays readable.
const PATTERNS: Array<[RegExp, string | ((...groups: string[]) => string)]> = [
  // PEM and PGP armour ("-----BEGIN PGP PRIVATE KEY BLOCK-----"); an unterminated block is masked to the end.
  [
    /-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|$)/g,
    MASK,
  ],
  [/\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, MASK],
  [/\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}\b/g, MASK],
  [/\bgithub_pat_[A-Za-z0-9_]{20,}\b/g, MASK],
  [/\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g, MASK],
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}/g, MASK],
  [/\bnpm_[A-Za-z0-9]{30,}\b/g, MASK],
  [/\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/g, MASK],
  [/\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{8,}/g, MASK],
  [/\bgl(?:pat|dt|rt|ptt|ft|soat|cbt)-[0-9A-Za-z_.-]{20,}/g, MASK],
  // A bare AWS secret access key: exactly 40 base64 characters. Random keys mix case and digits;
  // a git sha (lowercase hex) or an upper-case hex digest has no lower or no upper letter, so
  // both stay readable.
  [
    /(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g,
    (m) => (/[a-z]/.test(m) && /[A-Z]/.test(m) && /[0-9]/.test(m) ? MASK : m),
  ],
  // URL credentials: scheme://user:pass@ or scheme://token@ on http(s)
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@:]+:[^\s/@]*@/gi, (_m, scheme) => `${scheme}${MASK}@`],
  [/\b(https?:\/\/)[^\s/@:]+@/gi, (_m, scheme) => `${scheme}${MASK}@`],
  // Signed-URL signatures (Azure SAS, S3 and GCS presigned URLs): the key stays readable.
  [
    /(?<![A-Za-z0-9_-])(sig|x-amz-signature|x-amz-security-token|x-goog-signature)=([^\s&"'#<>;,]+)/gi,
    (_m, key) => `${key}=${MASK}`,
  ],
  // Authorization headers and bearer/basic values, quoted or not
  [
    /\b(authorization|proxy-authorization|x-api-key|api-key|cookie|set-cookie)("?\s*[:=]\s*"?)(?:(?:bearer|basic|token)\s+)?[^\s",;]+/gi,
    (_m, key, sep) => `${key}${sep}${MASK}`,
  ],
  // A word after "bearer"/"basic" that reads as English ("basic authentication", also ending a
  // sentence) is left alone; anything with a digit, a symbol or capitals inside is a credential.
  [
    /\b(bearer|basic)\s+([A-Za-z0-9._~+/=-]{8,})/gi,
    (m, scheme, value) => (/^[A-Za-z][a-z]*\.*$/.test(value) ? m : `${scheme} ${MASK}`),
  ],
  // <password>…</password> and other elements named like a secret.
  [
    new RegExp(
      `<([A-Za-z0-9_:-]*?(?:${SECRET_WORD})|(?:[A-Za-z0-9]+[_:-])*(?:pwd|pass))(\\s[^<>]*)?>([^<]*)</\\1\\s*>`,
      'gi',
    ),
    (_m, tag, attributes = '') => `<${tag}${attributes}>${MASK}</${tag}>`,
  ],
  // A quoted value after a secret key is masked whole: a passphrase is several words. A quote
  // that never closes on its line masks the rest of that line.
  [
    new RegExp(
      `\\b([A-Za-z0-9_-]*?(?:${SECRET_WORD}))(?![A-Za-z0-9])("?\\s*[:=]\\s*)(["'])(?:\\\\.|(?!\\3)[^\\\\\\n])*(?:\\3|(?=\\n|$))`,
      'gi',
    ),
    (_m, key, sep, quote) => `${key}${sep}${quote}${MASK}${quote}`,
  ],
  // pwd= and pass= (connection strings, query strings, forms). Only with "=" or as a quoted JSON
  // key: "tests pass: 12" is a report, not a credential. PWD=/some/dir is the shell's working directory.
  [
    /(?<![A-Za-z0-9_-])((?:[A-Za-z0-9]+[_-])*(?:pwd|pass))(\s*=\s*["']?|"\s*:\s*")([^\s"'&,;}<]+)/gi,
    (m, key, sep, value) => (/^pwd$/i.test(key) && value.startsWith('/') ? m : `${key}${sep}${MASK}`),
  ],
  // key=value and "key": "value" pairs whose key names a secret
  [
    // The key must END in the secret word: access_token, apiKey, DB_PASSWORD; not tokens, max_tokens.
    new RegExp(`\\b([A-Za-z0-9_-]*?(?:${SECRET_WORD}))(?![A-Za-z0-9])("?\\s*[:=]\\s*"?)([^\\s"&,;}]+)`, 'gi'),
    (_m, key, sep) => `${key}${sep}${MASK}`,
  ],
];

function redactOnce(text: string): string {
  let out = text;
  for (const [pattern, replacement] of PATTERNS) {
    out = out.replace(pattern, replacement as never);
  }
  return out;
}

/**
 * Masks every secret-shaped substring; ordinary text comes back unchanged. Repeated until
 * nothing changes (a mask can expose a new shape), so redact(redact(x)) === redact(x).
 */
export function redact(text: string): string {
  let out = text;
  // Stryker disable next-line UpdateOperator,EqualityOperator: equivalent, the bound only guarantees an end; texts settle in one or two passes
  for (let pass = 0; pass < 5; pass++) {
    const next = redactOnce(out);
    // Stryker disable next-line ConditionalExpression: equivalent, one more pass over a settled text changes nothing
    if (next === out) return out;
    out = next;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Known values in the encodings an echoing target spells them in.

const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** Shorter base64 fragments of a value would mask unrelated text too often. */
const MIN_FRAGMENT_CHARS = 8;

function utf8Bytes(text: string): number[] {
  const bytes: number[] = [];
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    if (cp < 0x80) bytes.push(cp);
    else if (cp < 0x800) bytes.push(0xc0 | (cp >> 6), 0x80 | (cp & 63));
    else if (cp < 0x10000) bytes.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
    else bytes.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
  }
  return bytes;
}

/** Standard base64 without padding. */
function base64(bytes: readonly number[]): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = i + 2 < bytes.length ? 4 : i + 1 < bytes.length ? 3 : 2;
    for (let c = 0; c < chars; c++) out += BASE64_ALPHABET[(n >> (18 - 6 * c)) & 63];
  }
  return out;
}

const hex2 = (n: number): string => n.toString(16).padStart(2, '0');
const escapeRegExp = (text: string): string => text.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');

const JSON_SHORT_ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '/': '\\/',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};
const HTML_NAMED: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/**
 * One character of a value as a regex that accepts it raw or escaped the way an echo spells it:
 * a JSON escape (`\/`, `\"`, `\u002f`), percent-encoding (also double; whitespace, `+` included, is textPattern's),
 * an HTML character reference, a `\x2f` escape. Letter case is the regex's `i` flag.
 */
function characterForms(ch: string): string {
  const cp = ch.codePointAt(0) as number;
  const forms = new Set<string>([escapeRegExp(ch)]);
  const short = JSON_SHORT_ESCAPES[ch];
  if (short) forms.add(escapeRegExp(short));
  // One form for the whole character: a 4-byte one is escaped as its two surrogates in a row (JSON, Python's json.dumps).
  forms.add(
    Array.from({ length: ch.length }, (_, i) => `\\\\u${ch.charCodeAt(i).toString(16).padStart(4, '0')}`).join(''),
  );
  const bytes = utf8Bytes(ch);
  forms.add(bytes.map((b) => `%(?:25)?${hex2(b)}`).join(''));
  if (cp < 0x80) forms.add(`\\\\x${hex2(cp)}`);
  forms.add(`&#0*${cp};`);
  forms.add(`&#x0*${cp.toString(16)};`);
  const named = HTML_NAMED[ch];
  if (named) forms.add(named);
  return `(?:${[...forms].join('|')})`;
}

/** The value as text, with every character in any of its escaped forms; whitespace runs as any whitespace run. */
function textPattern(secret: string): string {
  let out = '';
  let inSpace = false;
  for (const ch of secret) {
    if (/\s/.test(ch)) {
      if (!inSpace)
        out += `(?:\\s|\\+|%(?:25)?(?:20|09|0a|0d)|\\\\[ntr]|\\\\u00(?:20|09|0a|0d)|&#0*(?:32|9|10|13);|&#x0*(?:20|9|a|d);)+`;
      inSpace = true;
      continue;
    }
    inSpace = false;
    out += characterForms(ch);
  }
  return out;
}

/** A base64 string as a regex: either alphabet (standard or url), and as JSON or a URL would escape its symbols. */
function base64Pattern(encoded: string, padding: number): string {
  let out = '';
  for (const ch of encoded) {
    // base64() writes the standard alphabet; the pattern accepts the url-safe one as well.
    if (ch === '+') out += '(?:\\+|-|%2b|\\\\u002b)';
    else if (ch === '/') out += '(?:/|_|\\\\/|%2f|\\\\u002f)';
    else out += ch;
  }
  return padding ? `${out}(?:=|%3d|\\\\u003d){0,${padding}}` : out;
}

/**
 * The base64 an encoder writes for `bytes` when they start `offset` bytes (0–2) into whatever it
 * encodes: only the characters that depend on these bytes alone, so the value is found inside
 * the base64 of any wrapping ("Bearer …", a whole JSON body) at every alignment.
 */
function alignedBase64(bytes: readonly number[], offset: number): string {
  const encoded = base64([...new Array<number>(offset).fill(0), ...bytes]);
  const firstBit = offset * 8;
  const endBit = firstBit + bytes.length * 8;
  // Character j holds bits 6j to 6j + 6: the first wholly after firstBit, up to the last wholly before endBit.
  return encoded.slice(Math.ceil(firstBit / 6), Math.floor(endBit / 6));
}

/** The spellings a value may take inside a text an echo then base64-encodes. */
function textVariants(secret: string): string[] {
  const json = JSON.stringify(secret).slice(1, -1);
  let url = secret;
  try {
    url = encodeURIComponent(secret);
  } catch {
    // a lone surrogate has no URL encoding; the other spellings still apply
  }
  return [...new Set([secret, json, json.replace(/\//g, '\\/'), url])];
}

function valuePattern(secret: string): RegExp {
  const alternatives: string[] = [textPattern(secret)];
  const fragments = new Set<string>();
  for (const variant of textVariants(secret)) {
    const bytes = utf8Bytes(variant);
    // The value's own base64 (with its padding), then the fragments of it inside a longer text.
    alternatives.push(base64Pattern(base64(bytes), (3 - (bytes.length % 3)) % 3));
    for (const offset of [0, 1, 2]) {
      const fragment = alignedBase64(bytes, offset);
      if (fragment.length >= MIN_FRAGMENT_CHARS) fragments.add(fragment);
    }
  }
  for (const fragment of fragments) alternatives.push(base64Pattern(fragment, 0));
  // Hex of the UTF-8 bytes, also with a separator between bytes ("73:33", "73 33").
  alternatives.push(utf8Bytes(secret).map(hex2).join('[:\\s-]?'));
  return new RegExp(alternatives.join('|'), 'gi');
}

const valuePatterns = new Map<string, RegExp>();

function patternFor(secret: string): RegExp {
  let pattern = valuePatterns.get(secret);
  // The cache only saves time: building the pattern anew, or emptying the cache at any size, masks the same.
  // Stryker disable next-line ConditionalExpression: equivalent, see above
  if (!pattern) {
    // Header values are few and fixed per worker; the bound only guards against a caller that varies them.
    // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent, see above
    if (valuePatterns.size >= 64) valuePatterns.clear();
    pattern = valuePattern(secret);
    valuePatterns.set(secret, pattern);
  }
  return pattern;
}

/**
 * Masks the given literal values too (e.g. header values read from the worker's environment),
 * in every spelling an echoing target may use: raw, JSON-escaped (also `\/`), URL-encoded,
 * HTML-escaped, base64 and base64url (the value's own and inside a longer encoded text), hex;
 * in any letter case.
 */
export function redactValues(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    out = out.replace(patternFor(secret), MASK);
  }
  return redact(out);
}
