// The field rules every boundary shares (promotion and rollback requests, approval decisions,
// the worker's registry): durations, shas, release ids, identities, environment and branch
// names, and how a zod error reads. Workflow-safe: zod only, no Node builtins.
import { z } from 'zod';

const DURATION_UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const durationMs = (text: string): number =>
  Number(text.slice(0, -1)) * DURATION_UNIT_MS[text.slice(-1) as keyof typeof DURATION_UNIT_MS];
/**
 * A duration as requests and the registry spell one: 600000 → "10m", 5400000 → "90m"; what no
 * whole unit gives reads in seconds (1500 → "1.5s") or, below one, milliseconds.
 */
export function durationText(ms: number): string {
  for (const [unit, size] of [
    ['d', DURATION_UNIT_MS.d],
    ['h', DURATION_UNIT_MS.h],
    ['m', DURATION_UNIT_MS.m],
    ['s', DURATION_UNIT_MS.s],
  ] as const)
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  return ms >= 1000 ? `${Math.round(ms / 100) / 10}s` : `${Math.max(0, Math.round(ms))}ms`;
}
/** The longest wait a request may ask for. Refused above it, never capped: a silent cap would wait a different time than asked. */
export const MAX_DURATION_MS = 365 * DURATION_UNIT_MS.d;

/** `<n>s`, `<n>m`, `<n>h`, `<n>d` → milliseconds, at most 365d. */
export const Duration = z
  .string()
  .regex(/^[1-9][0-9]{0,8}[smhd]$/, 'must be a duration like "90s", "30m", "24h" or "2d"')
  .superRefine((text, ctx) => {
    // Stryker disable next-line Regex: equivalent, without the $ longer text gives NaN and the limit never fires
    if (/^[0-9]+[smhd]$/.test(text) && durationMs(text) > MAX_DURATION_MS)
      ctx.addIssue({
        code: 'custom',
        message: `must be at most 365d (8760h); "${text}" is longer. Ask for a shorter wait`,
      });
  })
  .transform(durationMs);

/** A commit sha as a person may type it: 7–40 hex, any case. */
export const HEX_7_40 = /^[0-9a-fA-F]{7,40}$/;
export const FULL_SHA = /^[0-9a-f]{40}$/;
export const RELEASE_ID = /^[0-9]{8}-[0-9]{4}-(rc|rb)[1-9][0-9]{0,5}$/;

export const Identity = z.string().regex(/^[A-Za-z0-9._@-]{1,64}$/, 'must be 1–64 characters of A-Z a-z 0-9 . _ @ -');

export const EnvironmentName = z.string().regex(/^[a-z0-9-]{1,40}$/, 'must be 1–40 characters of a-z 0-9 -');

/** A subset of git's check-ref-format rules, strict enough that no name can be read as an option. */
export const BranchName = z
  .string()
  .max(200, 'must be at most 200 characters')
  .regex(/^[A-Za-z0-9_][A-Za-z0-9._/-]*$/, 'must start with a letter, digit or _ and use only A-Z a-z 0-9 . _ / -')
  .refine(
    (name) =>
      !/(\.\.|\/\/|\/\.|@\{|\.lock$|\/$|\.$)/.test(name) && !name.split('/').some((part) => part.startsWith('.')),
    'is not a valid git branch name (no "..", "//", "@{", trailing "/" or ".", ".lock" suffix)',
  );

/** Caller free text (notes, comments, plans): bounded, so no request can bloat history or the ledger. */
export const FreeText = z.string().max(500, 'must be at most 500 characters');

/** "field: what is wrong" for every issue, naming unknown fields so a typo is never silently dropped. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      if (issue.code === 'unrecognized_keys') {
        const where = issue.path.length ? `${issue.path.join('.')}.` : '';
        return issue.keys
          .map((key) => `${where}${key}: is not a known setting; remove it or fix its spelling`)
          .join('; ');
      }
      const field = issue.path.join('.') || '(request)';
      return `${field}: ${issue.message}`;
    })
    .join('; ');
}
