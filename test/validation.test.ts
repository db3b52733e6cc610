// Bad input gets a typed failure naming the field and changes nothing: no entry, no reservation, no push.
import { existsSync } from 'node:fs';
import { BaseUrl, Duration, RepoLocation } from '../src/domain';
import { parseLedger } from '../src/ledger/format';
import { createHarness, failureOf, Harness, recordHistory } from './helpers';

let h: Harness;
let good: string;
let releaseTip: string | null;
beforeAll(async () => {
  h = await createHarness();
  good = await h.repo.commit('feature: valid');
  releaseTip = await h.repo.tip('release');
});
afterAll(async () => {
  await h?.close();
});

async function expectNothingChanged(): Promise<void> {
  expect(parseLedger(await h.ledger()).entries).toEqual([]);
  expect(await h.repo.tip('relase')).toBeNull();
  expect(existsSync(`${h.ledgerPath}.reservations`)).toBe(false);
  expect(await h.repo.tip('release')).toBe(releaseTip);
  expect(h.staging.requests).toEqual([]);
}

const cases: Array<[string, Record<string, unknown>, string, string]> = [
  ['a sha that is not hex', { commitSha: 'xyz1234' }, 'InvalidPromotionRequest', 'commitSha:'],
  ['class C', { changeClass: 'C' }, 'ChangeClassForbidden', 'changeClass'],
  [
    'an approval only the operator could give',
    { changeClass: 'B', approval: { approvers: ['alice'] } },
    'InvalidPromotionRequest',
    'approval.minApprovals:',
  ],
  [
    'more approvals than approvers besides the operator',
    { approval: { required: true, approvers: ['alice', 'bob'], minApprovals: 2 } },
    'InvalidPromotionRequest',
    'approval.minApprovals:',
  ],
  ['an unknown change class', { changeClass: 'D' }, 'InvalidPromotionRequest', 'changeClass:'],
  ['an operator with spaces', { operator: 'alice smith' }, 'InvalidPromotionRequest', 'operator:'],
  ['an environment in capitals', { environment: 'Prod' }, 'InvalidPromotionRequest', 'environment:'],
  [
    'a repo URL carrying a token',
    { repo: 'https://x-access-token:ghp_abc@github.com/acme/chat.git' },
    'InvalidPromotionRequest',
    'repo:',
  ],
  ['a repo that reads as a git option', { repo: '--upload-pack=touch /tmp/pwned' }, 'InvalidPromotionRequest', 'repo:'],
  ['a branch name with ..', { fromBranch: 'main..evil' }, 'InvalidPromotionRequest', 'fromBranch:'],
  ['the same branch twice', { fromBranch: 'release', toBranch: 'release' }, 'InvalidPromotionRequest', 'toBranch:'],
  [
    'a staging base that is not http',
    { stagingBase: 'ftp://staging.example.com' },
    'InvalidPromotionRequest',
    'stagingBase:',
  ],
  [
    'a staging base with a query',
    { stagingBase: 'https://staging.example.com/?debug=1' },
    'InvalidPromotionRequest',
    'stagingBase:',
  ],
  [
    'a production base with user:password',
    { productionBase: 'https://ops:hunter2@chat.example.com' },
    'InvalidPromotionRequest',
    'productionBase:',
  ],
  [
    'a deploy wait timeout in words',
    { deployWait: { path: '/health', field: 'version', timeout: '10 minutes' } },
    'InvalidPromotionRequest',
    'deployWait.timeout:',
  ],
  ['an approval timeout in weeks', { approval: { timeout: '1w' } }, 'InvalidPromotionRequest', 'approval.timeout:'],
  ['a malformed release id', { releaseId: 'tomorrow' }, 'InvalidPromotionRequest', 'releaseId:'],
  ['notes over 500 characters', { notes: 'x'.repeat(501) }, 'InvalidPromotionRequest', 'notes:'],
  ['a misspelled field', { comitSha: 'abc1234' }, 'InvalidPromotionRequest', 'comitSha: is not a known setting'],
  [
    'an optional gate the catalog lacks',
    { optionalGates: ['smoke_everything'] },
    'InvalidPromotionRequest',
    'optionalGates:',
  ],
  [
    'a command gate with no command configured',
    { optionalGates: ['breaker_drill'] },
    'InvalidPromotionRequest',
    'gates.breaker_drill.command',
  ],
  ['no repo and no registry', { repo: undefined }, 'InvalidPromotionRequest', 'repo: is required'],
  ['a repo that does not exist', { repo: '/nonexistent/repo.git' }, 'InvalidPromotionRequest', 'repo:'],
  ['a source branch that does not exist', { fromBranch: 'trunk' }, 'InvalidPromotionRequest', 'fromBranch:'],
  // Pushing would create the branch and record a "promotion" nobody deploys from.
  [
    'a release branch that does not exist',
    { toBranch: 'relase' },
    'InvalidPromotionRequest',
    'toBranch: branch "relase" does not exist',
  ],
  ['a commit that does not exist', { commitSha: 'deadbeefdeadbeef' }, 'CommitNotOnSourceBranch', 'deadbeefdeadbeef'],
];

