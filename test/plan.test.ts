// Planning a promotion or a rollback (SPEC §3 "Where settings come from"), the probes' secret
// headers, and the promote step's corners promote.test.ts and git.test.ts leave open. Real
// temp git repos, real registry and gate files read by loadConfig; no worker, no server.
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { planPromotion, planRollback, probeHeaders } from '../src/activities/plan';
import { approvalPolicy, branchProblems, gateProblems, promotionSettings } from '../src/activities/plan-rules';
import { moveBranch, resolveCommit } from '../src/activities/git';
import { promoteCommit, PromoteArgs } from '../src/activities/promote';
import { fileLedger } from '../src/ledger/sink';
import { loadConfig, type Config } from '../src/config';
import { PromotionRequest, RollbackRequest, type PromotionInput, type RollbackInput } from '../src/domain';
import { appendLedgerEntry } from '../src/ledger/store';
import { createSampleRepo, SampleRepo } from '../sample/repo';
import { failureOf, promoteAsTheWorkflowDoes, promotion } from './records';

const STAGING = 'http://127.0.0.1:8081';
const PRODUCTION = 'http://127.0.0.1:8082';
const REQUIRED_GATES = ['health', 'db_health', 'chat_happy', 'chat_415', 'cost_gate_chat', 'burst_429'];
const DAY_MS = 86_400_000;

/** git with nothing but the arguments (the sample repo's helpers cannot delete a ref). */
function git(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, (err, stdout, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve(stdout)));
  });
}

