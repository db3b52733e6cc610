// Bad input gets a typed failure naming the field and changes nothing: no entry, no reservation, no push.
import { existsSync } from 'node:fs';
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
  ['an unknown change class', { changeClass: 'D' }, 'InvalidPromotionRequest', 'changeClass:'],
  ['an operator with spaces', { operator: 'alice smith' }, 'InvalidPromotionRequest', 'operator:'],
  ['an environment in capitals', { environment: 'Prod' }, 'InvalidPromotionRequest', 'environment:'],
  ['a repo URL carrying a token', { repo: 'https://x-access-token:ghp_abc@github.com/acme/chat.git' }, 'InvalidPromotionRequest', 'repo:'],
  ['a repo that reads as a git option', { repo: '--upload-pack=touch /tmp/pwned' }, 'InvalidPromotionRequest', 'repo:'],
  ['a branch name with ..', { fromBranch: 'main..evil' }, 'InvalidPromotionRequest', 'fromBranch:'],
  ['the same branch twice', { fromBranch: 'release', toBranch: 'release' }, 'InvalidPromotionRequest', 'toBranch:'],
  ['a staging base that is not http', { stagingBase: 'ftp://staging.example.com' }, 'InvalidPromotionRequest', 'stagingBase:'],
  ['a staging base with a query', { stagingBase: 'https://staging.example.com/?debug=1' }, 'InvalidPromotionRequest', 'stagingBase:'],
  ['a production base with user:password', { productionBase: 'https://ops:hunter2@chat.example.com' }, 'InvalidPromotionRequest', 'productionBase:'],
  ['a deploy wait timeout in words', { deployWait: { path: '/health', field: 'version', timeout: '10 minutes' } }, 'InvalidPromotionRequest', 'deployWait.timeout:'],
  ['an approval timeout in weeks', { approval: { timeout: '1w' } }, 'InvalidPromotionRequest', 'approval.timeout:'],
  ['a malformed release id', { releaseId: 'tomorrow' }, 'InvalidPromotionRequest', 'releaseId:'],
  ['notes over 500 characters', { notes: 'x'.repeat(501) }, 'InvalidPromotionRequest', 'notes:'],
  ['a misspelled field', { comitSha: 'abc1234' }, 'InvalidPromotionRequest', 'comitSha: is not a known setting'],
  ['an optional gate the catalog lacks', { optionalGates: ['smoke_everything'] }, 'InvalidPromotionRequest', 'optionalGates:'],
  ['a command gate with no command configured', { optionalGates: ['breaker_drill'] }, 'InvalidPromotionRequest', 'gates.breaker_drill.command'],
  ['no repo and no registry', { repo: undefined }, 'InvalidPromotionRequest', 'repo: is required'],
  ['a repo that does not exist', { repo: '/nonexistent/repo.git' }, 'InvalidPromotionRequest', 'repo:'],
  ['a source branch that does not exist', { fromBranch: 'trunk' }, 'InvalidPromotionRequest', 'fromBranch:'],
  // Pushing would create the branch and record a "promotion" nobody deploys from.
  ['a release branch that does not exist', { toBranch: 'relase' }, 'InvalidPromotionRequest', 'toBranch: branch "relase" does not exist'],
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
