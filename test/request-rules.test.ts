// The request rules as functions (SPEC §3 Input, §4, "Approval"): every field's constraint, its
// default and the message naming it, class C refused first, free text redacted, base URLs in their
// one probed form. No server: the schemas and parsers are called directly.
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import {
  ApproveDecision,
  BaseUrl,
  BranchName,
  DecideInput,
  describeIssues,
  Duration,
  EnvironmentName,
  FreeText,
  FULL_SHA,
  HEX_7_40,
  Identity,
  MAX_DURATION_MS,
  parseBaseUrl,
  PromotionRequest,
  RejectDecision,
  RELEASE_ID,
  RollbackRequest,
} from '../src/domain';
import { parsePromotionRequest } from '../src/workflows/request';

/** What describeIssues says about a refused value ("accepted" when the schema takes it). */
function why(schema: z.ZodType, value: unknown): string {
  const parsed = schema.safeParse(value);
  return parsed.success ? 'accepted' : describeIssues(parsed.error);
}

/** The parsed value; fails the test with the issues when refused. */
function accepted<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new Error(`refused: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

function thrown(fn: () => unknown): ApplicationFailure {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApplicationFailure) return err;
    throw new Error(`threw something other than an ApplicationFailure: ${String(err)}`, { cause: err });
  }
  throw new Error('did not throw');
}

const DAY = 86_400_000;
const DURATION_FORMAT = 'must be a duration like "90s", "30m", "24h" or "2d"';
const tooLong = (text: string) => `must be at most 365d (8760h); "${text}" is longer. Ask for a shorter wait`;
const SHA_FORMAT = 'must be 7–40 hexadecimal characters of a commit sha';
const IDENTITY = 'must be 1–64 characters of A-Z a-z 0-9 . _ @ -';
const ENVIRONMENT = 'must be 1–40 characters of a-z 0-9 -';
const BRANCH_CHARS = 'must start with a letter, digit or _ and use only A-Z a-z 0-9 . _ / -';
const BRANCH_RULES = 'is not a valid git branch name (no "..", "//", "@{", trailing "/" or ".", ".lock" suffix)';
const AT_MOST_500 = 'must be at most 500 characters';
const REPO_RELATIVE =
  "must be an absolute path, file:///path, https://, ssh:// or user@host:path (a relative path would depend on the worker's directory)";
const UNKNOWN = 'is not a known setting; remove it or fix its spelling';

describe('Duration', () => {
  test.each([
    ['1s', 1_000],
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['24h', DAY],
    ['2d', 2 * DAY],
    ['10d', 10 * DAY],
  ])('%s is %d milliseconds', (text, ms) => {
    expect(accepted(Duration, text)).toBe(ms);
  });

  test('the longest wait is 365 days', () => {
    expect(MAX_DURATION_MS).toBe(365 * DAY);
  });

  test.each(['365d', '8760h', '525600m', '31536000s'])('%s (exactly 365 days) is accepted', (text) => {
    expect(accepted(Duration, text)).toBe(365 * DAY);
  });

  test.each(['366d', '8761h', '525601m', '31536001s', '99999d'])(
    '%s (over 365 days) is refused, not capped, with the limit and the text',
    (text) => {
      expect(why(Duration, text)).toBe(`(request): ${tooLong(text)}`);
    },
  );

  test.each(['0s', '01s', '1w', '1', 's', '1.5h', '-1s', 'x1s', '1sx', ' 1s', '10 minutes', '', '1e10s', '90S'])(
    '%j is not a duration (the format message only)',
    (text) => {
      expect(why(Duration, text)).toBe(`(request): ${DURATION_FORMAT}`);
    },
  );

  test('a wait over the limit is a custom zod issue, so describeIssues reads it as "field: message"', () => {
    const parsed = Duration.safeParse('366d');
    expect(parsed.success || parsed.error.issues.map((issue) => issue.code)).toEqual(['custom']);
  });

  test('a ten-digit duration breaks the format and the limit, and both are said', () => {
    expect(why(Duration, '1000000000s')).toBe(`(request): ${DURATION_FORMAT}; (request): ${tooLong('1000000000s')}`);
  });

  test('nine digits are within the format: only the limit refuses them', () => {
    expect(why(Duration, '100000000s')).toBe(`(request): ${tooLong('100000000s')}`);
  });
});

describe('shared field rules', () => {
  test.each([
    ['abcdef1', true],
    ['ABCDEF1', true],
    ['0123456789abcdefABCDEF0123456789abcdef01', true],
    ['abcdef', false],
    ['0123456789abcdefABCDEF0123456789abcdef012', false],
    ['abcdefg', false],
    ['xabcdef1', false],
    ['abcdef1x', false],
  ])('HEX_7_40 on %s is %s', (text, ok) => {
    expect(HEX_7_40.test(text)).toBe(ok);
  });

  test.each([
    ['a'.repeat(40), true],
    ['A'.repeat(40), false],
    ['a'.repeat(39), false],
    ['a'.repeat(41), false],
  ])('FULL_SHA (40 lowercase hex) on %s is %s', (text, ok) => {
    expect(FULL_SHA.test(text)).toBe(ok);
  });

  test.each([
    ['20261124-2231-rc1', true],
    ['20261124-2231-rb123456', true],
    ['20261124-2231-rc0', false],
    ['20261124-2231-rc1234567', false],
    ['20261124-2231-rx1', false],
    ['2026112-2231-rc1', false],
    ['x20261124-2231-rc1', false],
  ])('RELEASE_ID on %s is %s', (text, ok) => {
    expect(RELEASE_ID.test(text)).toBe(ok);
  });

  test.each([
    ['alice', 'accepted'],
    ['a', 'accepted'],
    ['a.b_c@d-E9', 'accepted'],
    ['a'.repeat(64), 'accepted'],
    ['a'.repeat(65), `(request): ${IDENTITY}`],
    ['', `(request): ${IDENTITY}`],
    ['alice smith', `(request): ${IDENTITY}`],
    ['alice!', `(request): ${IDENTITY}`],
  ])('Identity %j: %s', (text, expected) => {
    expect(why(Identity, text)).toBe(expected);
  });

  test.each([
    ['production', 'accepted'],
    ['eu-west-1', 'accepted'],
    ['e'.repeat(40), 'accepted'],
    ['e'.repeat(41), `(request): ${ENVIRONMENT}`],
    ['', `(request): ${ENVIRONMENT}`],
    ['Prod', `(request): ${ENVIRONMENT}`],
    ['eu_west', `(request): ${ENVIRONMENT}`],
  ])('EnvironmentName %j: %s', (text, expected) => {
    expect(why(EnvironmentName, text)).toBe(expected);
  });

  test.each([
    ['x'.repeat(500), 'accepted'],
    ['', 'accepted'],
    ['x'.repeat(501), `(request): ${AT_MOST_500}`],
  ])('FreeText of %#: %s', (text, expected) => {
    expect(why(FreeText, text)).toBe(expected);
  });
});

describe('BranchName', () => {
  test.each(['main', 'release', 'release/1.2', 'a.b/c', '_x', 'x.lockfile', 'feature/x-y_z', 'b'.repeat(200)])(
    '%s is a branch name',
    (name) => {
      expect(why(BranchName, name)).toBe('accepted');
    },
  );

  test.each([['main..evil'], ['a//b'], ['a/.b'], ['x.lock'], ['release/'], ['release.'], ['a/b.lock']])(
    '%s breaks a git ref rule',
    (name) => {
      expect(why(BranchName, name)).toBe(`(request): ${BRANCH_RULES}`);
    },
  );

  test.each(['-x', '/x', 'a b', 'a~1', 'a:b'])('%s breaks the character rule only', (name) => {
    expect(why(BranchName, name)).toBe(`(request): ${BRANCH_CHARS}`);
  });

  test('a component starting with "." is refused even at the start, where only the split finds it', () => {
    expect(why(BranchName, '.hidden/x')).toBe(`(request): ${BRANCH_CHARS}; (request): ${BRANCH_RULES}`);
  });

  test('"@{" breaks both rules: its characters and the reflog syntax', () => {
    expect(why(BranchName, 'x@{1}')).toBe(`(request): ${BRANCH_CHARS}; (request): ${BRANCH_RULES}`);
  });

  test('names over 200 characters are refused with the length', () => {
    expect(why(BranchName, 'b'.repeat(201))).toBe('(request): must be at most 200 characters');
  });
});

describe('describeIssues', () => {
  test('an unknown top-level field is named as not a known setting', () => {
    expect(why(z.strictObject({ a: z.string() }), { a: 'x', comitSha: 'y' })).toBe(`comitSha: ${UNKNOWN}`);
  });

  test('several unknown fields are each named, prefixed with where they are', () => {
    const schema = z.strictObject({ a: z.strictObject({ b: z.strictObject({}) }) });
    expect(why(schema, { a: { b: { x: 1, y: 2 } } })).toBe(`a.b.x: ${UNKNOWN}; a.b.y: ${UNKNOWN}`);
  });

  test('other issues read "path: message", joined by "; ", with a path of nested fields and array indexes', () => {
    const schema = z.strictObject({
      list: z.array(z.string().min(2, 'too short')),
      nested: z.object({ field: z.string().max(1, 'too long') }),
    });
    expect(why(schema, { list: ['ok', 'x'], nested: { field: 'xy' } })).toBe(
      'list.1: too short; nested.field: too long',
    );
  });

  test('an issue about the whole value is said to be about the (request)', () => {
    expect(why(z.string().min(3, 'too short'), 'x')).toBe('(request): too short');
  });
});

const minimal = { commitSha: '3f9c1a2', changeClass: 'A', operator: 'alice' } as const;

describe('PromotionRequest', () => {
  test('a minimal request gets every default: production, no optional gates, no approval unless asked, 24h to approve', () => {
    expect(accepted(PromotionRequest, minimal)).toEqual({
      dryRun: false,
      commitSha: '3f9c1a2',
      changeClass: 'A',
      operator: 'alice',
      environment: 'production',
      optionalGates: [],
      expectBudgetBlock: false,
      approval: { required: false, minApprovals: 1, timeout: DAY },
      acceptDrift: false,
      allowDowngrade: false,
    });
  });

  test('the commit sha is kept in lowercase', () => {
    expect(accepted(PromotionRequest, { ...minimal, commitSha: 'ABCDEF1234' }).commitSha).toBe('abcdef1234');
  });

  test('every field given is kept, durations in milliseconds and bases in their canonical form', () => {
    const full = {
      ...minimal,
      changeClass: 'B',
      environment: 'eu-staging',
      repo: '/srv/git/chat.git',
      fromBranch: 'trunk',
      toBranch: 'prod',
      stagingBase: 'https://Staging.example.com/',
      productionBase: 'https://chat.example.com:443/api/',
      deployWait: { path: '/version', field: 'build.sha', timeout: '10m' },
      stagingDeployWait: { path: '/health', field: 'version', timeout: '5m' },
      soak: '30m',
      soakInterval: '2m',
      optionalGates: ['breaker_drill'],
      expectBudgetBlock: true,
      approval: { required: true, approvers: ['bob', 'carol'], minApprovals: 2, timeout: '2h' },
      acceptDrift: true,
      allowDowngrade: true,
      releaseId: '20261124-2231-rc1',
      breakGlass: { reason: 'outage' },
      dryRun: true,
      notes: 'n',
      rollbackPlan: 'r',
      evidenceRefs: 'e',
    };
    expect(accepted(PromotionRequest, full)).toEqual({
      ...full,
      stagingBase: 'https://staging.example.com',
      productionBase: 'https://chat.example.com/api',
      deployWait: { path: '/version', field: 'build.sha', timeout: 600_000 },
      stagingDeployWait: { path: '/health', field: 'version', timeout: 300_000 },
      soak: 1_800_000,
      soakInterval: 120_000,
      approval: { required: true, approvers: ['bob', 'carol'], minApprovals: 2, timeout: 7_200_000 },
    });
  });

  test.each<[string, Record<string, unknown>, string]>([
    ['a sha that is not hex', { commitSha: 'xyz1234' }, `commitSha: ${SHA_FORMAT}`],
    ['a sha of 6 characters', { commitSha: 'abcdef' }, `commitSha: ${SHA_FORMAT}`],
    ['a sha of 41 characters', { commitSha: 'a'.repeat(41) }, `commitSha: ${SHA_FORMAT}`],
    [
      'change class C (the schema refuses it too, not only parsePromotionRequest)',
      { changeClass: 'C' },
      'changeClass: must be "A" or "B" ("C" is forbidden)',
    ],
    ['change class D', { changeClass: 'D' }, 'changeClass: must be "A" or "B" ("C" is forbidden)'],
    ['change class a (lowercase)', { changeClass: 'a' }, 'changeClass: must be "A" or "B" ("C" is forbidden)'],
    ['an operator with spaces', { operator: 'alice smith' }, `operator: ${IDENTITY}`],
    ['an environment in capitals', { environment: 'Prod' }, `environment: ${ENVIRONMENT}`],
    ['a branch with ..', { fromBranch: 'main..evil' }, `fromBranch: ${BRANCH_RULES}`],
    ['a release branch that reads as an option', { toBranch: '-f' }, `toBranch: ${BRANCH_CHARS}`],
    ['a relative repo', { repo: 'chat.git' }, `repo: ${REPO_RELATIVE}`],
    ['an ftp staging base', { stagingBase: 'ftp://staging.example.com' }, 'stagingBase: must use http or https'],
    [
      'a production base with a query',
      { productionBase: 'https://x.example.com/?a=1' },
      'productionBase: must not have a query string',
    ],
    [
      'a deploy wait path without "/"',
      { deployWait: { path: 'version', field: 'v', timeout: '1m' } },
      'deployWait.path: must be a URL path starting with "/"',
    ],
    [
      'a deploy wait path with a query',
      { deployWait: { path: '/version?x=1', field: 'v', timeout: '1m' } },
      'deployWait.path: must be a URL path starting with "/"',
    ],
    [
      'a deploy wait path that does not start with "/"',
      { deployWait: { path: 'x/version', field: 'v', timeout: '1m' } },
      'deployWait.path: must be a URL path starting with "/"',
    ],
    [
      'a deploy wait field with a space',
      { deployWait: { path: '/version', field: 'build sha', timeout: '1m' } },
      'deployWait.field: must name a JSON field (dots for nesting)',
    ],
    [
      'an empty deploy wait field',
      { deployWait: { path: '/version', field: '', timeout: '1m' } },
      'deployWait.field: must name a JSON field (dots for nesting)',
    ],
    [
      'a deploy wait field of 101 characters',
      { deployWait: { path: '/version', field: 'f'.repeat(101), timeout: '1m' } },
      'deployWait.field: must name a JSON field (dots for nesting)',
    ],
    [
      'a deploy wait timeout in words',
      { deployWait: { path: '/version', field: 'v', timeout: '10 minutes' } },
      `deployWait.timeout: ${DURATION_FORMAT}`,
    ],
    [
      'a deploy wait over 365 days',
      { deployWait: { path: '/version', field: 'v', timeout: '366d' } },
      `deployWait.timeout: ${tooLong('366d')}`,
    ],
    [
      'a deploy wait with an unknown field',
      { deployWait: { path: '/version', field: 'v', timeout: '1m', every: '5s' } },
      `deployWait.every: ${UNKNOWN}`,
    ],
    [
      'an optional gate in capitals',
      { optionalGates: ['Breaker'] },
      'optionalGates.0: must be gate names like "breaker_drill"',
    ],
    [
      'an optional gate name of 65 characters',
      { optionalGates: ['g'.repeat(65)] },
      'optionalGates.0: must be gate names like "breaker_drill"',
    ],
    ['a release id in words', { releaseId: 'tomorrow' }, 'releaseId: must look like 20261124-2231-rc1'],
    ['a rollback release id', { releaseId: '20261124-2231-rb1' }, 'releaseId: must look like 20261124-2231-rc1'],
    ['release candidate 0', { releaseId: '20261124-2231-rc0' }, 'releaseId: must look like 20261124-2231-rc1'],
    ['a prefixed release id', { releaseId: 'x20261124-2231-rc1' }, 'releaseId: must look like 20261124-2231-rc1'],
    ['a suffixed release id', { releaseId: '20261124-2231-rc1x' }, 'releaseId: must look like 20261124-2231-rc1'],
    ['a 7-digit candidate', { releaseId: '20261124-2231-rc1234567' }, 'releaseId: must look like 20261124-2231-rc1'],
    ['notes over 500 characters', { notes: 'x'.repeat(501) }, `notes: ${AT_MOST_500}`],
    ['a rollback plan over 500 characters', { rollbackPlan: 'x'.repeat(501) }, `rollbackPlan: ${AT_MOST_500}`],
    ['evidence refs over 500 characters', { evidenceRefs: 'x'.repeat(501) }, `evidenceRefs: ${AT_MOST_500}`],
    ['an approval timeout in weeks', { approval: { timeout: '1w' } }, `approval.timeout: ${DURATION_FORMAT}`],
    ['an approval with an unknown field', { approval: { requird: true } }, `approval.requird: ${UNKNOWN}`],
    ['a misspelled field', { comitSha: 'abc1234' }, `comitSha: ${UNKNOWN}`],
    ['the same branch twice', { fromBranch: 'release', toBranch: 'release' }, 'toBranch: must differ from fromBranch'],
  ])('%s is refused naming the field', (_name, overrides, expected) => {
    expect(why(PromotionRequest, { ...minimal, ...overrides })).toBe(expected);
  });

  test.each<[string, Record<string, unknown>]>([
    ['expectBudgetBlock', { expectBudgetBlock: 'yes' }],
    ['acceptDrift', { acceptDrift: 1 }],
    ['allowDowngrade', { allowDowngrade: 'true' }],
    ['approval.required', { approval: { required: 'true' } }],
  ])('%s must be a boolean', (field, overrides) => {
    expect(why(PromotionRequest, { ...minimal, ...overrides })).toMatch(new RegExp(`^${field}: `));
  });

  test('a missing sha, class or operator is named', () => {
    expect(why(PromotionRequest, {})).toMatch(/^commitSha: .*; changeClass: .*; operator: [^;]*$/);
  });

  test('every bad field is named at once', () => {
    expect(why(PromotionRequest, { ...minimal, operator: 'a b', environment: 'X', typo: 1 })).toBe(
      `operator: ${IDENTITY}; environment: ${ENVIRONMENT}; typo: ${UNKNOWN}`,
    );
  });

  test.each<[string, Record<string, unknown>]>([
    ['neither branch', {}],
    ['only toBranch', { toBranch: 'release' }],
    ['only fromBranch', { fromBranch: 'main' }],
    ['two different branches', { fromBranch: 'main', toBranch: 'release' }],
  ])('%s passes the branches-differ rule', (_name, overrides) => {
    expect(why(PromotionRequest, { ...minimal, ...overrides })).toBe('accepted');
  });

  test.each([
    ['/', true],
    ['/a/b.c_d~e-f', true],
    ['/a b', false],
  ])('a deploy wait path %j is accepted: %s', (path, ok) => {
    const result = why(PromotionRequest, { ...minimal, deployWait: { path, field: 'v', timeout: '1m' } });
    expect(result === 'accepted').toBe(ok);
  });

  test('a deploy wait field may be 100 characters with dots, dashes and underscores', () => {
    const field = `a.b-c_${'f'.repeat(94)}`;
    expect(
      accepted(PromotionRequest, { ...minimal, deployWait: { path: '/v', field, timeout: '1m' } }).deployWait,
    ).toEqual({ path: '/v', field, timeout: 60_000 });
  });

  test('up to 20 optional gates of up to 64 characters are accepted, 21 are refused', () => {
    const names = Array.from({ length: 20 }, (_, i) => `gate_${i}`);
    expect(accepted(PromotionRequest, { ...minimal, optionalGates: names }).optionalGates).toEqual(names);
    expect(accepted(PromotionRequest, { ...minimal, optionalGates: ['g'.repeat(64)] }).optionalGates).toHaveLength(1);
    expect(why(PromotionRequest, { ...minimal, optionalGates: [...names, 'gate_20'] })).toMatch(/^optionalGates: /);
  });

  test('release ids up to rc999999 are accepted', () => {
    expect(accepted(PromotionRequest, { ...minimal, releaseId: '20261124-2231-rc999999' }).releaseId).toBe(
      '20261124-2231-rc999999',
    );
  });

  test('free text of exactly 500 characters is accepted', () => {
    const text = 'x'.repeat(500);
    const parsed = accepted(PromotionRequest, { ...minimal, notes: text, rollbackPlan: text, evidenceRefs: text });
    expect([parsed.notes, parsed.rollbackPlan, parsed.evidenceRefs]).toEqual([text, text, text]);
  });

  describe('approval', () => {
    test('a partial approval keeps its defaults: not required, one approval, 24h', () => {
      expect(accepted(PromotionRequest, { ...minimal, approval: { approvers: ['bob'] } }).approval).toEqual({
        required: false,
        approvers: ['bob'],
        minApprovals: 1,
        timeout: DAY,
      });
    });

    test.each([1, 20])('%d approvals may be asked for', (minApprovals) => {
      expect(accepted(PromotionRequest, { ...minimal, approval: { minApprovals } }).approval.minApprovals).toBe(
        minApprovals,
      );
    });

    test.each([0, 21, 1.5])('%d approvals may not', (minApprovals) => {
      expect(why(PromotionRequest, { ...minimal, approval: { minApprovals } })).toMatch(/^approval\.minApprovals: /);
    });

    test('up to 100 approvers, each an identity', () => {
      const approvers = Array.from({ length: 100 }, (_, i) => `approver${i}`);
      expect(accepted(PromotionRequest, { ...minimal, approval: { approvers } }).approval.approvers).toHaveLength(100);
      expect(why(PromotionRequest, { ...minimal, approval: { approvers: [...approvers, 'one-more'] } })).toMatch(
        /^approval\.approvers: /,
      );
      expect(why(PromotionRequest, { ...minimal, approval: { approvers: ['bob', 'no one'] } })).toBe(
        `approval.approvers.1: ${IDENTITY}`,
      );
    });

    test('an approval timeout over 365 days is refused, not capped', () => {
      expect(why(PromotionRequest, { ...minimal, approval: { timeout: '8761h' } })).toBe(
        `approval.timeout: ${tooLong('8761h')}`,
      );
    });
  });
});

describe('RollbackRequest', () => {
  const from = 'A'.repeat(40);
  const to = 'b'.repeat(40);
  const rollback = { fromSha: from, toSha: to, trigger: '5xx spike', operator: 'alice' };

  test('a minimal rollback defaults to production and keeps both shas in lowercase', () => {
    expect(accepted(RollbackRequest, rollback)).toEqual({
      ...rollback,
      fromSha: 'a'.repeat(40),
      environment: 'production',
    });
  });

  test('every field given is kept, the base in its canonical form', () => {
    const full = {
      ...rollback,
      toSha: 'C'.repeat(40),
      environment: 'eu',
      repo: 'ssh://git@git.example.com/srv/chat.git',
      toBranch: 'prod',
      productionBase: 'HTTPS://chat.example.com/',
      promotionReleaseId: '20261124-2231-rc123',
      releaseId: '20261124-2231-rb345678',
    };
    expect(accepted(RollbackRequest, full)).toEqual({
      ...full,
      fromSha: 'a'.repeat(40),
      toSha: 'c'.repeat(40),
      productionBase: 'https://chat.example.com',
    });
  });

  test.each<[string, Record<string, unknown>, string]>([
    ['a short from sha', { fromSha: 'a'.repeat(39) }, 'fromSha: must be a full 40-hex commit sha'],
    ['a long to sha', { toSha: 'b'.repeat(41) }, 'toSha: must be a full 40-hex commit sha'],
    ['a to sha that is not hex', { toSha: 'g'.repeat(40) }, 'toSha: must be a full 40-hex commit sha'],
    ['an empty trigger', { trigger: '' }, 'trigger: must say why (e.g. "5xx spike")'],
    ['a trigger over 500 characters', { trigger: 't'.repeat(501) }, `trigger: ${AT_MOST_500}`],
    ['an operator with spaces', { operator: 'a b' }, `operator: ${IDENTITY}`],
    ['an environment in capitals', { environment: 'EU' }, `environment: ${ENVIRONMENT}`],
    ['a bad branch', { toBranch: 'a..b' }, `toBranch: ${BRANCH_RULES}`],
    ['a relative repo', { repo: 'x' }, `repo: ${REPO_RELATIVE}`],
    [
      'a production base with a password',
      { productionBase: 'http://a:b@x.example.com' },
      'productionBase: must not carry user:password; secrets for probes come from the worker config',
    ],
    [
      'a rollback id as the promotion id',
      { promotionReleaseId: '20261124-2231-rb1' },
      'promotionReleaseId: must look like 20261124-2231-rc1',
    ],
    ['a promotion id as its own id', { releaseId: '20261124-2231-rc1' }, 'releaseId: must look like 20261124-2231-rb1'],
    ['rollback 0', { releaseId: '20261124-2231-rb0' }, 'releaseId: must look like 20261124-2231-rb1'],
    ['a prefixed id', { releaseId: 'x20261124-2231-rb1' }, 'releaseId: must look like 20261124-2231-rb1'],
    ['a suffixed id', { releaseId: '20261124-2231-rb1x' }, 'releaseId: must look like 20261124-2231-rb1'],
    [
      'a prefixed promotion id',
      { promotionReleaseId: 'x20261124-2231-rc1' },
      'promotionReleaseId: must look like 20261124-2231-rc1',
    ],
    [
      'a suffixed promotion id',
      { promotionReleaseId: '20261124-2231-rc1x' },
      'promotionReleaseId: must look like 20261124-2231-rc1',
    ],
    ['an unknown field', { reason: 'x' }, `reason: ${UNKNOWN}`],
  ])('%s is refused naming the field', (_name, overrides, expected) => {
    expect(why(RollbackRequest, { ...rollback, ...overrides })).toBe(expected);
  });

  test('a trigger of 500 characters is accepted', () => {
    expect(accepted(RollbackRequest, { ...rollback, trigger: 't'.repeat(500) }).trigger).toHaveLength(500);
  });
});

describe('approval decisions', () => {
  const sha = 'abcdef1';

  test('an approval names its approver, and may carry a comment and the commit it approves', () => {
    expect(accepted(ApproveDecision, { approver: 'bob' })).toEqual({ approver: 'bob' });
    expect(accepted(ApproveDecision, { approver: 'bob', comment: 'lgtm', commitSha: sha })).toEqual({
      approver: 'bob',
      comment: 'lgtm',
      commitSha: sha,
    });
  });

  test.each<[string, Record<string, unknown>, string]>([
    ['an approver with spaces', { approver: 'bob smith' }, `approver: ${IDENTITY}`],
    ['a comment over 500 characters', { approver: 'bob', comment: 'c'.repeat(501) }, `comment: ${AT_MOST_500}`],
    [
      'a sha that is not hex',
      { approver: 'bob', commitSha: 'nothex1' },
      'commitSha: must be 7–40 hexadecimal characters of the commit sha',
    ],
    ['a reason (approvals give comments)', { approver: 'bob', reason: 'x' }, `reason: ${UNKNOWN}`],
  ])('an approval with %s is refused', (_name, value, expected) => {
    expect(why(ApproveDecision, value)).toBe(expected);
  });

  test('a rejection needs a reason of 1–500 characters', () => {
    expect(accepted(RejectDecision, { approver: 'bob', reason: 'r'.repeat(500), commitSha: sha })).toEqual({
      approver: 'bob',
      reason: 'r'.repeat(500),
      commitSha: sha,
    });
    expect(why(RejectDecision, { approver: 'bob', reason: '' })).toBe('reason: must say why');
    expect(why(RejectDecision, { approver: 'bob', reason: 'r'.repeat(501) })).toBe(`reason: ${AT_MOST_500}`);
    expect(why(RejectDecision, { approver: 'bob' })).toMatch(/^reason: /);
    expect(why(RejectDecision, { approver: 'bob', reason: 'x', comment: 'y' })).toBe(`comment: ${UNKNOWN}`);
    expect(why(RejectDecision, { approver: 'bob', reason: 'x', commitSha: 'xyz' })).toBe(
      'commitSha: must be 7–40 hexadecimal characters of the commit sha',
    );
  });

  describe('DecideInput', () => {
    test.each<[string, Record<string, unknown>]>([
      ['an approval without a reason', { decision: 'approve', approver: 'bob' }],
      ['an approval with a reason', { decision: 'approve', approver: 'bob', reason: 'fine' }],
      ['a rejection with a reason', { decision: 'reject', approver: 'bob', reason: 'no' }],
      [
        'a decision with everything',
        { decision: 'approve', approver: 'bob', comment: 'c', reason: 'r'.repeat(500), commitSha: sha },
      ],
    ])('%s is a decision', (_name, value) => {
      expect(accepted(DecideInput, value)).toEqual(value);
    });

    test.each<[string, Record<string, unknown>, string]>([
      ['a rejection without a reason', { decision: 'reject', approver: 'bob' }, 'reason: is required to reject'],
      ['a decision to abstain', { decision: 'abstain', approver: 'bob' }, 'decision: must be "approve" or "reject"'],
      [
        'a reason over 500 characters',
        { decision: 'reject', approver: 'bob', reason: 'r'.repeat(501) },
        `reason: ${AT_MOST_500}`,
      ],
      [
        'a comment over 500 characters',
        { decision: 'approve', approver: 'bob', comment: 'c'.repeat(501) },
        `comment: ${AT_MOST_500}`,
      ],
      ['an approver with spaces', { decision: 'approve', approver: 'b b' }, `approver: ${IDENTITY}`],
      [
        'a sha that is not hex',
        { decision: 'approve', approver: 'bob', commitSha: 'zzzzzzz' },
        'commitSha: must be 7–40 hexadecimal characters of the commit sha',
      ],
      ['an unknown field', { decision: 'approve', approver: 'bob', why: 'x' }, `why: ${UNKNOWN}`],
    ])('%s is refused naming the field', (_name, value, expected) => {
      expect(why(DecideInput, value)).toBe(expected);
    });

    test('an empty reason is refused even on an approval', () => {
      expect(why(DecideInput, { decision: 'approve', approver: 'bob', reason: '' })).toMatch(/^reason: /);
    });
  });
});

describe('parsePromotionRequest', () => {
  const NOT_AN_OBJECT =
    'the promotion request must be one JSON object, e.g. {"commitSha":"3f9c1a2","changeClass":"A","operator":"alice",…}';
  const CLASS_C =
    'changeClass: class C changes may not be promoted; reclassify the change (A or B) through review, then start a new promotion';

  test.each<[string, unknown]>([
    ['a string', 'promote please'],
    ['null', null],
    ['undefined', undefined],
    ['a number', 42],
    ['an array', [minimal]],
    ['an empty array', []],
  ])('%s is not one object: InvalidPromotionRequest, non-retryable', (_name, input) => {
    const failure = thrown(() => parsePromotionRequest(input));
    expect(failure.type).toBe('InvalidPromotionRequest');
    expect(failure.message).toBe(NOT_AN_OBJECT);
    expect(failure.nonRetryable).toBe(true);
  });

  test('class C is ChangeClassForbidden, checked before any other field', () => {
    const failure = thrown(() => parsePromotionRequest({ changeClass: 'C', commitSha: 'not hex', typo: true }));
    expect(failure.type).toBe('ChangeClassForbidden');
    expect(failure.message).toBe(CLASS_C);
    expect(failure.nonRetryable).toBe(true);
  });

  test('a lowercase "c" is not class C: it is an invalid change class', () => {
    const failure = thrown(() => parsePromotionRequest({ ...minimal, changeClass: 'c' }));
    expect(failure.type).toBe('InvalidPromotionRequest');
  });

  test('a bad request is InvalidPromotionRequest naming every bad field and saying nothing changed', () => {
    const failure = thrown(() => parsePromotionRequest({ ...minimal, commitSha: 'xyz', comitSha: 'abc1234' }));
    expect(failure.type).toBe('InvalidPromotionRequest');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toBe(
      `invalid promotion request: commitSha: ${SHA_FORMAT}; comitSha: ${UNKNOWN}. Fix the field and start a new promotion; nothing was changed`,
    );
  });

  test('a valid request comes back parsed, with its defaults and the sha in lowercase', () => {
    expect(parsePromotionRequest({ ...minimal, commitSha: 'ABCDEF1', changeClass: 'B' })).toEqual({
      ...accepted(PromotionRequest, minimal),
      commitSha: 'abcdef1',
      changeClass: 'B',
    });
  });

  test('without free text no notes, rollbackPlan or evidenceRefs appear', () => {
    const parsed = parsePromotionRequest(minimal);
    expect('notes' in parsed || 'rollbackPlan' in parsed || 'evidenceRefs' in parsed).toBe(false);
  });

  test.each(['notes', 'rollbackPlan', 'evidenceRefs'] as const)(
    'a secret pasted into %s is redacted, the rest of the text kept',
    (field) => {
      const parsed = parsePromotionRequest({ ...minimal, [field]: 'see run 7, password=hunter2 for the db' });
      expect(parsed[field]).toBe('see run 7, password=[REDACTED] for the db');
      const others = (['notes', 'rollbackPlan', 'evidenceRefs'] as const).filter((f) => f !== field);
      for (const other of others) expect(other in parsed).toBe(false);
    },
  );

  test('all three free texts are redacted together and ordinary text is untouched', () => {
    expect(
      parsePromotionRequest({
        ...minimal,
        notes: 'plain notes',
        rollbackPlan: 'move release back; token=abc123',
        evidenceRefs: 'https://ci:s3cret@ci.example.com/run/1',
      }),
    ).toMatchObject({
      notes: 'plain notes',
      rollbackPlan: 'move release back; token=[REDACTED]',
      evidenceRefs: 'https://[REDACTED]@ci.example.com/run/1',
    });
  });
});

describe('parseBaseUrl', () => {
  test.each([
    ['https://staging.example.com', 'https://staging.example.com'],
    ['https://staging.example.com/', 'https://staging.example.com'],
    ['https://staging.example.com//', 'https://staging.example.com'],
    ['HTTPS://Staging.Example.COM:443/Api/', 'https://staging.example.com/Api'],
    ['Http://a.example.com:80/', 'http://a.example.com'],
    ['https://a.example.com:80', 'https://a.example.com:80'],
    ['http://a.example.com:443', 'http://a.example.com:443'],
    ['https://a.example.com:4430', 'https://a.example.com:4430'],
    ['http://a.example.com:8080', 'http://a.example.com:8080'],
    ['https://a.example.com/api/v1', 'https://a.example.com/api/v1'],
    ['https://a.example.com/api/v1//', 'https://a.example.com/api/v1'],
    ['https://a.example.com/a%20b', 'https://a.example.com/a%20b'],
    ['http://127.0.0.1:19103', 'http://127.0.0.1:19103'],
    ['http://[::1]:9000/', 'http://[::1]:9000'],
    ['https://xn--bcher-kva.example', 'https://xn--bcher-kva.example'],
  ])('%s is probed as %s', (text, value) => {
    expect(parseBaseUrl(text)).toEqual({ ok: true, value });
  });

  const WHITESPACE = 'must not contain whitespace or control characters (a URL parser drops some silently)';
  const ABSOLUTE = 'must be an absolute http(s) URL such as https://staging.example.com';
  const spelled = (written: string, reached: string) =>
    `must spell the host as a URL parser does: "${written}" is reached as "${reached}" (write ASCII or punycode, dotted IPv4, no empty port)`;

  test.each([
    ['a space', 'https://a.example.com/ x', WHITESPACE],
    ['a tab in the host', 'http://127.0.0.1:191\t03', WHITESPACE],
    ['a newline', 'https://a.example.com/\nhealth', WHITESPACE],
    ['a NUL', 'https://a.example.com/\u0000', WHITESPACE],
    ['a unit separator', 'https://a.example.com/\u001f', WHITESPACE],
    ['a DEL', 'https://a.example.com/\u007f', WHITESPACE],
    ['a C1 control', 'https://a.example.com/\u009f', WHITESPACE],
    ['a line separator', 'https://a.example.com/\u2028', WHITESPACE],
    ['a paragraph separator', 'https://a.example.com/\u2029', WHITESPACE],
    [
      'a backslash',
      'http://127.0.0.1:19103\\@127.0.0.1:19101',
      'must not contain a backslash (a URL parser reads it as "/", so the host probed would not be the host written); use "/"',
    ],
    ['an ftp URL', 'ftp://staging.example.com', 'must use http or https'],
    ['a scheme-like prefix', 'x:https://staging.example.com', ABSOLUTE],
    ['no URL at all', 'notaurl', ABSOLUTE],
    ['a scheme without "//"', 'https:staging.example.com', ABSOLUTE],
    ['nothing after the scheme', 'https://', ABSOLUTE],
    [
      'user:password',
      'https://ops:hunter2@chat.example.com',
      'must not carry user:password; secrets for probes come from the worker config',
    ],
    [
      'a user',
      'https://token@chat.example.com',
      'must not carry user:password; secrets for probes come from the worker config',
    ],
    [
      'an @ in the path',
      'http://127.0.0.1:19103/x@127.0.0.1:19101',
      'must not contain "@" (a reader could take what follows it for the host)',
    ],
    ['a query', 'https://staging.example.com/?debug=1', 'must not have a query string'],
    ['a query and a fragment', 'https://staging.example.com/?a#b', 'must not have a query string'],
    ['a fragment', 'https://staging.example.com/#top', 'must not have a fragment'],
    ['a percent-encoded host', 'http://%31%32%37.0.0.1:19103', 'must not percent-encode the host; write it plainly'],
    ['a non-ASCII host', 'https://bücher.example', spelled('bücher.example', 'xn--bcher-kva.example')],
    ['a numeric IPv4 host', 'http://2130706433:19103', spelled('2130706433:19103', '127.0.0.1:19103')],
    ['a hex IPv4 host', 'http://0x7f.1', spelled('0x7f.1', '127.0.0.1')],
    ['an empty port', 'https://a.example.com:', spelled('a.example.com:', 'a.example.com')],
  ])('a base with %s is refused: %s', (_name, text, message) => {
    expect(parseBaseUrl(text)).toEqual({ ok: false, message });
  });

  test('BaseUrl gives the canonical form and refuses with parseBaseUrl’s message', () => {
    expect(accepted(BaseUrl, 'HTTPS://Staging.Example.COM:443/api/')).toBe('https://staging.example.com/api');
    expect(why(BaseUrl, 'ftp://x.example.com')).toBe('(request): must use http or https');
    expect(why(BaseUrl, 'https://a.example.com/?x')).toBe('(request): must not have a query string');
  });

  test('a refused base is a custom zod issue, so describeIssues reads it as "field: message"', () => {
    const parsed = BaseUrl.safeParse('ftp://x.example.com');
    expect(parsed.success || parsed.error.issues.map((issue) => issue.code)).toEqual(['custom']);
  });

  test('BaseUrl takes 500 characters and refuses 501 with the length', () => {
    const base = 'https://a.example.com/';
    expect(accepted(BaseUrl, base + 'p'.repeat(500 - base.length))).toHaveLength(500);
    expect(why(BaseUrl, base + 'p'.repeat(501 - base.length))).toBe(`(request): ${AT_MOST_500}`);
  });
});