describe('planning', () => {
  let tmp: string;
  let repo: SampleRepo;
  let canonical: string;
  let files = 0;

  beforeAll(async () => {
    tmp = await realpath(await mkdtemp(path.join(os.tmpdir(), 'plan-test-')));
    repo = await createSampleRepo(path.join(tmp, 'remote'));
    canonical = await realpath(repo.bare);
    // Branches the custom-branch cases name, at the first commit like main and release.
    await repo.forcePush('develop', repo.base);
    await repo.forcePush('prod', repo.base);
  });

  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  /** A Config as the worker loads it: a registry file (when given), a gate file (when given), this env. */
  async function configWith(
    options: { environments?: Record<string, unknown>; gates?: unknown; env?: Record<string, string> } = {},
  ): Promise<{ config: Config; env: Record<string, string> }> {
    const env: Record<string, string> = { GIT_CACHE_DIR: path.join(tmp, 'git-cache'), ...options.env };
    files++;
    if (options.environments) {
      env.ENVIRONMENTS_CONFIG = path.join(tmp, `environments-${files}.json`);
      await writeFile(env.ENVIRONMENTS_CONFIG, JSON.stringify({ environments: options.environments }));
    }
    if (options.gates) {
      env.GATES_CONFIG = path.join(tmp, `gates-${files}.json`);
      await writeFile(env.GATES_CONFIG, JSON.stringify(options.gates));
    }
    return { config: loadConfig(env, tmp), env };
  }

  const registryConfig = async (over: Record<string, unknown> = {}, more: Record<string, unknown> = {}) =>
    (
      await configWith({
        environments: {
          production: { repo: repo.bare, stagingBase: STAGING, productionBase: PRODUCTION, ...over },
          ...more,
        },
      })
    ).config;

  /** A request that carries every setting itself (for a worker without a registry). */
  const full = (over: Partial<PromotionInput> = {}): PromotionRequest =>
    PromotionRequest.parse({
      commitSha: repo.base.slice(0, 8),
      changeClass: 'A',
      operator: 'alice',
      repo: repo.bare,
      stagingBase: STAGING,
      productionBase: PRODUCTION,
      ...over,
    });

  /** A request that names only what a registry cannot know. */
  const minimal = (over: Partial<PromotionInput> = {}): PromotionRequest =>
    PromotionRequest.parse({ commitSha: repo.base.slice(0, 8), changeClass: 'A', operator: 'alice', ...over });

  const rollbackRequest = (over: Partial<RollbackInput> = {}): RollbackRequest =>
    RollbackRequest.parse({
      fromSha: 'b'.repeat(40),
      toSha: repo.base,
      trigger: '5xx spike',
      operator: 'alice',
      ...over,
    });

  describe('planPromotion without a registry', () => {
    test('the request gives every setting; branches default to main and release, the commit resolves in full, approval to its defaults', async () => {
      const { config } = await configWith();
      const plan = await planPromotion(config, full({ stagingBase: `${STAGING}/tenant-a` }));
      expect(plan).toStrictEqual({
        commitSha: repo.base,
        changeClass: 'A',
        operator: 'alice',
        environment: 'production',
        repo: canonical,
        fromBranch: 'main',
        toBranch: 'release',
        stagingBase: `${STAGING}/tenant-a`,
        // The path is not part of the service: bases on one host share its rate limit.
        stagingService: STAGING,
        productionBase: PRODUCTION,
        deployWait: undefined,
        stagingGates: REQUIRED_GATES,
        optionalGates: [],
        expectBudgetBlock: false,
        approval: { required: false, approvers: undefined, minApprovals: 1, timeoutMs: DAY_MS },
        acceptDrift: false,
        allowDowngrade: false,
        releaseId: undefined,
        notes: undefined,
        rollbackPlan: undefined,
        dryRun: false,
        freeze: undefined,
        soak: undefined,
        stagingDeployWait: undefined,
        evidenceRefs: undefined,
      });
    });

    test('everything else the request says is carried into the plan as given, deployWait with its timeout in ms', async () => {
      const { config } = await configWith();
      const plan = await planPromotion(
        config,
        full({
          repo: `file://${repo.bare}`,
          fromBranch: 'develop',
          toBranch: 'prod',
          deployWait: { path: '/version', field: 'build.sha', timeout: '90s' },
          expectBudgetBlock: true,
          acceptDrift: true,
          allowDowngrade: true,
          releaseId: '20261201-1000-rc2',
          notes: 'hotfix for the chat timeout',
          rollbackPlan: 'move release back',
          evidenceRefs: 'JIRA-42',
          approval: { timeout: '2h' },
        }),
      );
      expect(plan).toMatchObject({
        repo: canonical,
        fromBranch: 'develop',
        toBranch: 'prod',
        deployWait: { path: '/version', field: 'build.sha', timeoutMs: 90_000 },
        expectBudgetBlock: true,
        acceptDrift: true,
        allowDowngrade: true,
        releaseId: '20261201-1000-rc2',
        notes: 'hotfix for the chat timeout',
        rollbackPlan: 'move release back',
        evidenceRefs: 'JIRA-42',
        approval: { timeoutMs: 7_200_000 },
      });
    });

    test.each(['stagingBase', 'repo', 'productionBase'] as const)(
      'a request without %s is refused naming the field, since there is no registry to take it from',
      async (field) => {
        const { config } = await configWith();
        const err = await failureOf(planPromotion(config, full({ [field]: undefined })));
        expect(err.type).toBe('InvalidPromotionRequest');
        expect(err.nonRetryable).toBe(true);
        expect(err.message).toBe(
          `${field}: is required (the worker has no environment registry to take it from); add "${field}" to the request`,
        );
      },
    );

    test('a toBranch equal to the (default) fromBranch is refused naming toBranch', async () => {
      const { config } = await configWith();
      const err = await failureOf(planPromotion(config, full({ toBranch: 'main' })));
      expect(err.type).toBe('InvalidPromotionRequest');
      expect(err.message).toBe('toBranch: must differ from fromBranch ("main")');
    });

    test('a repo that does not exist on the worker is refused naming repo', async () => {
      const { config } = await configWith();
      const missing = path.join(tmp, 'missing.git');
      const err = await failureOf(planPromotion(config, full({ repo: missing })));
      expect(err.type).toBe('InvalidPromotionRequest');
      expect(err.message).toBe(`repo: ${missing} does not exist on the worker; check the path`);
    });

    test('a commit that is not on fromBranch is CommitNotOnSourceBranch', async () => {
      const { config } = await configWith();
      const err = await failureOf(planPromotion(config, full({ commitSha: 'deadbeef'.repeat(5) })));
      expect(err.type).toBe('CommitNotOnSourceBranch');
    });
  });

  describe('planPromotion with a registry', () => {
    test('settings come from the registry; the staging service is derived from its staging base when it names none', async () => {
      const config = await registryConfig({
        stagingBase: `${STAGING}/a`,
        deployWait: { path: '/version', field: 'commit', timeout: '30s' },
      });
      const plan = await planPromotion(config, minimal());
      expect(plan).toMatchObject({
        repo: canonical,
        fromBranch: 'main',
        toBranch: 'release',
        stagingBase: `${STAGING}/a`,
        stagingService: STAGING,
        productionBase: PRODUCTION,
        deployWait: { path: '/version', field: 'commit', timeoutMs: 30_000 },
        stagingGates: REQUIRED_GATES,
      });
    });

    test("the registry's branches and its staging service name are used", async () => {
      const config = await registryConfig({
        fromBranch: 'develop',
        toBranch: 'prod',
        stagingService: 'shared-staging',
      });
      const plan = await planPromotion(config, minimal());
      expect(plan).toMatchObject({ fromBranch: 'develop', toBranch: 'prod', stagingService: 'shared-staging' });
      expect(plan.deployWait).toBeUndefined();
    });

    test('a request may repeat every registered value (deployWait compared by value)', async () => {
      const config = await registryConfig({ deployWait: { path: '/version', field: 'commit', timeout: '30s' } });
      const plan = await planPromotion(
        config,
        minimal({
          repo: repo.bare,
          fromBranch: 'main',
          toBranch: 'release',
          stagingBase: STAGING,
          productionBase: PRODUCTION,
          deployWait: { path: '/version', field: 'commit', timeout: '30s' },
        }),
      );
      expect(plan).toMatchObject({
        repo: canonical,
        stagingBase: STAGING,
        productionBase: PRODUCTION,
        deployWait: { path: '/version', field: 'commit', timeoutMs: 30_000 },
      });
    });

    test.each([
      ['fromBranch', { fromBranch: 'develop' }, '"develop"', '"main"'],
      ['toBranch', { toBranch: 'prod' }, '"prod"', '"release"'],
      ['stagingBase', { stagingBase: 'http://127.0.0.1:9999' }, '"http://127.0.0.1:9999"', `"${STAGING}"`],
      ['productionBase', { productionBase: 'http://127.0.0.1:9998' }, '"http://127.0.0.1:9998"', `"${PRODUCTION}"`],
      [
        'deployWait',
        { deployWait: { path: '/version', field: 'sha', timeout: '30s' } },
        '{"path":"/version","field":"sha","timeoutMs":30000}',
        '{"path":"/version","field":"commit","timeoutMs":30000}',
      ],
    ] as const)(
      'a %s that differs from the registered one is refused naming the field and both values',
      async (field, given, givenText, registeredText) => {
        const config = await registryConfig({ deployWait: { path: '/version', field: 'commit', timeout: '30s' } });
        const err = await failureOf(planPromotion(config, minimal(given)));
        expect(err.type).toBe('InvalidPromotionRequest');
        expect(err.nonRetryable).toBe(true);
        expect(err.message).toBe(
          `${field}: ${givenText} differs from the value registered for production (${registeredText}); omit ${field} or use the registered value`,
        );
      },
    );

    test('a deployWait the registry does not have is refused as differing from none', async () => {
      const config = await registryConfig();
      const err = await failureOf(
        planPromotion(config, minimal({ deployWait: { path: '/version', field: 'sha', timeout: '30s' } })),
      );
      expect(err.message).toBe(
        'deployWait: {"path":"/version","field":"sha","timeoutMs":30000} differs from the value registered for production (undefined); omit deployWait or use the registered value',
      );
    });

    test('the registered repo spelled another way (file://, a symlink, "..") is the same target and plans the canonical repo', async () => {
      const alias = path.join(tmp, 'alias.git');
      await symlink(repo.bare, alias).catch(() => undefined);
      const config = await registryConfig();
      for (const spelling of [`file://${repo.bare}`, alias, `${repo.bare}/../${path.basename(repo.bare)}`]) {
        const plan = await planPromotion(config, minimal({ repo: spelling }));
        expect(plan.repo).toBe(canonical);
      }
    });

    test('another repo is refused as differing, even one that does not exist on the worker', async () => {
      const other = path.join(tmp, 'other.git');
      const config = await registryConfig();
      const err = await failureOf(planPromotion(config, minimal({ repo: other })));
      expect(err.type).toBe('InvalidPromotionRequest');
      expect(err.message).toBe(
        `repo: "${other}" differs from the value registered for production ("${repo.bare}"); omit repo or use the registered value`,
      );
    });

    test('two repos that both cannot be resolved are not taken for one target', async () => {
      const registered = path.join(tmp, 'registered-missing.git');
      const given = path.join(tmp, 'given-missing.git');
      const config = await registryConfig({ repo: registered });
      const err = await failureOf(planPromotion(config, minimal({ repo: given })));
      expect(err.message).toBe(
        `repo: "${given}" differs from the value registered for production ("${registered}"); omit repo or use the registered value`,
      );
    });

    test('a toBranch equal to the fromBranch in the registry is refused too', async () => {
      const config = await registryConfig({ fromBranch: 'prod', toBranch: 'prod' });
      const err = await failureOf(planPromotion(config, minimal()));
      expect(err.message).toBe('toBranch: must differ from fromBranch ("prod")');
    });

    test('an environment the registry does not have is refused, listing the registered ones', async () => {
      const config = await registryConfig(
        {},
        { canary: { repo: repo.bare, stagingBase: STAGING, productionBase: PRODUCTION } },
      );
      const err = await failureOf(planPromotion(config, minimal({ environment: 'staging-eu' })));
      expect(err.type).toBe('InvalidPromotionRequest');
      expect(err.message).toBe(
        'environment: "staging-eu" is not registered on this worker (registered: production, canary); ask the platform owner to add it to ENVIRONMENTS_CONFIG',
      );
    });

    test('an empty registry says none is registered', async () => {
      const { config } = await configWith({ environments: {} });
      const err = await failureOf(planPromotion(config, full()));
      expect(err.message).toBe(
        'environment: "production" is not registered on this worker (registered: none); ask the platform owner to add it to ENVIRONMENTS_CONFIG',
      );
    });
  });

  describe('optionalGates', () => {
    test('a name the catalog does not have is refused, listing only the optional gates', async () => {
      const { config } = await configWith();
      const err = await failureOf(planPromotion(config, full({ optionalGates: ['smoke_x'] })));
      expect(err.type).toBe('InvalidPromotionRequest');
      expect(err.message).toBe(
        'optionalGates: "smoke_x" is not in the worker\'s gate catalog; known optional gates: release_drills_subset, certify_phase15_subset, breaker_drill',
      );
    });

    test('a required gate is refused: it always runs', async () => {
      const { config } = await configWith();
      const err = await failureOf(planPromotion(config, full({ optionalGates: ['health'] })));
      expect(err.message).toBe('optionalGates: "health" always runs in staging; remove it from optionalGates');
    });

    test('a command gate without a command on this worker is refused, saying where to set it', async () => {
      const { config } = await configWith();
      const err = await failureOf(planPromotion(config, full({ optionalGates: ['breaker_drill'] })));
      expect(err.message).toBe(
        'optionalGates: "breaker_drill" has no command on this worker; set gates.breaker_drill.command in the worker\'s GATES_CONFIG',
      );
    });

    test('a command gate with a command and an optional http gate run after the required gates, in catalog order', async () => {
      const { config } = await configWith({
        gates: {
          gates: {
            smoke: { request: { path: '/smoke' }, expect: { status: 200 } },
            breaker_drill: { command: ['true'] },
          },
        },
      });
      const plan = await planPromotion(config, full({ optionalGates: ['smoke', 'breaker_drill'] }));
      expect(plan.optionalGates).toEqual(['smoke', 'breaker_drill']);
      expect(plan.stagingGates).toEqual([...REQUIRED_GATES, 'breaker_drill', 'smoke']);
    });
  });

  describe('approval policy: the stricter of registry and request', () => {
    test.each([
      ['class A asking for nothing', false, { changeClass: 'A' }],
      ['class A with approval.required', true, { changeClass: 'A', approval: { required: true } }],
      ['class B', true, { changeClass: 'B' }],
    ] as const)('without a registry, %s: required is %s', async (_, required, over) => {
      const { config } = await configWith();
      expect((await planPromotion(config, full(over))).approval.required).toBe(required);
    });

    test.each([
      ['A', ['A'], true],
      ['A', ['B'], false],
      ['B', [], true],
    ] as const)(
      'class %s under a registry requiring classes %j: required is %s',
      async (changeClass, classes, required) => {
        const config = await registryConfig({ approval: { classes } });
        expect((await planPromotion(config, minimal({ changeClass }))).approval.required).toBe(required);
      },
    );

    test("without a registry the request's approvers and minimum are the policy", async () => {
      const { config } = await configWith();
      const plan = await planPromotion(config, full({ approval: { approvers: ['bob', 'carol'], minApprovals: 2 } }));
      expect(plan.approval).toEqual({
        required: false,
        approvers: ['bob', 'carol'],
        minApprovals: 2,
        timeoutMs: DAY_MS,
      });
    });

    test("the registry's approvers apply when the request names none", async () => {
      const config = await registryConfig({ approval: { approvers: ['bob', 'carol'] } });
      const plan = await planPromotion(config, minimal({ changeClass: 'B' }));
      expect(plan.approval).toEqual({
        required: true,
        approvers: ['bob', 'carol'],
        minApprovals: 1,
        timeoutMs: DAY_MS,
      });
    });

    test('a request narrows the registered approvers to those in both lists, in the registry order', async () => {
      const config = await registryConfig({ approval: { approvers: ['bob', 'carol', 'dave'] } });
      const plan = await planPromotion(config, minimal({ approval: { approvers: ['dave', 'zed', 'bob'] } }));
      expect(plan.approval.approvers).toEqual(['bob', 'dave']);
    });

    test('a request whose approvers are all outside the registered ones is refused naming both lists', async () => {
      const config = await registryConfig({ approval: { approvers: ['bob', 'carol'] } });
      const err = await failureOf(planPromotion(config, minimal({ approval: { approvers: ['zed', 'yan'] } })));
      expect(err.type).toBe('InvalidPromotionRequest');
      expect(err.message).toBe(
        'approval.approvers: none of zed, yan may approve in production (registered: bob, carol)',
      );
    });

    test.each([
      [2, 1, 2],
      [1, 3, 3],
    ])('a request minimum of %s under a registered minimum of %s needs %s', async (requested, registered, needed) => {
      const config = await registryConfig({
        approval: { approvers: ['bob', 'carol', 'dave'], minApprovals: registered },
      });
      const plan = await planPromotion(config, minimal({ changeClass: 'B', approval: { minApprovals: requested } }));
      expect(plan.approval.minApprovals).toBe(needed);
    });

    test('exactly as many approvers besides the operator as the minimum is enough', async () => {
      const { config } = await configWith();
      const plan = await planPromotion(
        config,
        full({ changeClass: 'B', approval: { approvers: ['alice', 'bob', 'carol'], minApprovals: 2 } }),
      );
      expect(plan.approval).toMatchObject({ required: true, approvers: ['alice', 'bob', 'carol'], minApprovals: 2 });
    });

    test.each([
      [['alice', 'bob', 'carol'], 3, 'bob, carol'],
      [['alice'], 1, 'nobody'],
    ])(
      'approvers %j cannot reach a minimum of %s without the operator: refused naming who could approve',
      async (approvers, minApprovals, who) => {
        const { config } = await configWith();
        const err = await failureOf(
          planPromotion(config, full({ changeClass: 'B', approval: { approvers, minApprovals } })),
        );
        expect(err.type).toBe('InvalidPromotionRequest');
        expect(err.message).toBe(
          `approval.minApprovals: ${minApprovals} approvals needed but only ${who} besides the operator may approve; fix the approvers or the minimum`,
        );
      },
    );

    test('an unreachable minimum is refused when the registry requires approval and sets the minimum', async () => {
      const config = await registryConfig({
        approval: { classes: ['A'], approvers: ['alice', 'bob'], minApprovals: 2 },
      });
      const err = await failureOf(planPromotion(config, minimal()));
      expect(err.message).toContain('approval.minApprovals: 2 approvals needed but only bob besides the operator');
    });

    test('an unreachable minimum is no matter when no approval is required', async () => {
      const { config } = await configWith();
      const plan = await planPromotion(config, full({ approval: { approvers: ['alice'], minApprovals: 2 } }));
      expect(plan.approval).toMatchObject({ required: false, approvers: ['alice'], minApprovals: 2 });
    });

    test('with no approvers named anywhere, anyone but the operator may approve, whatever the minimum', async () => {
      const { config } = await configWith();
      const plan = await planPromotion(config, full({ changeClass: 'B', approval: { minApprovals: 3 } }));
      expect(plan.approval).toEqual({ required: true, approvers: undefined, minApprovals: 3, timeoutMs: DAY_MS });
    });
  });

  describe('the rules as data (plan-rules.ts: the worker throws the first problem, the CLI words them all)', () => {
    test('without a registry every missing setting is a problem of its own, in field order, and nothing settles', async () => {
      const { config } = await configWith();
      const request = full({ repo: undefined, stagingBase: undefined, productionBase: undefined });
      const { value, problems } = promotionSettings(config, request);
      expect(value).toBeUndefined();
      expect(problems.map((p) => [p.rule, p.field])).toEqual([
        ['required', 'repo'],
        ['required', 'stagingBase'],
        ['required', 'productionBase'],
      ]);
      // The worker names the first.
      const err = await failureOf(planPromotion(config, request));
      expect(err.message).toMatch(/^repo: is required /);
    });

    test('a registered value the request contradicts carries both values, the deploy wait in the plan’s form', async () => {
      const wait = { path: '/version', field: 'commit', timeout: '30s' };
      const config = await registryConfig({ deployWait: wait });
      const { value, problems } = promotionSettings(
        config,
        minimal({ toBranch: 'prod', deployWait: { ...wait, timeout: '1m' } }),
      );
      expect(value).toBeUndefined();
      expect(problems).toEqual([
        expect.objectContaining({
          rule: 'differs',
          field: 'toBranch',
          environment: 'production',
          given: 'prod',
          registered: 'release',
        }),
        expect.objectContaining({
          rule: 'differs',
          field: 'deployWait',
          environment: 'production',
          given: { path: '/version', field: 'commit', timeoutMs: 60_000 },
          registered: { path: '/version', field: 'commit', timeoutMs: 30_000 },
        }),
      ]);
    });

    test('the staging deploy wait is the registry’s, with its acceptDescendant; a request may only repeat it', async () => {
      const wait = { path: '/health', field: 'version', timeout: '2m' };
      const config = await registryConfig({ stagingDeployWait: { ...wait, acceptDescendant: true } });
      expect(promotionSettings(config, minimal()).value?.stagingDeployWait).toEqual({
        path: '/health',
        field: 'version',
        timeoutMs: 120_000,
        acceptDescendant: true,
      });
      expect(promotionSettings(config, minimal({ stagingDeployWait: wait })).problems).toEqual([]);
      expect(promotionSettings(config, minimal({ stagingDeployWait: { ...wait, path: '/version' } })).problems).toEqual(
        [expect.objectContaining({ rule: 'differs', field: 'stagingDeployWait', registered: expect.anything() })],
      );
      // Without a registry the request's own, and never a descendant.
      const { config: bare } = await configWith();
      expect(
        promotionSettings(bare, full({ stagingDeployWait: wait })).value?.stagingDeployWait?.acceptDescendant,
      ).toBe(false);
      expect(promotionSettings(bare, full()).value?.stagingDeployWait).toBeUndefined();
    });

    test.each([
      ['none anywhere', {}, {}, undefined],
      ['the request alone, default interval 1m', {}, { soak: '10m' }, { durationMs: 600_000, intervalMs: 60_000 }],
      ['the registry alone', { soak: '5m', soakInterval: '30s' }, {}, { durationMs: 300_000, intervalMs: 30_000 }],
      [
        'both: the longer soak and the shorter interval',
        { soak: '5m', soakInterval: '2m' },
        { soak: '1m', soakInterval: '30s' },
        { durationMs: 300_000, intervalMs: 30_000 },
      ],
      [
        'a request that soaks longer than the registry',
        { soak: '5m' },
        { soak: '1h', soakInterval: '10m' },
        { durationMs: 3_600_000, intervalMs: 600_000 },
      ],
    ])('soak, the stricter of registry and request: %s', async (_, registered, asked, expected) => {
      const config = await registryConfig(registered);
      expect(promotionSettings(config, minimal(asked)).value?.soak).toEqual(expected);
    });

    test("the repo is compared by the caller's comparator: false refuses, true and undefined (cannot tell) let it pass", async () => {
      const config = await registryConfig();
      const request = minimal({ repo: '/somewhere/else.git' });
      expect(promotionSettings(config, request, () => false).problems).toEqual([
        expect.objectContaining({
          rule: 'differs',
          field: 'repo',
          given: '/somewhere/else.git',
          registered: repo.bare,
        }),
      ]);
      for (const answer of [true, undefined]) {
        const { value, problems } = promotionSettings(config, request, () => answer);
        expect(problems).toEqual([]);
        // What settles is the registry's own text.
        expect(value?.repo).toBe(repo.bare);
      }
      // By default, as text.
      expect(promotionSettings(config, request).problems).toHaveLength(1);
      expect(promotionSettings(config, minimal({ repo: repo.bare })).problems).toEqual([]);
    });

    test('an environment the registry does not have is the only problem, with the registered names', async () => {
      const config = await registryConfig();
      const { value, problems } = promotionSettings(config, minimal({ environment: 'canary', toBranch: 'prod' }));
      expect(value).toBeUndefined();
      expect(problems).toEqual([
        expect.objectContaining({
          rule: 'unregistered',
          field: 'environment',
          environment: 'canary',
          registered: ['production'],
        }),
      ]);
    });

    test.each([
      ['a release branch at the default source branch', { toBranch: 'main' }, 'main'],
      ['a source branch at the default release branch', { fromBranch: 'release' }, 'release'],
    ] as const)('without a registry, %s is a sameBranches problem about toBranch', async (_, over, branch) => {
      const { config } = await configWith();
      expect(branchProblems(config, full(over))).toEqual([
        expect.objectContaining({ rule: 'sameBranches', field: 'toBranch', branch, fromRegistry: false }),
      ]);
      expect(branchProblems(config, full())).toEqual([]);
    });

    test("with a registry the registry's branches are judged, whatever the request gives", async () => {
      const same = await registryConfig({ fromBranch: 'prod', toBranch: 'prod' });
      expect(branchProblems(same, minimal({ toBranch: 'other' }))).toEqual([
        expect.objectContaining({ rule: 'sameBranches', field: 'toBranch', branch: 'prod', fromRegistry: true }),
      ]);
      expect(branchProblems(await registryConfig(), minimal({ toBranch: 'main' }))).toEqual([]);
    });

    test('every optional gate that cannot run is a problem of its own, by its index in the request', async () => {
      const { config } = await configWith({
        gates: { gates: { smoke: { request: { path: '/smoke' }, expect: { status: 200 } } } },
      });
      const problems = gateProblems(config, full({ optionalGates: ['smoke', 'nope', 'health', 'breaker_drill'] }));
      expect(problems).toEqual([
        expect.objectContaining({
          rule: 'unknownGate',
          field: 'optionalGates',
          index: 1,
          gate: 'nope',
          known: ['release_drills_subset', 'certify_phase15_subset', 'breaker_drill', 'smoke'],
        }),
        expect.objectContaining({ rule: 'requiredGate', field: 'optionalGates', index: 2, gate: 'health' }),
        expect.objectContaining({
          rule: 'gateWithoutCommand',
          field: 'optionalGates',
          index: 3,
          gate: 'breaker_drill',
        }),
      ]);
      expect(gateProblems(config, full({ optionalGates: ['smoke'] }))).toEqual([]);
    });

    test('approvers outside the registered ones carry both lists', async () => {
      const config = await registryConfig({ approval: { approvers: ['bob', 'carol'] } });
      expect(approvalPolicy(config, minimal({ approval: { approvers: ['zed'] } }))).toEqual({
        value: undefined,
        problems: [
          expect.objectContaining({
            rule: 'approversOutside',
            field: 'approval.approvers',
            environment: 'production',
            asked: ['zed'],
            registered: ['bob', 'carol'],
          }),
        ],
      });
    });

    test('an unreachable minimum carries the minimum, who else may approve, and the registered approvers if any', async () => {
      const config = await registryConfig({ approval: { approvers: ['alice', 'bob'], minApprovals: 2 } });
      expect(approvalPolicy(config, minimal({ changeClass: 'B' })).problems).toEqual([
        expect.objectContaining({
          rule: 'unreachableMinimum',
          field: 'approval.minApprovals',
          environment: 'production',
          needed: 2,
          others: ['bob'],
          registered: ['alice', 'bob'],
        }),
      ]);
      const { config: bare } = await configWith();
      expect(
        approvalPolicy(bare, full({ changeClass: 'B', approval: { approvers: ['alice'], minApprovals: 1 } })).problems,
      ).toEqual([expect.objectContaining({ needed: 1, others: [], registered: undefined })]);
    });
  });

  describe('planRollback', () => {
    test('without a registry the request gives repo and productionBase; toBranch defaults to release; the rest is carried', async () => {
      const { config } = await configWith();
      const plan = await planRollback(
        config,
        rollbackRequest({
          repo: `file://${repo.bare}`,
          productionBase: PRODUCTION,
          promotionReleaseId: '20261201-1000-rc1',
          releaseId: '20261201-1010-rb1',
        }),
      );
      expect(plan).toStrictEqual({
        environment: 'production',
        repo: canonical,
        toBranch: 'release',
        productionBase: PRODUCTION,
        fromSha: 'b'.repeat(40),
        toSha: repo.base,
        trigger: '5xx spike',
        operator: 'alice',
        promotionReleaseId: '20261201-1000-rc1',
        releaseId: '20261201-1010-rb1',
      });
    });

    test('without a registry a toBranch the request gives is used', async () => {
      const { config } = await configWith();
      const plan = await planRollback(
        config,
        rollbackRequest({ repo: repo.bare, productionBase: PRODUCTION, toBranch: 'prod' }),
      );
      expect(plan.toBranch).toBe('prod');
    });

    test.each(['repo', 'productionBase'] as const)(
      'without a registry a rollback without %s is refused naming the field',
      async (field) => {
        const { config } = await configWith();
        const given = { repo: repo.bare, productionBase: PRODUCTION, [field]: undefined };
        const err = await failureOf(planRollback(config, rollbackRequest(given)));
        expect(err.type).toBe('InvalidRollbackRequest');
        expect(err.nonRetryable).toBe(true);
        expect(err.message).toBe(
          `${field}: is required (the worker has no environment registry to take it from); add "${field}" to the rollback request`,
        );
      },
    );

    test('a repo that does not exist is an InvalidRollbackRequest about repo', async () => {
      const { config } = await configWith();
      const missing = path.join(tmp, 'missing.git');
      const err = await failureOf(planRollback(config, rollbackRequest({ repo: missing, productionBase: PRODUCTION })));
      expect(err.type).toBe('InvalidRollbackRequest');
      expect(err.message).toBe(`repo: ${missing} does not exist on the worker; check the path`);
    });

    test('with a registry the registered repo, branch and production base are used; the repo may be spelled another way', async () => {
      const config = await registryConfig({ toBranch: 'prod' });
      expect(await planRollback(config, rollbackRequest())).toMatchObject({
        repo: canonical,
        toBranch: 'prod',
        productionBase: PRODUCTION,
      });
      expect(
        await planRollback(
          config,
          rollbackRequest({ repo: `file://${repo.bare}`, toBranch: 'prod', productionBase: PRODUCTION }),
        ),
      ).toMatchObject({ repo: canonical, toBranch: 'prod', productionBase: PRODUCTION });
    });

    test.each([
      ['repo', { repo: '/srv/elsewhere.git' }, '"/srv/elsewhere.git"', 'REPO'],
      ['toBranch', { toBranch: 'release' }, '"release"', '"prod"'],
      ['productionBase', { productionBase: 'http://127.0.0.1:9998' }, '"http://127.0.0.1:9998"', `"${PRODUCTION}"`],
    ] as const)(
      'with a registry a %s that differs is an InvalidRollbackRequest naming the field',
      async (field, given, givenText, registeredText) => {
        const config = await registryConfig({ toBranch: 'prod' });
        const err = await failureOf(planRollback(config, rollbackRequest(given)));
        expect(err.type).toBe('InvalidRollbackRequest');
        const registered = registeredText === 'REPO' ? JSON.stringify(repo.bare) : registeredText;
        expect(err.message).toBe(
          `${field}: ${givenText} differs from the value registered for production (${registered}); omit ${field} or use the registered value`,
        );
      },
    );

    test('an environment the registry does not have is an InvalidRollbackRequest naming it', async () => {
      const config = await registryConfig();
      const err = await failureOf(planRollback(config, rollbackRequest({ environment: 'canary' })));
      expect(err.type).toBe('InvalidRollbackRequest');
      expect(err.message).toBe(
        'environment: "canary" is not registered on this worker (registered: production); ask the platform owner to add it to ENVIRONMENTS_CONFIG',
      );
    });
  });

  describe('probeHeaders', () => {
    const SECRETS = { GATE_AUTH: 'Bearer s3cr3t', GATE_TENANT: 'acme' };
    const withHeaders = () =>
      configWith({
        environments: {
          production: {
            repo: repo.bare,
            stagingBase: STAGING,
            productionBase: PRODUCTION,
            headersFromEnv: { Authorization: 'GATE_AUTH', 'X-Tenant': 'GATE_TENANT' },
          },
        },
        env: { ...SECRETS },
      });

    test.each([
      ['staging', STAGING],
      ['production', PRODUCTION],
    ])("the registered %s base gets the registry's headers, read from the worker's environment", async (_, base) => {
      const { config } = await withHeaders();
      expect(probeHeaders(config, 'production', base)).toStrictEqual({
        Authorization: 'Bearer s3cr3t',
        'X-Tenant': 'acme',
      });
    });

    test('a secret unset after the worker started is left out, not sent empty', async () => {
      const { config, env } = await withHeaders();
      env.GATE_TENANT = '';
      expect(probeHeaders(config, 'production', STAGING)).toStrictEqual({ Authorization: 'Bearer s3cr3t' });
    });

    test('any other base, an unregistered environment or no registry gets no headers', async () => {
      const { config } = await withHeaders();
      expect(probeHeaders(config, 'production', 'http://127.0.0.1:9999')).toStrictEqual({});
      expect(probeHeaders(config, 'canary', STAGING)).toStrictEqual({});
      const { config: bare } = await configWith({ env: { ...SECRETS } });
      expect(probeHeaders(bare, 'production', STAGING)).toStrictEqual({});
    });
  });
});

