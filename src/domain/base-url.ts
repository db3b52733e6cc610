// An http(s) base URL a promotion probes (staging, production), checked and in the one form the
// probes, the status and the ledger all use. Workflow-safe: zod and the WHATWG URL parser only.
import { z } from 'zod';

/**
 * A base URL as it is probed, or why it is refused. The value is the WHATWG parse's
 * `origin + pathname` without a trailing slash: what the probes reach is what status and ledger
 * record. Refused when a reader could take the text for another host than the one probed
 * (`http://a:1\@b:2` reaches a, reads as b): backslashes, "@" anywhere, whitespace or control
 * characters (a URL parser silently drops tabs and newlines), percent-encoding in the host, and
 * any host a parser spells differently from the text (non-ASCII, numeric IPv4 forms).
 */
export function parseBaseUrl(text: string): { ok: true; value: string } | { ok: false; message: string } {
  const refused = (message: string) => ({ ok: false as const, message });
  // eslint-disable-next-line no-control-regex -- control characters are exactly what must go
  if (/[\s\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(text))
    return refused('must not contain whitespace or control characters (a URL parser drops some silently)');
  if (text.includes('\\'))
    return refused(
      'must not contain a backslash (a URL parser reads it as "/", so the host probed would not be the host written); use "/"',
    );
  const naive = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/]*)/.exec(text);
  const scheme = naive?.[1]?.toLowerCase();
  if (!naive || (scheme !== 'http' && scheme !== 'https')) {
    return refused(
      // Stryker disable next-line StringLiteral: equivalent, a scheme that reaches this line is never http or https
      scheme && !['http', 'https'].includes(scheme)
        ? 'must use http or https'
        : 'must be an absolute http(s) URL such as https://staging.example.com',
    );
  }
  if (text.includes('@')) {
    return refused(
      naive[2]?.includes('@')
        ? 'must not carry user:password; secrets for probes come from the worker config'
        : 'must not contain "@" (a reader could take what follows it for the host)',
    );
  }
  if (text.includes('?')) return refused('must not have a query string');
  if (text.includes('#')) return refused('must not have a fragment');
  if (naive[2]?.includes('%')) return refused('must not percent-encode the host; write it plainly');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return refused('must be an absolute http(s) URL such as https://staging.example.com');
  }
  // Stryker disable next-line StringLiteral: equivalent, group 2 ([^/]*) takes part in every match, so it is never undefined
  const written = (naive[2] ?? '').toLowerCase().replace(scheme === 'https' ? /:443$/ : /:80$/, '');
  if (written !== url.host)
    return refused(
      `must spell the host as a URL parser does: "${written}" is reached as "${url.host}" (write ASCII or punycode, dotted IPv4, no empty port)`,
    );
  return { ok: true, value: `${url.origin}${url.pathname.replace(/\/+$/, '')}` };
}

/** An http(s) base URL without credentials, query or fragment, in its canonical form (see parseBaseUrl). */
export const BaseUrl = z
  .string()
  .max(500, 'must be at most 500 characters')
  .superRefine((text, ctx) => {
    const parsed = parseBaseUrl(text);
    if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.message });
  })
  .transform((text) => {
    const parsed = parseBaseUrl(text);
    return parsed.ok ? parsed.value : text;
  });
