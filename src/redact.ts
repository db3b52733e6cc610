// The one redaction function every path uses (gate detail, notes, ledger, command output, logs).
// Workflow-safe: pure string work.

const MASK = '[REDACTED]';

// Order matters: whole-token shapes first, then key/value pairs, so a token inside a
// pair is masked once and the key stays readable.
const PATTERNS: Array<[RegExp, string | ((...groups: string[]) => string)]> = [
  [/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g, MASK],
  [/\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, MASK],
  [/\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}\b/g, MASK],
  [/\bgithub_pat_[A-Za-z0-9_]{20,}\b/g, MASK],
  [/\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g, MASK],
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}/g, MASK],
  [/\bnpm_[A-Za-z0-9]{30,}\b/g, MASK],
  // URL credentials: scheme://user:pass@ or scheme://token@ on http(s)
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@:]+:[^\s/@]*@/gi, (_m, scheme) => `${scheme}${MASK}@`],
  [/\b(https?:\/\/)[^\s/@:]+@/gi, (_m, scheme) => `${scheme}${MASK}@`],
  // Authorization headers and bearer/basic values, quoted or not
  [/\b(authorization|proxy-authorization|x-api-key|api-key|cookie|set-cookie)("?\s*[:=]\s*"?)(?:(?:bearer|basic|token)\s+)?[^\s",;]+/gi, (_m, key, sep) => `${key}${sep}${MASK}`],
  // A word after "bearer"/"basic" that reads as English ("basic authentication") is left alone;
  // anything with a digit, a symbol or capitals inside is a credential.
  [/\b(bearer|basic)\s+([A-Za-z0-9._~+/=-]{8,})/gi, (m, scheme, value) => (/^[A-Za-z][a-z]*$/.test(value) ? m : `${scheme} ${MASK}`)],
  // key=value and "key": "value" pairs whose key names a secret
  [
    // The key must END in the secret word: access_token, apiKey, DB_PASSWORD; not tokens, max_tokens.
    /\b([A-Za-z0-9_-]*?(?:token|api[_-]?key|apikey|password|passwd|secret|access[_-]?key|private[_-]?key|credentials?))(?![A-Za-z0-9])("?\s*[:=]\s*"?)([^\s"&,;}]+)/gi,
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
  for (let pass = 0; pass < 5; pass++) {
    const next = redactOnce(out);
    if (next === out) return out;
    out = next;
  }
  return out;
}

/** Masks the given literal values too (e.g. header values read from the worker's environment). */
export function redactValues(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    // The value as sent, and as an echo would spell it: JSON-escaped or URL-encoded.
    for (const form of new Set([secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)])) out = out.split(form).join(MASK);
  }
  return redact(out);
}