describe('the promote step: the corners promote.test.ts and git.test.ts leave open', () => {
  let tmp: string;
  let cacheDir: string;
  let ledgerPath: string;
  let repo: SampleRepo;

  beforeEach(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'plan-promote-test-'));
    cacheDir = path.join(tmp, 'git-cache');
    ledgerPath = path.join(tmp, 'RELEASE_LOG.md');
    repo = await createSampleRepo(path.join(tmp, 'remote'));
  });

  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  const move = (over: Partial<Parameters<typeof moveBranch>[1]>) =>
    moveBranch(cacheDir, {
      repo: repo.bare,
      branch: 'release',
      expectedTip: repo.base,
      targetSha: repo.base,
      sourceBranch: 'main',
      allowDowngrade: false,
      ...over,
    });

  const args = (targetSha: string, over: Partial<PromoteArgs> = {}): PromoteArgs => ({
    repo: repo.bare,
    branch: 'release',
    environment: 'production',
    targetSha,
    sourceBranch: 'main',
    allowDowngrade: false,
    acceptDrift: false,
    ...over,
  });

  async function recordTip(tip: string): Promise<void> {
    await appendLedgerEntry(
      ledgerPath,
      promotion('20261125-0100-rc1', 'wf-rc1', { commitSha: tip, repo: repo.bare }),
      async () => tip,
    );
  }

  /** The cache clone as resolving the commit leaves it (planning does this before the promote step). */
  const warmCache = (sha: string) => resolveCommit(cacheDir, { repo: repo.bare, fromBranch: 'main', commitSha: sha });

  const deleteRelease = () => git(['--git-dir', repo.bare, 'update-ref', '-d', 'refs/heads/release']);

  describe('moveBranch', () => {
    test('a branch already on the target pushes nothing: git reports it up to date', async () => {
      const reflogBefore = await repo.reflog('release');
      await expect(move({ expectedTip: repo.base, targetSha: repo.base })).resolves.toEqual({
        pushed: false,
        downgrade: false,
      });
      expect(await repo.reflog('release')).toEqual(reflogBefore);
    });

    test('with no expected tip a branch that does not exist is created from a commit the cache holds, no downgrade', async () => {
      const next = await repo.commit('next');
      await warmCache(next);
      await expect(move({ branch: 'hotfix', expectedTip: null, targetSha: next })).resolves.toEqual({
        pushed: true,
        downgrade: false,
      });
      expect(await repo.tip('hotfix')).toBe(next);
    });

    test('with no expected tip and a cold cache the branches are fetched first, and a missing one is named by its field', async () => {
      const next = await repo.commit('next');
      const toBranch = await failureOf(move({ branch: 'hotfix', expectedTip: null, targetSha: next }));
      expect(toBranch.type).toBe('InvalidPromotionRequest');
      expect(toBranch.message).toMatch(/^toBranch: branch "hotfix" does not exist in /);
      const fromBranch = await failureOf(move({ expectedTip: null, targetSha: next, sourceBranch: 'nope' }));
      expect(fromBranch.message).toMatch(/^fromBranch: branch "nope" does not exist in /);
    });

    test('with no expected tip a branch that exists is not overwritten: ReleaseBranchMoved from (none)', async () => {
      const next = await repo.commit('next');
      const err = await failureOf(move({ expectedTip: null, targetSha: next }));
      expect(err.type).toBe('ReleaseBranchMoved');
      expect(err.message).toBe(
        `release moved from (none) to ${repo.base} while this promotion ran; nothing was overwritten. Check who moved it, then start a new promotion`,
      );
      expect(await repo.tip('release')).toBe(repo.base);
    });

    test('a branch deleted before the push is ReleaseBranchMoved to (deleted), and is not recreated', async () => {
      const next = await repo.commit('next');
      await warmCache(next);
      await deleteRelease();
      const err = await failureOf(move({ expectedTip: repo.base, targetSha: next }));
      expect(err.type).toBe('ReleaseBranchMoved');
      expect(err.message).toBe(
        `release moved from ${repo.base} to (deleted) while this promotion ran; nothing was overwritten. Check who moved it, then start a new promotion`,
      );
      expect(await repo.tip('release')).toBeNull();
    });

    test('a push the remote refuses while the branch stays on the expected tip is a retryable git failure, not ReleaseBranchMoved', async () => {
      const next = await repo.commit('next');
      const hook = path.join(repo.bare, 'hooks', 'pre-receive');
      await writeFile(hook, '#!/bin/sh\necho "pushes are frozen" >&2\nexit 1\n');
      await chmod(hook, 0o755);
      const err = await failureOf(move({ expectedTip: repo.base, targetSha: next }));
      expect(err.type).toBe('RepoUnreachable');
      expect(err.nonRetryable).toBe(false);
      expect(await repo.tip('release')).toBe(repo.base);
    });

    test('a push that fails with the branch already on the target (an earlier attempt landed, its answer was lost) is success without a push', async () => {
      const next = await repo.commit('next');
      // The remote moves the branch to the target itself, then refuses this push: what a retry
      // sees when the first attempt's push landed but its answer never came back.
      const hook = path.join(repo.bare, 'hooks', 'pre-receive');
      await writeFile(
        hook,
        [
          '#!/bin/sh',
          'unset GIT_DIR GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES',
          `git --git-dir='${repo.bare}' update-ref -m 'landed by an earlier attempt' refs/heads/release ${next}`,
          'exit 1',
          '',
        ].join('\n'),
      );
      await chmod(hook, 0o755);
      await expect(move({ expectedTip: repo.base, targetSha: next })).resolves.toEqual({
        pushed: false,
        downgrade: false,
      });
      expect(await repo.tip('release')).toBe(next);
    });

    test('the downgrade refusal names the target, the branch and its tip, and how to do it on purpose', async () => {
      const older = await repo.commit('older');
      const newer = await repo.commit('newer');
      await repo.forcePush('release', newer);
      const err = await failureOf(move({ expectedTip: newer, targetSha: older }));
      expect(err.type).toBe('DowngradeRefused');
      expect(err.nonRetryable).toBe(true);
      expect(err.message).toBe(
        `${older} is not a descendant of release's tip ${newer}; moving there would drop commits. Set allowDowngrade: true to do it on purpose`,
      );
    });

    test('a retry of a downgrade that landed pushes nothing and still says it was a downgrade', async () => {
      const older = await repo.commit('older');
      const newer = await repo.commit('newer');
      await repo.forcePush('release', newer);
      const downgrade = { expectedTip: newer, targetSha: older, allowDowngrade: true };
      await expect(move(downgrade)).resolves.toEqual({ pushed: true, downgrade: true });
      const reflogBefore = await repo.reflog('release');
      await expect(move(downgrade)).resolves.toEqual({ pushed: false, downgrade: true });
      expect(await repo.reflog('release')).toEqual(reflogBefore);
    });

    test('a target the remote does not have either is a retryable failure naming both commits', async () => {
      const missing = 'f'.repeat(40);
      const err = await failureOf(move({ expectedTip: repo.base, targetSha: missing }));
      expect(err.type).toBe('RepoUnreachable');
      expect(err.nonRetryable).toBe(false);
      expect(err.message).toContain(`git merge-base: ${repo.base} or ${missing} is not in ${repo.bare}`);
      expect(await repo.tip('release')).toBe(repo.base);
    });
  });

  describe('promoteCommit', () => {
    const promote = (a: PromoteArgs) =>
      promoteAsTheWorkflowDoes((call) => promoteCommit(fileLedger(ledgerPath), cacheDir, call), a);
    test('with nothing recorded, a downgrade from the remote tip is DowngradeRefused carrying that tip', async () => {
      const current = await repo.commit('current');
      await repo.forcePush('release', current);
      const err = await failureOf(promote(args(repo.base)));
      expect(err.type).toBe('DowngradeRefused');
      expect(err.nonRetryable).toBe(true);
      expect(err.message).toContain('allowDowngrade: true');
      expect(err.details).toEqual([{ lastKnownGood: current }]);
    });

    test('with accepted drift, a downgrade from the tip found is DowngradeRefused carrying the found tip', async () => {
      const recorded = await repo.commit('recorded');
      await recordTip(recorded);
      const byHand = await repo.commit('hotfix pushed by hand');
      await repo.forcePush('release', byHand);
      // A descendant of the recorded tip, but not of the drifted one.
      const err = await failureOf(promote(args(recorded, { acceptDrift: true })));
      expect(err.type).toBe('DowngradeRefused');
      expect(err.details?.[0]).toMatchObject({ lastKnownGood: byHand });
      expect(await repo.tip('release')).toBe(byHand);
    });

    test.each([
      ['a recorded tip', true],
      ['nothing recorded', false],
    ])('with %s, a git failure that is no refusal passes through as it is (retryable, no details)', async (_, rec) => {
      if (rec) await recordTip(repo.base);
      const err = await failureOf(promote(args('f'.repeat(40))));
      expect(err.type).toBe('RepoUnreachable');
      expect(err.nonRetryable).toBe(false);
      expect(err.details ?? []).toEqual([]);
    });

    test('a branch deleted since the recorded entry is drift to (missing), with no last known good', async () => {
      await recordTip(repo.base);
      const next = await repo.commit('next');
      await warmCache(next);
      await deleteRelease();
      const err = await failureOf(promote(args(next)));
      expect(err.type).toBe('ReleaseBranchDrifted');
      expect(err.message).toBe(
        `release is at (missing) but the ledger's last entry for production (20261125-0100-rc1) left it at ${repo.base}. Find out who moved it; to promote anyway, start again with acceptDrift: true (recorded in the ledger)`,
      );
      expect(err.details).toEqual([
        { lastKnownGood: null, drift: { expected: repo.base, found: null, accepted: false } },
      ]);
      expect(await repo.tip('release')).toBeNull();
    });

    test('accepted drift to a deleted branch recreates it, with no previous tip to restore', async () => {
      await recordTip(repo.base);
      const next = await repo.commit('next');
      await warmCache(next);
      await deleteRelease();
      const result = await promote(args(next, { acceptDrift: true }));
      expect(result).toEqual({
        lastKnownGood: null,
        pushed: true,
        downgrade: false,
        drift: { expected: repo.base, found: null, accepted: true },
      });
      expect(await repo.tip('release')).toBe(next);
    });
  });
});