test.each(cases)('%s is refused with a typed failure and changes nothing', async (_name, overrides, type, mentions) => {
  const input = h.request(good, overrides);
  for (const [key, value] of Object.entries(overrides)) if (value === undefined) delete input[key];
  const handle = await h.start(input);
  const failure = await failureOf(handle);
  expect(failure.type).toBe(type);
  expect(failure.message).toContain(mentions);
  expect(failure.status.stage).toBe('invalid');
  expect(failure.status.releaseId).toBeUndefined();
  expect(failure.status.timeline.map((t) => t.stage)).toEqual(['validating', 'invalid']);
  await expectNothingChanged();
});

test('a commit only on another branch is CommitNotOnSourceBranch and changes nothing', async () => {
  const { execFileSync } = await import('node:child_process');
  execFileSync('git', ['checkout', '--quiet', '-b', 'side'], { cwd: h.repo.work });
  const side = await h.repo.commit('side work');
  execFileSync('git', ['reset', '--quiet', '--hard', good], { cwd: h.repo.work });
  execFileSync('git', ['push', '--quiet', '--force', 'origin', `${good}:refs/heads/main`], { cwd: h.repo.work });
  execFileSync('git', ['push', '--quiet', 'origin', `${side}:refs/heads/side`], { cwd: h.repo.work });
  const handle = await h.start(h.request(side));
  const failure = await failureOf(handle);
  await recordHistory(handle, 'promotion-commit-not-on-source');
  expect(failure.type).toBe('CommitNotOnSourceBranch');
  expect(failure.message).toContain('main');
  await expectNothingChanged();
});

test('a request that is not an object is refused', async () => {
  const handle = await h.start('promote please');
  const failure = await failureOf(handle);
  expect(failure.type).toBe('InvalidPromotionRequest');
  await expectNothingChanged();
});

// A token the hostile forms carry: it must appear in neither the failure nor the status.
const SECRET = 'ghs_s3cr3tT0kenValue1234567890abcd';

const hostileRepos: Array<[string, string]> = [
  ["git's transport syntax hiding a credentialed URL", `https::https://user:${SECRET}@github.com/acme/chat.git`],
  ['an ext:: helper running a command', 'ext::sh -c touch% /tmp/pwned'],
  ['an fd:: helper', 'fd::0'],
  ['an ssh host that reads as an option', 'ssh://-oProxyCommand=touch/x'],
  ['an scp-style path that reads as an option', 'host:-x'],
  ['a git:// URL', 'git://git.example.com/acme/chat.git'],
  ['an http:// URL', 'http://git.example.com/acme/chat.git'],
  ['a query carrying a token', `https://github.com/acme/chat.git?access_token=${SECRET}`],
  ['a fragment', 'https://github.com/acme/chat.git#main'],
  ['a token as the https user', `https://${SECRET}@github.com/acme/chat.git`],
  ['an ssh password', `ssh://git:${SECRET}@git.example.com/srv/chat.git`],
  ['an scp-style password', `git:${SECRET}@git.example.com:acme/chat.git`],
  ['a relative path', 'sample-service.git'],
  ['a dot-relative path', '../sample-service.git'],
  ['a file:// URL with a host', 'file://otherhost/srv/git/chat.git'],
  ['a percent-encoded path', 'https://git.example.com/acme/%2e%2e/chat.git'],
];

