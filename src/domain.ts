// Schemas and types of what crosses a boundary: the promotion request, gate results,
// the status a promotion shows. Workflow-safe: zod only, no Node builtins.
import { z } from 'zod';

const DURATION_UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const durationMs = (text: string): number => Number(text.slice(0, -1)) * DURATION_UNIT_MS[text.slice(-1) as keyof typeof DURATION_UNIT_MS];
/** The longest wait a request may ask for. Refused above it, never capped: a silent cap would wait a different time than asked. */
export const MAX_DURATION_MS = 365 * DURATION_UNIT_MS.d;

/** `<n>s`, `<n>m`, `<n>h`, `<n>d` → milliseconds, at most 365d. */
export const Duration = z
  .string()
  .regex(/^[1-9][0-9]{0,8}[smhd]$/, 'must be a duration like "90s", "30m", "24h" or "2d"')
  .superRefine((text, ctx) => {
    if (/^[0-9]+[smhd]$/.test(text) && durationMs(text) > MAX_DURATION_MS) ctx.addIssue({ code: 'custom', message: `must be at most 365d (8760h); "${text}" is longer. Ask for a shorter wait` });
  })
  .transform(durationMs);

const HEX_7_40 = /^[0-9a-fA-F]{7,40}$/;
export const FULL_SHA = /^[0-9a-f]{40}$/;
export const RELEASE_ID = /^[0-9]{8}-[0-9]{4}-(rc|rb)[1-9][0-9]{0,5}$/;

export const Identity = z
  .string()
  .regex(/^[A-Za-z0-9._@-]{1,64}$/, 'must be 1–64 characters of A-Z a-z 0-9 . _ @ -');

export const EnvironmentName = z
  .string()
  .regex(/^[a-z0-9-]{1,40}$/, 'must be 1–40 characters of a-z 0-9 -');

