// `release-promoter start` as a user runs it (a real process, real exit codes, the shared dev
// server and a real worker): every request field has a flag that reaches the workflow's input,
// `--request file.json` gives a whole request with flags over it, and whatever the CLI can refuse
// from the command line and the config alone it refuses with exit 2, naming the flag (or the
// file's field), before any workflow exists.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { defaultPayloadConverter, Payload } from '@temporalio/common';
import { z } from 'zod';
import { REQUEST_FLAGS } from '../src/cli/start-request';
import { PromotionRequest } from '../src/domain';
import { freeLoopbackPort } from '../src/free-port';
import { harnessCliEnv } from './cli-harness';
import { buildDist, CliRun, runCli } from './cli-process';
import { createHarness, Harness, uniqueId } from './helpers';

let h: Harness;
let tmp: string;
let gatesFile: string;
let registryFile: string;

beforeAll(async () => {
  buildDist();
  tmp = await mkdtemp(path.join(os.tmpdir(), 'release-promoter-cli-start-'));
  // breaker_drill is a built-in optional command gate; with a command the worker (and the CLI,
  // reading the same file) accept it in --optional-gates.
  gatesFile = path.join(tmp, 'gates.json');
  await writeFile(gatesFile, JSON.stringify({ gates: { breaker_drill: { command: ['node', '-e', '0'] } } }));
  h = await createHarness({ env: { GATES_CONFIG: gatesFile } });
  registryFile = path.join(tmp, 'environments.json');
  await writeFile(
    registryFile,
    JSON.stringify({
      environments: {
        production: {
          repo: h.repo.bare,
          stagingBase: h.staging.url,
          productionBase: h.production.url,
          approval: { classes: ['B'], approvers: ['bob', 'carol'], minApprovals: 1 },
          breakGlassApprovers: ['bob', 'carol'],
        },
      },
    }),
  );
});
afterAll(async () => {
  await h?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** The CLI's environment on the harness, as zed, with the gate catalog the worker has and no registry unless a test sets one. */
function cliEnv(overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return harnessCliEnv(h, {
    GATES_CONFIG: gatesFile,
    GIT_CACHE_DIR: path.join(tmp, 'cli-git-cache'),
    RELEASE_PROMOTER_IDENTITY: 'zed',
    ...overrides,
  });
}

function start(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return runCli(['start', ...args], cliEnv(env));
}

/** The input the workflow was started with, read back from its first history event. */
async function startedInput(workflowId: string): Promise<unknown> {
  const history = await h.env.client.workflow.getHandle(workflowId).fetchHistory();
  const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!payload) throw new Error(`${workflowId} has no start input in its history`);
  return defaultPayloadConverter.fromPayload(payload as Payload);
}

async function terminate(workflowId: string): Promise<void> {
  await h.env.client.workflow
    .getHandle(workflowId)
    .terminate('cli-start test done')
    .catch(() => undefined);
}

/** No workflow with this id exists on the server (describe is read from the execution, not visibility). */
async function expectNotStarted(workflowId: string): Promise<void> {
  await expect(h.env.client.workflow.getHandle(workflowId).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
}

/** The dotted leaf fields of a zod object schema (nested objects by their fields). */
function schemaFields(schema: z.ZodType, prefix = ''): string[] {
  let inner = schema as unknown as { def: { type: string; innerType?: z.ZodType; in?: z.ZodType }; shape?: object };
  while (inner.def.innerType || inner.def.type === 'pipe')
    inner = (inner.def.innerType ?? inner.def.in) as unknown as typeof inner;
  if (inner.def.type !== 'object') return [prefix];
  return Object.entries(inner.shape as Record<string, z.ZodType>).flatMap(([key, field]) =>
    schemaFields(field, prefix ? `${prefix}.${key}` : key),
  );
}

/** The dotted leaf fields of a JSON object (arrays are leaves). */
function jsonFields(value: object, prefix = ''): string[] {
  return Object.entries(value).flatMap(([key, v]) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? jsonFields(v as object, `${prefix}${key}.`)
      : [`${prefix}${key}`],
  );
}

test('the flag table has exactly one flag per field of the promotion request schema', () => {
  const fields = REQUEST_FLAGS.map((f) => f.field);
  expect([...fields].sort()).toEqual(schemaFields(PromotionRequest).sort());
  expect(new Set(REQUEST_FLAGS.map((f) => f.flag)).size).toBe(REQUEST_FLAGS.length);
});

test('start with every flag starts the workflow with every field, typed as the schema wants', async () => {
  const sha = await h.repo.commit('feature: every flag');
  const workflowId = uniqueId('cli-start-all');
  const expected = {
    commitSha: sha.slice(0, 12),
    changeClass: 'A',
    operator: 'alice',
    environment: 'production',
    repo: h.repo.bare,
    fromBranch: 'main',
    toBranch: 'release',
    stagingBase: h.staging.url,
    productionBase: h.production.url,
    deployWait: { path: '/health', field: 'version', timeout: '5m' },
    stagingDeployWait: { path: '/health', field: 'version', timeout: '10m' },
    soak: '30m',
    soakInterval: '2m',
    optionalGates: ['breaker_drill'],
    expectBudgetBlock: true,
    approval: { required: true, approvers: ['bob', 'carol'], minApprovals: 2, timeout: '2h' },
    acceptDrift: true,
    allowDowngrade: true,
    releaseId: '20261124-2231-rc7',
    dryRun: false,
    notes: 'all the flags',
    rollbackPlan: 'push the previous tip back',
    evidenceRefs: 'TICKET-1,https://ci.example.com/run/9',
  };
  // The test itself covers the schema: a field added without a flag here fails. --break-glass
  // needs a registry's break-glass approvers, so its own test below starts it.
  expect([...jsonFields(expected), 'breakGlass.reason'].sort()).toEqual(schemaFields(PromotionRequest).sort());
  try {
    const run = await start([
      '--commit',
      expected.commitSha,
      '--class',
      'A',
      '--operator',
      'alice',
      '--environment',
      'production',
      '--repo',
      h.repo.bare,
      '--from-branch',
      'main',
      '--to-branch',
      'release',
      '--staging-base',
      h.staging.url,
      '--production-base',
      h.production.url,
      '--deploy-wait-path',
      '/health',
      '--deploy-wait-field',
      'version',
      '--deploy-wait-timeout',
      '5m',
      '--staging-wait-path',
      '/health',
      '--staging-wait-field',
      'version',
      '--staging-wait-timeout',
      '10m',
      '--soak',
      '30m',
      '--soak-interval',
      '2m',
      '--optional-gates',
      'breaker_drill',
      '--expect-budget-block',
      '--approval-required',
      '--approvers',
      'bob, carol',
      '--min-approvals',
      '2',
      '--approval-timeout',
      '2h',
      '--accept-drift',
      '--allow-downgrade',
      '--release-id',
      expected.releaseId,
      '--no-dry-run',
      '--notes',
      expected.notes,
      '--rollback-plan',
      expected.rollbackPlan,
      '--evidence-refs',
      expected.evidenceRefs,
      '--workflow-id',
      workflowId,
      '--json',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    // The worker admitted it (so the input is valid to the workflow too), under the asked release id.
    expect(JSON.parse(run.stdout)).toMatchObject({ workflowId, releaseId: expected.releaseId });
    expect(await startedInput(workflowId)).toEqual(expected);
  } finally {
    await terminate(workflowId);
  }
});

test('start --request file.json starts the file’s request with the flags over its fields', async () => {
  const sha = await h.repo.commit('feature: from a request file');
  const workflowId = uniqueId('cli-start-file');
  const file = path.join(tmp, 'request.json');
  await writeFile(
    file,
    JSON.stringify({
      commitSha: sha,
      changeClass: 'B',
      operator: 'filer',
      repo: h.repo.bare,
      stagingBase: h.staging.url,
      productionBase: h.production.url,
      acceptDrift: true,
      approval: { required: true, approvers: ['bob'], timeout: '1h' },
      notes: 'from the file',
      rollbackPlan: 'from the file',
    }),
  );
  try {
    const run = await start([
      '--request',
      file,
      '--class',
      'A',
      '--notes',
      'from the flag',
      '--approval-timeout',
      '3h',
      '--no-accept-drift',
      '--workflow-id',
      workflowId,
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`started ${workflowId}`);
    // The file's operator is named in the file: it wins over RELEASE_PROMOTER_IDENTITY (zed).
    expect(await startedInput(workflowId)).toEqual({
      commitSha: sha,
      changeClass: 'A',
      operator: 'filer',
      repo: h.repo.bare,
      stagingBase: h.staging.url,
      productionBase: h.production.url,
      acceptDrift: false,
      approval: { required: true, approvers: ['bob'], timeout: '3h' },
      notes: 'from the flag',
      rollbackPlan: 'from the file',
    });
  } finally {
    await terminate(workflowId);
  }
});

describe('refused before anything starts (exit 2, the flag named, no workflow)', () => {
  const target = (): string[] => [
    '--repo',
    h.repo.bare,
    '--staging-base',
    h.staging.url,
    '--production-base',
    h.production.url,
  ];
  const cases: Array<[string, () => string[], NodeJS.ProcessEnv, RegExp[]]> = [
    [
      'a missing repo without a registry',
      () => [
        '--commit',
        'abc1234',
        '--class',
        'A',
        '--staging-base',
        h.staging.url,
        '--production-base',
        h.production.url,
      ],
      {},
      [/--repo: is required: ENVIRONMENTS_CONFIG is not set/, /pass --repo/],
    ],
    [
      'a --min-approvals that is not a number',
      () => ['--commit', 'abc1234', '--class', 'A', ...target(), '--min-approvals', 'abc'],
      {},
      [/option '--min-approvals <n>' argument 'abc' is invalid\. must be a whole number/],
    ],
    [
      'a --min-approvals out of the schema’s range',
      () => ['--commit', 'abc1234', '--class', 'A', ...target(), '--min-approvals', '21'],
      {},
      [/invalid promotion request: --min-approvals: /],
    ],
    [
      'class C',
      () => ['--commit', 'abc1234', '--class', 'C', ...target()],
      {},
      [/--class: class C changes may not be promoted/],
    ],
    [
      'a bad commit',
      () => ['--commit', 'not-a-sha', '--class', 'A', ...target()],
      {},
      [/--commit: must be 7–40 hexadecimal characters/],
    ],
    ['a missing --commit', () => ['--class', 'A', ...target()], {}, [/--commit: is required/]],
    [
      'a registered field overridden',
      () => ['--commit', 'abc1234', '--class', 'A', '--from-branch', 'develop'],
      { ENVIRONMENTS_CONFIG: 'registry' },
      [
        /--from-branch: "develop" differs from the value registered for production in ENVIRONMENTS_CONFIG \("main"\); omit --from-branch/,
      ],
    ],
    [
      'a registered repo spelled as another target',
      () => ['--commit', 'abc1234', '--class', 'A', '--repo', 'https://git.example.com/other.git'],
      { ENVIRONMENTS_CONFIG: 'registry' },
      [/--repo: "https:\/\/git\.example\.com\/other\.git" differs from the value registered for production/],
    ],
    [
      'an environment the registry does not register',
      () => ['--commit', 'abc1234', '--class', 'A', '--environment', 'canary', ...target()],
      { ENVIRONMENTS_CONFIG: 'registry' },
      [/--environment: "canary" is not registered in ENVIRONMENTS_CONFIG \(registered: production\)/],
    ],
    [
      'approvers the registry does not allow',
      () => ['--commit', 'abc1234', '--class', 'B', '--approvers', 'dave'],
      { ENVIRONMENTS_CONFIG: 'registry' },
      [/--approvers: none of dave may approve in production \(registered in ENVIRONMENTS_CONFIG: bob, carol\)/],
    ],
    [
      'a minimum the approvers cannot reach',
      () => ['--commit', 'abc1234', '--class', 'B', ...target(), '--approvers', 'bob,zed', '--min-approvals', '2'],
      {},
      [/--min-approvals: 2 approvals needed but only bob besides the operator \(zed\) may approve/],
    ],
    [
      'an optional gate the catalog does not have',
      () => ['--commit', 'abc1234', '--class', 'A', ...target(), '--optional-gates', 'breaker_drill,no_such_gate'],
      {},
      [/--optional-gates "no_such_gate": is not in GATES_CONFIG's gate catalog/],
    ],
    [
      'a to-branch equal to the default from-branch',
      () => ['--commit', 'abc1234', '--class', 'A', ...target(), '--to-branch', 'main'],
      {},
      [/--to-branch: must differ from the source branch \("main", the default of --from-branch\)/],
    ],
    [
      'a deploy wait with only some of its fields',
      () => ['--commit', 'abc1234', '--class', 'A', ...target(), '--deploy-wait-path', '/health'],
      {},
      [
        /--deploy-wait-field: is required with --deploy-wait-path/,
        /--deploy-wait-timeout: is required with --deploy-wait-path/,
      ],
    ],
  ];
  test.each(cases)('%s', async (_name, args, env, messages) => {
    const workflowId = uniqueId('cli-start-refused');
    const run = await start(
      [...args(), '--workflow-id', workflowId],
      env.ENVIRONMENTS_CONFIG === 'registry' ? { ...env, ENVIRONMENTS_CONFIG: registryFile } : env,
    );
    expect(run.code).toBe(2);
    for (const message of messages) expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe('');
    await expectNotStarted(workflowId);
  });

  test('a field from --request file.json is named as <file>: field, an unknown one too', async () => {
    const file = path.join(tmp, 'bad-request.json');
    await writeFile(
      file,
      JSON.stringify({
        commitSha: 'abc1234',
        changeClass: 'A',
        repo: h.repo.bare,
        stagingBase: h.staging.url,
        productionBase: h.production.url,
        approval: { minApprovals: 0 },
        deployWait: { path: '/health', field: 'version' },
        optionalGates: ['Bad Gate'],
        aproval: {},
      }),
    );
    const workflowId = uniqueId('cli-start-refused');
    const run = await start(['--request', file, '--workflow-id', workflowId]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${file}: approval.minApprovals: `);
    expect(run.stderr).toContain(`${file}: deployWait.timeout: is required`);
    expect(run.stderr).toContain(`${file}: optionalGates.0: must be gate names`);
    expect(run.stderr).toContain(`${file}: aproval: is not a known setting`);
    // No field the file gave is named by a flag the user did not type.
    expect(run.stderr).not.toContain('--min-approvals');
    expect(run.stderr).not.toContain('--optional-gates');
    await expectNotStarted(workflowId);
    // A flag over the bad field fixes it, and then names only what is still wrong.
    const fixed = await start(['--request', file, '--min-approvals', '1', '--workflow-id', workflowId]);
    expect(fixed.code).toBe(2);
    expect(fixed.stderr).not.toContain('approval.minApprovals');
    expect(fixed.stderr).toContain(`${file}: aproval: is not a known setting`);
    await expectNotStarted(workflowId);
  });

  test('a refusal needs no server: with TEMPORAL_ADDRESS at a closed port it still exits 2 naming the flag', async () => {
    const closed = `127.0.0.1:${await freeLoopbackPort()}`;
    const refused = await start(
      ['--commit', 'abc1234', '--class', 'A', '--staging-base', h.staging.url, '--production-base', h.production.url],
      {
        TEMPORAL_ADDRESS: closed,
      },
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--repo: is required: ENVIRONMENTS_CONFIG is not set/);
    expect(refused.stderr).not.toContain(closed);
  });
});

test('a registry that registers the environment lets start go without --repo (the worker decides)', async () => {
  const sha = await h.repo.commit('feature: registered target');
  const workflowId = uniqueId('cli-start-registered');
  try {
    // The CLI reads the registry; this worker has none, so it refuses the repo-less request itself.
    const run = await start(['--commit', sha, '--class', 'A', '--workflow-id', workflowId], {
      ENVIRONMENTS_CONFIG: registryFile,
    });
    expect(run.stderr).not.toContain('is required: ENVIRONMENTS_CONFIG');
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/InvalidPromotionRequest: \w+: is required \(the worker has no environment registry/);
    expect(await startedInput(workflowId)).toEqual({ commitSha: sha, changeClass: 'A', operator: 'zed' });
  } finally {
    await terminate(workflowId);
  }
});

test('start --break-glass gives breakGlass.reason; without break-glass approvers it is refused naming the flag', async () => {
  const sha = await h.repo.commit('feature: breaks glass');
  const target = ['--repo', h.repo.bare, '--staging-base', h.staging.url, '--production-base', h.production.url];
  const refused = await start(['--commit', sha, '--class', 'A', ...target, '--break-glass', 'hotfix']);
  expect(refused.code).toBe(2);
  expect(refused.stderr).toContain('--break-glass: production has no breakGlassApprovers in ENVIRONMENTS_CONFIG');
  const workflowId = uniqueId('cli-start-break-glass');
  try {
    // The CLI's registry names them; this worker has no registry, so it refuses the request itself.
    const run = await start(['--commit', sha, '--class', 'A', '--break-glass', 'hotfix', '--workflow-id', workflowId], {
      ENVIRONMENTS_CONFIG: registryFile,
    });
    expect(run.code).toBe(1);
    expect(await startedInput(workflowId)).toEqual({
      commitSha: sha,
      changeClass: 'A',
      operator: 'zed',
      breakGlass: { reason: 'hotfix' },
    });
  } finally {
    await terminate(workflowId);
  }
});

describe('the operator', () => {
  const request = async (): Promise<string[]> => [
    '--commit',
    await h.repo.commit('feature: who starts it'),
    '--class',
    'A',
    '--repo',
    h.repo.bare,
    '--staging-base',
    h.staging.url,
    '--production-base',
    h.production.url,
  ];

  test('falls back to the OS user and says so on stderr', async () => {
    const workflowId = uniqueId('cli-start-os-user');
    const user = os.userInfo().username;
    try {
      const run = await start([...(await request()), '--workflow-id', workflowId], {
        RELEASE_PROMOTER_IDENTITY: undefined,
      });
      expect(run.code).toBe(0);
      expect(run.stderr).toContain(
        `operator: ${user} (the OS user; set RELEASE_PROMOTER_IDENTITY or --operator to name yourself)`,
      );
      expect(await startedInput(workflowId)).toMatchObject({ operator: user });
    } finally {
      await terminate(workflowId);
    }
  });

  test('is RELEASE_PROMOTER_IDENTITY without a notice, and --operator over it', async () => {
    const fromEnv = uniqueId('cli-start-env-operator');
    const fromFlag = uniqueId('cli-start-flag-operator');
    try {
      const env = await start([...(await request()), '--workflow-id', fromEnv]);
      expect(env.code).toBe(0);
      expect(env.stderr).toBe('');
      expect(await startedInput(fromEnv)).toMatchObject({ operator: 'zed' });
      const flag = await start([...(await request()), '--operator', 'alice', '--workflow-id', fromFlag]);
      expect(flag.code).toBe(0);
      expect(flag.stderr).toBe('');
      expect(await startedInput(fromFlag)).toMatchObject({ operator: 'alice' });
    } finally {
      await terminate(fromEnv);
      await terminate(fromFlag);
    }
  });

  test('--as names the operator as approve, reject and rollback take it; --as and --operator for two people is refused', async () => {
    const workflowId = uniqueId('cli-start-as');
    const refused = uniqueId('cli-start-as-two');
    try {
      const run = await start([...(await request()), '--as', 'carol', '--workflow-id', workflowId]);
      expect(run.code).toBe(0);
      expect(await startedInput(workflowId)).toMatchObject({ operator: 'carol' });
      const two = await start([...(await request()), '--as', 'carol', '--operator', 'dave', '--workflow-id', refused]);
      expect(two.code).toBe(2);
      expect(two.stderr).toContain('--as carol and --operator dave name two people');
      await expectNotStarted(refused);
    } finally {
      await terminate(workflowId);
    }
  });

  test('an operator the schema refuses is named by where it came from', async () => {
    const workflowId = uniqueId('cli-start-bad-operator');
    const run = await start([...(await request()), '--workflow-id', workflowId], {
      RELEASE_PROMOTER_IDENTITY: 'not a name',
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('RELEASE_PROMOTER_IDENTITY: must be 1–64 characters');
    await expectNotStarted(workflowId);
  });
});

test('start --help lists a flag for every request field and explains --request', async () => {
  const run = await runCli(['start', '--help'], cliEnv());
  expect(run.code).toBe(0);
  for (const row of REQUEST_FLAGS) expect(run.stdout).toContain(row.flag);
  expect(run.stdout).toContain('--request <file.json>');
  expect(run.stdout).toMatch(/flags override\s+its fields/);
  expect(run.stdout).toContain('Exit codes:');
});