test.each(hostileRepos)(
  'a repo with %s is refused at admission naming repo, with no credential in the failure or the status',
  async (_name, repo) => {
    const handle = await h.start(h.request(good, { repo }));
    const failure = await failureOf(handle);
    expect(failure.type).toBe('InvalidPromotionRequest');
    expect(failure.message).toMatch(/^invalid promotion request: repo: must /);
    expect(failure.status.stage).toBe('invalid');
    expect(failure.status.releaseId).toBeUndefined();
    expect(failure.message).not.toContain(SECRET);
    expect(JSON.stringify(failure.status)).not.toContain(SECRET);
    expect(JSON.stringify(await handle.query('status'))).not.toContain(SECRET);
    await expectNothingChanged();
  },
);

const misleadingBases: Array<[string, string, string]> = [
  [
    'a backslash before an @ (probes one host, reads as another)',
    'stagingBase',
    'http://127.0.0.1:19103\\@127.0.0.1:19101',
  ],
  ['an @ in the path', 'productionBase', 'http://127.0.0.1:19103/x@127.0.0.1:19101'],
  ['a tab inside the host', 'stagingBase', 'http://127.0.0.1:191\t03'],
  ['a newline', 'productionBase', 'http://127.0.0.1:19103/\nhealth'],
  ['a percent-encoded host', 'stagingBase', 'http://%31%32%37.0.0.1:19103'],
  ['a numeric IPv4 host', 'productionBase', 'http://2130706433:19103'],
  ['no URL at all', 'stagingBase', 'notaurl'],
];

test.each(misleadingBases)('a base with %s is refused at admission naming the field', async (_name, field, base) => {
  const handle = await h.start(h.request(good, { [field]: base }));
  const failure = await failureOf(handle);
  expect(failure.type).toBe('InvalidPromotionRequest');
  expect(failure.message).toMatch(new RegExp(`^invalid promotion request: ${field}: must `));
  expect(failure.status.stage).toBe('invalid');
  await expectNothingChanged();
});

test.each([
  ['99999d', 'approval.timeout', { approval: { timeout: '99999d' } }],
  ['366d', 'deployWait.timeout', { deployWait: { path: '/health', field: 'version', timeout: '366d' } }],
  ['8761h', 'approval.timeout', { approval: { timeout: '8761h' } }],
])(
  'a timeout of %s in %s (over 365 days) is refused naming the field, not capped',
  async (_value, field, overrides) => {
    const handle = await h.start(h.request(good, overrides));
    const failure = await failureOf(handle);
    expect(failure.type).toBe('InvalidPromotionRequest');
    expect(failure.message).toContain(`${field}: must be at most 365d`);
    await expectNothingChanged();
  },
);

describe('the schemas alone', () => {
  test('a base is kept in its canonical form: lowercased scheme and host, no default port, no trailing slash', () => {
    expect(BaseUrl.parse('HTTPS://Staging.Example.COM:443/api/')).toBe('https://staging.example.com/api');
    expect(BaseUrl.parse('http://127.0.0.1:80')).toBe('http://127.0.0.1');
    expect(BaseUrl.parse('http://[::1]:9000/')).toBe('http://[::1]:9000');
  });

  test('durations up to 365 days are accepted and longer ones refused', () => {
    expect(Duration.parse('365d')).toBe(365 * 86_400_000);
    expect(Duration.parse('8760h')).toBe(365 * 86_400_000);
    expect(Duration.safeParse('366d').success).toBe(false);
    expect(Duration.safeParse('99999d').success).toBe(false);
  });

  test('the accepted repo forms pass validation', () => {
    for (const repo of [
      '/srv/git/chat.git',
      'file:///srv/git/chat.git',
      'https://github.com/acme/chat.git',
      'ssh://git@git.example.com:2222/srv/chat.git',
      'git@github.com:acme/chat.git',
      '/srv/git/../git/chat.git',
    ]) {
      expect(RepoLocation.safeParse(repo).success).toBe(true);
    }
  });
});