/** A subset of git's check-ref-format rules, strict enough that no name can be read as an option. */
export const BranchName = z
  .string()
  .max(200, 'must be at most 200 characters')
  .regex(/^[A-Za-z0-9_][A-Za-z0-9._/-]*$/, 'must start with a letter, digit or _ and use only A-Z a-z 0-9 . _ / -')
  .refine(
    (name) => !/(\.\.|\/\/|\/\.|@\{|\.lock$|\/$|\.$)/.test(name) && !name.split('/').some((part) => part.startsWith('.')),
    'is not a valid git branch name (no "..", "//", "@{", trailing "/" or ".", ".lock" suffix)',
  );

/**
 * How a repo location is spelled, once checked: a local path (made canonical by the activity
 * that plans a promotion, with the real path: symlinks and `..` are the file system's business)
 * or a remote with its one canonical spelling. `message` says what is wrong and what to do.
 */
export type RepoForm = { kind: 'local'; path: string } | { kind: 'remote'; canonical: string } | { kind: 'refused'; message: string };

const NO_CREDENTIALS = 'must not carry credentials (they would land in history and the ledger); configure a git credential helper or SSH agent on the worker instead';
const REPO_HOST = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;
const REPO_USER = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/** Why a remote path is refused, or undefined. Remote paths are taken as written, so each repo must have one spelling. */
function remotePathProblem(repoPath: string): string | undefined {
  const segments = repoPath.split('/');
  if (segments.some((s) => s.startsWith('-'))) return 'must not have a path component starting with "-" (git or ssh would read it as an option)';
  if (segments.some((s) => s === '.' || s === '..')) return 'must not have "." or ".." path segments; spell the path the remote knows it by, so one repo has one spelling';
  if (!segments.some((s) => s !== '' && s !== '~')) return 'must name a repository path, e.g. /srv/git/chat.git';
  return undefined;
}

/** `/a//b/` → `/a/b`: a remote POSIX path has one spelling without repeated or trailing slashes. */
const tidyPath = (repoPath: string): string => repoPath.replace(/\/{2,}/g, '/').replace(/(.)\/+$/, '$1');

/**
 * Checks a repo location and gives its canonical spelling (remotes) or the path to resolve
 * (local). Accepted: an absolute path, `file:///path`, `https://host/path`, `ssh://[user@]host[:port]/path`
 * and scp-style `[user@]host:path`. Refused: git's `<transport>::<address>` (it runs helpers
 * such as ext:: and fd::), any component starting with "-", git:// and http:// (nothing
 * authenticates the server), a query or fragment, credentials, percent-encoding (a second
 * spelling of one path), backslashes and relative paths.
 *
 * Canonical remotes: scheme and host lowercased, default port dropped, no trailing slash;
 * `ssh://` on port 22 and scp-style with an absolute path (`host:/srv/x.git`) are one spelling
 * (`ssh://host/srv/x.git`), as git runs the same command for both. A `.git` suffix is kept as
 * given: whether `x` and `x.git` are one repo is the server's choice (GitHub says yes, a plain
 * ssh host says no), so they are two targets; a registry pins one spelling per environment.
 */
export function parseRepoLocation(repo: string): RepoForm {
  const refused = (message: string): RepoForm => ({ kind: 'refused', message });
  // eslint-disable-next-line no-control-regex -- control characters are exactly what must go
  if (/[\s\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(repo)) return refused('must not contain whitespace or control characters');
  if (repo.includes('::')) return refused('must not use git\'s "<transport>::<address>" syntax (it runs a remote helper such as ext:: or fd::); give the URL itself, e.g. https://host/acme/chat.git');
  if (repo.startsWith('-')) return refused('must not start with "-" (it would be read as a git option)');
  if (repo.includes('\\')) return refused('must not contain a backslash; write the path with "/"');
  if (/[?#]/.test(repo)) return refused('must not have a query or fragment: a "?access_token=…" would land in history and the ledger; configure a git credential helper on the worker instead');
  if (repo.includes('%')) return refused('must not contain percent-encoding (%); write the path as it is, so one repo has one spelling');
  if (repo.startsWith('/')) {
    if (repo.split('/').some((s) => s.startsWith('-'))) return refused('must not have a path component starting with "-" (git would read it as an option)');
    return { kind: 'local', path: repo };
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(repo)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    const rest = repo.slice(scheme.length + 3);
    if (scheme === 'git' || scheme === 'http') return refused(`must not use ${scheme}:// (nothing authenticates the server, so anyone on the path can serve other commits); use https:// or ssh://`);
    if (scheme === 'file') {
      // git ignores a file:// URL's host, so one is refused rather than read two ways.
      if (!rest.startsWith('/')) return refused('must be file:///absolute/path (three slashes, no host)');
      return parseRepoLocation(rest);
    }
    if (scheme !== 'https' && scheme !== 'ssh') return refused(`uses unsupported scheme "${scheme}://" (use an absolute path, file://, https://, ssh:// or user@host:path)`);
    const slash = rest.indexOf('/');
    const authority = slash === -1 ? rest : rest.slice(0, slash);
    const repoPath = slash === -1 ? '' : rest.slice(slash);
    const at = authority.lastIndexOf('@');
    const user = at === -1 ? undefined : authority.slice(0, at);
    // On https any user part is a token in practice; on ssh a user name is fine, a password is not.
    if (scheme === 'https' ? repo.includes('@') : user?.includes(':')) return refused(NO_CREDENTIALS);
    if (repoPath.includes('@')) return refused('must use "@" only between the user name and the host');
    const hostPort = /^([^:]*)(?::([0-9]{1,5}))?$/.exec(authority.slice(at + 1));
    const host = hostPort?.[1] ?? '';
    const port = hostPort?.[2];
    if (host.startsWith('-') || user?.startsWith('-')) return refused('must not have a host or user starting with "-" (ssh would read it as an option)');
    if (!hostPort || !REPO_HOST.test(host)) return refused(`must name a host as letters, digits, "." and "-" (e.g. ${scheme}://git.example.com/acme/chat.git)`);
    if (user !== undefined && !REPO_USER.test(user)) return refused('must have a user name of letters, digits, ".", "_" and "-"');
    if (port !== undefined && (Number(port) < 1 || Number(port) > 65535 || port.startsWith('0'))) return refused('must have a port from 1 to 65535');
    const problem = remotePathProblem(repoPath);
    if (problem) return refused(problem);
    const defaultPort = scheme === 'https' ? '443' : '22';
    const canonicalHost = `${host.toLowerCase()}${port === undefined || port === defaultPort ? '' : `:${port}`}`;
    return { kind: 'remote', canonical: `${scheme}://${user === undefined ? '' : `${user}@`}${canonicalHost}${tidyPath(repoPath)}` };
  }
  // scp-style `[user@]host:path`: git reads it so when a ":" comes before any "/".
  const colon = repo.indexOf(':');
  if (colon === -1 || repo.slice(0, colon).includes('/')) {
    return refused('must be an absolute path, file:///path, https://, ssh:// or user@host:path (a relative path would depend on the worker\'s directory)');
  }
  const authority = repo.slice(0, colon);
  const repoPath = repo.slice(colon + 1);
  if (repoPath.includes('@')) return refused(/^[^/@]*@/.test(repoPath) ? NO_CREDENTIALS : 'must use "@" only between the user name and the host');
  const at = authority.lastIndexOf('@');
  const user = at === -1 ? undefined : authority.slice(0, at);
  const host = authority.slice(at + 1);
  if (host.startsWith('-') || user?.startsWith('-') || repoPath.startsWith('-')) return refused('must not have a host, user or path starting with "-" (ssh would read it as an option)');
  if (!REPO_HOST.test(host)) return refused('must name a host as letters, digits, "." and "-" (e.g. git@git.example.com:acme/chat.git)');
  if (['file', 'http', 'https', 'ssh', 'git'].includes(host.toLowerCase()) && user === undefined) return refused(`reads as a host named "${host}"; write a URL with "://" (e.g. ${host.toLowerCase()}:///…) or user@host:path`);
  if (user !== undefined && !REPO_USER.test(user)) return refused('must have a user name of letters, digits, ".", "_" and "-"');
  const problem = remotePathProblem(repoPath);
  if (problem) return refused(problem);
  const prefix = `${user === undefined ? '' : `${user}@`}${host.toLowerCase()}`;
  // An absolute (or ~user) path reads the same as the ssh:// URL git would build; a path
  // relative to the login directory has no ssh:// spelling that every server accepts.
  if (repoPath.startsWith('/')) return { kind: 'remote', canonical: `ssh://${prefix}${tidyPath(repoPath)}` };
  if (repoPath.startsWith('~')) return { kind: 'remote', canonical: `ssh://${prefix}/${tidyPath(repoPath)}` };
  return { kind: 'remote', canonical: `${prefix}:${tidyPath(repoPath)}` };
}

/**
 * A git remote: an absolute path, file:///path, https://, ssh:// or scp-style `user@host:path`
 * (see parseRepoLocation). Credentials never belong here: they would land in history and the ledger.
 */
export const RepoLocation = z
  .string()
  .min(1, 'must name a git remote')
  .max(500, 'must be at most 500 characters')
  .superRefine((repo, ctx) => {
    const form = parseRepoLocation(repo);
    if (form.kind === 'refused') ctx.addIssue({ code: 'custom', message: form.message });
  });

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
  if (/[\s\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(text)) return refused('must not contain whitespace or control characters (a URL parser drops some silently)');
  if (text.includes('\\')) return refused('must not contain a backslash (a URL parser reads it as "/", so the host probed would not be the host written); use "/"');
  const naive = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/]*)/.exec(text);
  const scheme = naive?.[1]?.toLowerCase();
  if (!naive || (scheme !== 'http' && scheme !== 'https')) {
    return refused(scheme && !['http', 'https'].includes(scheme) ? 'must use http or https' : 'must be an absolute http(s) URL such as https://staging.example.com');
  }
  if (text.includes('@')) {
    return refused(naive[2]?.includes('@') ? 'must not carry user:password; secrets for probes come from the worker config' : 'must not contain "@" (a reader could take what follows it for the host)');
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
  const written = (naive[2] ?? '').toLowerCase().replace(scheme === 'https' ? /:443$/ : /:80$/, '');
  if (written !== url.host) return refused(`must spell the host as a URL parser does: "${written}" is reached as "${url.host}" (write ASCII or punycode, dotted IPv4, no empty port)`);
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

export const DeployWait = z.strictObject({
  path: z.string().regex(/^\/[A-Za-z0-9._~/-]*$/, 'must be a URL path starting with "/"'),
  field: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'must name a JSON field (dots for nesting)'),
  timeout: Duration,
});

export const ApprovalRequest = z.strictObject({
  required: z.boolean().default(false),
  approvers: z.array(Identity).max(100).optional(),
  minApprovals: z.number().int().min(1).max(20).default(1),
  timeout: Duration.prefault('24h'),
});

const FreeText = z.string().max(500, 'must be at most 500 characters');

export const PromotionRequest = z
  .strictObject({
    commitSha: z
      .string()
      .regex(HEX_7_40, 'must be 7–40 hexadecimal characters of a commit sha')
      .transform((sha) => sha.toLowerCase()),
    changeClass: z.enum(['A', 'B', 'C'], 'must be "A" or "B" ("C" is forbidden)'),
    operator: Identity,
    environment: EnvironmentName.default('production'),
    repo: RepoLocation.optional(),
    fromBranch: BranchName.optional(),
    toBranch: BranchName.optional(),
    stagingBase: BaseUrl.optional(),
    productionBase: BaseUrl.optional(),
    deployWait: DeployWait.optional(),
    optionalGates: z.array(z.string().regex(/^[a-z0-9_]{1,64}$/, 'must be gate names like "breaker_drill"')).max(20).default([]),
    expectBudgetBlock: z.boolean().default(false),
    approval: ApprovalRequest.prefault({}),
    acceptDrift: z.boolean().default(false),
    allowDowngrade: z.boolean().default(false),
    releaseId: z.string().regex(/^[0-9]{8}-[0-9]{4}-rc[1-9][0-9]{0,5}$/, 'must look like 20261124-2231-rc1').optional(),
    notes: FreeText.optional(),
    rollbackPlan: FreeText.optional(),
    evidenceRefs: FreeText.optional(),
  })
  .refine((req) => req.fromBranch === undefined || req.fromBranch !== req.toBranch, {
    path: ['toBranch'],
    message: 'must differ from fromBranch',
  });
export type PromotionInput = z.input<typeof PromotionRequest>;
export type PromotionRequest = z.infer<typeof PromotionRequest>;

/**
 * The request with every setting resolved (from the request or the environment registry)
 * and the commit resolved to 40 hex: what the rest of the promotion works from.
 */
export interface PromotionPlan {
  commitSha: string;
  changeClass: 'A' | 'B';
  operator: string;
  environment: string;
  repo: string;
  fromBranch: string;
  toBranch: string;
  stagingBase: string;
  /** The service the staging gates spend state of (rate window, budget): one gate run on it at a time. */
  stagingService: string;
  productionBase: string;
  deployWait?: { path: string; field: string; timeoutMs: number };
  stagingGates: string[];
  /** The optional gates the request named (part of stagingGates). */
  optionalGates: string[];
  expectBudgetBlock: boolean;
  approval: { required: boolean; approvers?: string[]; minApprovals: number; timeoutMs: number };
  acceptDrift: boolean;
  allowDowngrade: boolean;
  releaseId?: string;
  notes?: string;
  rollbackPlan?: string;
  evidenceRefs?: string;
}

export interface GateResult {
  name: string;
  target: string;
  pass: boolean;
  status?: number;
  latencyMs: number;
  attempts: number;
  detail: string;
  /** Burst gates: how many answers of each status class. */
  counts?: Record<string, number>;
  /** The target throttled this probe (429, not a budget block) this often before its verdict, and it waited this long. */
  throttled?: { count: number; waitedMs: number };
  /** Burst gates: the longest wait the 429s asked for (Retry-After, RateLimit), when any said. */
  rateLimitResetMs?: number;
}

export const WORKING_STAGES = [
  'validating',
  'waiting_for_staging',
  'staging_gates',
  'awaiting_approval',
  'waiting_for_lock',
  'promoting',
  'awaiting_deploy',
  'verifying',
  'rolling_back',
  'recording',
] as const;
export const TERMINAL_STAGES = [
  'promoted',
  'invalid',
  'gates_failed',
  'rejected',
  'approval_expired',
  'drifted',
  'refused',
  'rolled_back',
  'rollback_partial',
  'cancelled',
  'failed',
] as const;
export type Stage = (typeof WORKING_STAGES)[number] | (typeof TERMINAL_STAGES)[number];

export interface ApprovalDecision {
  decision: 'approve' | 'reject';
  approver: string;
  at: string;
  comment?: string;
  reason?: string;
  commitSha?: string;
}

/** A place in a lock's line: `holder` runs now (this workflow, once granted); `availableAt`: the holder's spent window ends. */
export interface LockSpot {
  position?: number;
  holder?: string;
  availableAt?: string;
}

/** Where a promotion or rollback is, and when it got to each stage. */
export interface StageTrack {
  stage: Stage;
  timeline: Array<{ stage: Stage; at: string }>;
  /** The last ledger entry could not be written yet and is being retried (stage `recording`). */
  recording?: { since: string; error: string };
}

export interface PromotionStatus {
  workflowId: string;
  releaseId?: string;
  stage: Stage;
  commitSha: string;
  changeClass: string;
  environment: string;
  operator: string;
  gates: GateResult[];
  approval: {
    required: boolean;
    state: 'not_required' | 'pending' | 'approved' | 'rejected' | 'expired';
    minApprovals: number;
    approvers?: string[];
    decisions: ApprovalDecision[];
    /** The latest ignored decisions (at most IGNORED_KEPT), each with why. */
    ignored: Array<ApprovalDecision & { why: string }>;
    /** How many decisions were ignored in all (older ones are no longer listed). */
    ignoredCount?: number;
  };
  /** The staging service's turn (SPEC §5): who runs its gates now, and this promotion's place in line. */
  stagingTurn?: { service: string } & LockSpot;
  lock?: { target: string } & LockSpot;
  lastKnownGood?: string;
  pushed: boolean;
  /** The push was not a fast-forward (only with allowDowngrade). */
  downgrade?: boolean;
  prodVerification: GateResult[];
  rollback?: { releaseId?: string; workflowId: string; result?: 'completed' | 'partial' };
  drift?: { expected: string; found: string | null; accepted: boolean };
  timeline: Array<{ stage: Stage; at: string }>;
  recording?: StageTrack['recording'];
  failure?: { type: string; message: string };
  ledgerChainHead?: string;
}

/** "field: what is wrong" for every issue, naming unknown fields so a typo is never silently dropped. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      if (issue.code === 'unrecognized_keys') {
        const where = issue.path.length ? `${issue.path.join('.')}.` : '';
        return issue.keys.map((key) => `${where}${key}: is not a known setting; remove it or fix its spelling`).join('; ');
      }
      const field = issue.path.join('.') || '(request)';
      return `${field}: ${issue.message}`;
    })
    .join('; ');
}

const FULL_SHA_FIELD = z.string().regex(/^[0-9a-fA-F]{40}$/, 'must be a full 40-hex commit sha').transform((sha) => sha.toLowerCase());

/** rollbackWorkflow's input (SPEC §4). */
export const RollbackRequest = z.strictObject({
  environment: EnvironmentName.default('production'),
  repo: RepoLocation.optional(),
  toBranch: BranchName.optional(),
  fromSha: FULL_SHA_FIELD,
  toSha: FULL_SHA_FIELD,
  productionBase: BaseUrl.optional(),
  trigger: z.string().min(1, 'must say why (e.g. "5xx spike")').max(500, 'must be at most 500 characters'),
  operator: Identity,
  promotionReleaseId: z.string().regex(/^[0-9]{8}-[0-9]{4}-rc[1-9][0-9]{0,5}$/, 'must look like 20261124-2231-rc1').optional(),
  releaseId: z.string().regex(/^[0-9]{8}-[0-9]{4}-rb[1-9][0-9]{0,5}$/, 'must look like 20261124-2231-rb1').optional(),
});
export type RollbackInput = z.input<typeof RollbackRequest>;
export type RollbackRequest = z.infer<typeof RollbackRequest>;

export interface RollbackPlan {
  environment: string;
  repo: string;
  toBranch: string;
  fromSha: string;
  toSha: string;
  productionBase: string;
  trigger: string;
  operator: string;
  promotionReleaseId?: string;
  releaseId?: string;
}

export interface RollbackStatus {
  workflowId: string;
  releaseId?: string;
  stage: Stage;
  environment: string;
  fromSha: string;
  toSha: string;
  trigger: string;
  operator: string;
  promotionReleaseId?: string;
  /** The branch is back on toSha (moved now, or already there). */
  branchRestored: boolean;
  actions: string[];
  verification: GateResult[];
  result?: 'completed' | 'partial';
  lock?: { target: string } & LockSpot;
  timeline: Array<{ stage: Stage; at: string }>;
  recording?: StageTrack['recording'];
  failure?: { type: string; message: string };
  ledgerChainHead?: string;
}

// Approval decisions (SPEC §3 "Approval"): payloads of the approve/reject signals and the decide update.
const OptionalSha = z.string().regex(HEX_7_40, 'must be 7–40 hexadecimal characters of the commit sha').optional();
export const ApproveDecision = z.strictObject({ approver: Identity, comment: FreeText.optional(), commitSha: OptionalSha });
export type ApproveDecision = z.infer<typeof ApproveDecision>;
export const RejectDecision = z.strictObject({ approver: Identity, reason: z.string().min(1, 'must say why').max(500, 'must be at most 500 characters'), commitSha: OptionalSha });
export type RejectDecision = z.infer<typeof RejectDecision>;
export const DecideInput = z
  .strictObject({
    decision: z.enum(['approve', 'reject'], 'must be "approve" or "reject"'),
    approver: Identity,
    comment: FreeText.optional(),
    reason: z.string().min(1).max(500, 'must be at most 500 characters').optional(),
    commitSha: OptionalSha,
  })
  .refine((d) => d.decision !== 'reject' || d.reason !== undefined, { path: ['reason'], message: 'is required to reject' });
export type DecideInput = z.infer<typeof DecideInput>;

export interface DecideResult {
  counted: boolean;
  why?: string;
  approval: PromotionStatus['approval'];
}
