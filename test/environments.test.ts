// The environment registry (SPEC §3 "Where settings come from", §7) through real promotions:
// settings come from ENVIRONMENTS_CONFIG, a caller cannot point probes (and their secret headers)
// elsewhere, approval policy is the stricter of both, and the secret is sent yet recorded nowhere.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { loadConfig, loadEnvironments } from '../src/config';
import type { PromotionStatus } from '../src/domain';
import { freeLoopbackPort } from '../src/free-port';
import { parseLedger } from '../src/ledger/format';
import { rejectSignal, statusQuery } from '../src/workflows/messages';
import { createSampleRepo, SampleRepo } from '../sample/repo';
import { SampleService, startSampleService } from '../sample/service';
import { createHarness, failureOf, Harness, historyText, waitForStage } from './helpers';
import { configErrorOf } from './records';

const SECRET = 'Bearer s3cr3t-gate-token-123456';
const SECRET_CORE = 's3cr3t-gate-token';

let h: Harness;
let tmp: string;
let repo: SampleRepo;
let configFile: string;
let stagingUrl: string;
let productionUrl: string;

function registry(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    environments: {
      production: {
        repo: repo.bare,
        stagingBase: stagingUrl,
        productionBase: productionUrl,
        headersFromEnv: { Authorization: 'CHAT_GATE_AUTH' },
        approval: { classes: [], approvers: ['bob', 'carol'], minApprovals: 1 },
        ...overrides,
      },
      canary: {
        repo: repo.bare,
        stagingBase: stagingUrl,
        productionBase: productionUrl,
        approval: { classes: ['A'], approvers: ['bob', 'carol'], minApprovals: 2 },
      },
    },
  };
}

beforeAll(async () => {
  // The registry must exist before the worker starts, so the ports and the repo come first.
  tmp = await mkdtemp(path.join(os.tmpdir(), 'environments-test-'));
  repo = await createSampleRepo(path.join(tmp, 'repo'));
  const [stagingPort, productionPort] = [await freeLoopbackPort(), await freeLoopbackPort()];
  stagingUrl = `http://127.0.0.1:${stagingPort}`;
  productionUrl = `http://127.0.0.1:${productionPort}`;
  configFile = path.join(tmp, 'environments.json');
  await writeFile(configFile, JSON.stringify(registry(), null, 2));
  h = await createHarness({
    staging: { port: stagingPort, echoHeaders: true },
    production: { port: productionPort, echoHeaders: true, follow: { gitDir: repo.bare, branch: 'release' } },
    // The worker reads secrets from the env its config was loaded from (config.readSecret), never
    // from process.env: the secret is only here.
    env: { ENVIRONMENTS_CONFIG: configFile, CHAT_GATE_AUTH: SECRET },
  });
  expect(h.staging.url).toBe(stagingUrl);
  expect(h.production.url).toBe(productionUrl);
});

afterAll(async () => {
  await h?.close();
  await rm(tmp, { recursive: true, force: true });
});

/** A request that names only what the registry cannot know. */
function minimal(commitSha: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { commitSha, changeClass: 'A', operator: 'alice', environment: 'production', ...extra };
}

/** What a refused request must leave as it was. */
async function snapshot(): Promise<{
  ledger: string;
  reservations: string;
  tip: string | null;
  staging: number;
  production: number;
}> {
  let reservations: string;
  try {
    reservations = readFileSync(`${h.ledgerPath}.reservations`, 'utf8');
  } catch {
    reservations = '(none)';
  }
  return {
    ledger: await h.ledger(),
    reservations,
    tip: await repo.tip('release'),
    staging: h.staging.requests.length,
    production: h.production.requests.length,
  };
}

/** Every payload in `history`, decoded with the SDK's payload converter, as JSON text. */
function decodedPayloads(history: unknown): string[] {
  const found: string[] = [];
  const visit = (node: unknown): void => {
    if (node === null || typeof node !== 'object' || node instanceof Uint8Array) return;
    const candidate = node as Partial<Payload>;
    if (candidate.metadata && candidate.data instanceof Uint8Array) {
      found.push(JSON.stringify(defaultPayloadConverter.fromPayload(candidate as Payload)) ?? 'undefined');
      return;
    }
    for (const value of Object.values(node)) visit(value);
  };
  visit(history);
  return found;
}

test('a request naming only commit, class, operator and environment is promoted with the registry settings and its secret header is sent but recorded nowhere', async () => {
  const sha = await repo.commit('feature: registry settings');
  const handle = await h.start(minimal(sha));
  const outcome: PromotionStatus = await handle.result();
  const status = await handle.query(statusQuery);

  expect(outcome.stage).toBe('promoted');
  expect(await repo.tip('release')).toBe(sha);
  expect(outcome.gates.map((g) => [g.name, g.pass])).toEqual([
    ['health', true],
    ['db_health', true],
    ['chat_happy', true],
    ['chat_415', true],
    ['cost_gate_chat', true],
    ['burst_429', true],
  ]);
  expect(outcome.prodVerification.every((g) => g.pass)).toBe(true);
  expect(outcome.gates[0]?.target).toBe(`GET ${stagingUrl}/health`);
  expect(outcome.prodVerification[0]?.target).toBe(`GET ${productionUrl}/health`);

  // The header went out with every probe to the registered bases...
  expect(h.staging.requests.length).toBeGreaterThanOrEqual(35);
  expect(h.staging.requests.every((r) => r.headers.authorization === SECRET)).toBe(true);
  expect(h.production.requests.length).toBeGreaterThanOrEqual(4);
  expect(h.production.requests.every((r) => r.headers.authorization === SECRET)).toBe(true);

  // ...and although both targets echoed it back, it is in none of the records the product wrote.
  const events = await handle.fetchHistory();
  const history = historyText(events);
  expect(history).toContain(sha);
  expect(history).toContain(stagingUrl); // payloads were decoded: the plan is in there
  expect(history).toContain(outcome.releaseId as string);
  // Every payload in the history as the SDK's payload converter reads it back (request, plan,
  // activity results with the echoing targets' evidence, queries answered, search attributes).
  const payloads = decodedPayloads(events);
  expect(payloads.some((p) => p.includes(`"gates":[{"name":"health"`))).toBe(true);
  expect(payloads.join('\n')).toContain(outcome.releaseId as string);
  const ledger = await h.ledger();
  expect(
    parseLedger(ledger).entries.map((e) => [e.fields.get('environment')?.value, e.fields.get('result')?.value]),
  ).toEqual([['production', 'pass']]);
  for (const [where, text] of [
    ['history', history],
    ['history payloads', payloads.join('\n')],
    ['outcome', JSON.stringify(outcome)],
    ['status', JSON.stringify(status)],
    ['ledger', ledger],
    ['reservations', (await snapshot()).reservations],
  ] as const) {
    expect({ where, leaked: text.includes(SECRET_CORE) }).toEqual({ where, leaked: false });
  }
});

test('a request repeating the registered values is accepted like one that omits them', async () => {
  const sha = await repo.commit('feature: explicit but equal settings');
  const handle = await h.start(
    minimal(sha, {
      repo: repo.bare,
      fromBranch: 'main',
      toBranch: 'release',
      stagingBase: `${stagingUrl}/`,
      productionBase: productionUrl,
    }),
  );
  const outcome: PromotionStatus = await handle.result();
  expect(outcome.stage).toBe('promoted');
  expect(await repo.tip('release')).toBe(sha);
});

describe('a request may not point a registered environment elsewhere', () => {
  let other: SampleService;
  beforeAll(async () => {
    other = await startSampleService({ name: 'attacker', echoHeaders: true });
  });
  afterAll(async () => {
    await other?.close();
  });

  test.each([
    ['stagingBase', () => ({ stagingBase: other.url })],
    ['productionBase', () => ({ productionBase: other.url })],
  ])('another %s is refused naming the field and no probe reaches that service', async (field, overrides) => {
    const sha = await repo.commit(`feature: other ${field}`);
    const before = await snapshot();
    const failure = await failureOf(await h.start(minimal(sha, overrides())));
    expect(failure.type).toBe('InvalidPromotionRequest');
    expect(failure.message).toContain(`${field}:`);
    expect(failure.message).toContain('omit');
    expect(failure.status.stage).toBe('invalid');
    expect(other.requests).toEqual([]);
    expect(await snapshot()).toEqual(before);
  });

  test('another repo is refused naming repo and that repo is untouched', async () => {
    const sha = await repo.commit('feature: other repo');
    const otherTip = await h.repo.tip('release');
    const before = await snapshot();
    const failure = await failureOf(await h.start(minimal(sha, { repo: h.repo.bare })));
    expect(failure.type).toBe('InvalidPromotionRequest');
    expect(failure.message).toContain('repo:');
    expect(await h.repo.tip('release')).toBe(otherTip);
    expect(other.requests).toEqual([]);
    expect(await snapshot()).toEqual(before);
  });
});

test('an unregistered environment is refused naming the environment and changes nothing', async () => {
  const sha = await repo.commit('feature: unregistered environment');
  const before = await snapshot();
  const failure = await failureOf(
    await h.start(
      minimal(sha, { environment: 'qa', repo: repo.bare, stagingBase: stagingUrl, productionBase: productionUrl }),
    ),
  );
  expect(failure.type).toBe('InvalidPromotionRequest');
  expect(failure.message).toContain('environment: "qa" is not registered');
  expect(failure.message).toContain('production');
  expect(failure.status.stage).toBe('invalid');
  expect(await snapshot()).toEqual(before);
});

describe('approval policy is the stricter of registry and request', () => {
  test("the request's approvers narrow the registry's list", async () => {
    const sha = await repo.commit('feature: narrowed approvers');
    const handle = await h.start(minimal(sha, { approval: { approvers: ['bob', 'dave'] } }));
    const outcome: PromotionStatus = await handle.result();
    expect(outcome.stage).toBe('promoted');
    expect(outcome.approval.approvers).toEqual(['bob']);
    expect(outcome.approval.required).toBe(false);
  });

  test('a class the registry lists requires approval with the larger minimum even when the request asks for less', async () => {
    const sha = await repo.commit('feature: canary needs approval');
    const handle = await h.start(
      minimal(sha, { environment: 'canary', approval: { required: false, minApprovals: 1 } }),
    );
    const waiting = await waitForStage(handle, 'awaiting_approval');
    expect(waiting.approval.required).toBe(true);
    expect(waiting.approval.state).toBe('pending');
    expect(waiting.approval.minApprovals).toBe(2);
    expect(waiting.approval.approvers).toEqual(['bob', 'carol']);
    // Canary has no headersFromEnv: its probes carry no secret although they share the staging service.
    const canaryProbes = h.staging.requests.slice(-35);
    expect(h.staging.requests.at(-36)?.headers.authorization).toBe(SECRET); // the production promotion before it
    expect(canaryProbes.every((r) => r.headers.authorization === undefined)).toBe(true);
    await handle.signal(rejectSignal, { approver: 'bob', reason: 'not today' });
    const failure = await failureOf(handle);
    expect(failure.type).toBe('ApprovalRejected');
    expect(failure.status.approval.minApprovals).toBe(2);
  });

  test('a request whose approvers share no one with the registry is refused naming approval.approvers', async () => {
    const sha = await repo.commit('feature: foreign approvers');
    const before = await snapshot();
    const failure = await failureOf(
      await h.start(minimal(sha, { approval: { required: true, approvers: ['dave', 'erin'] } })),
    );
    expect(failure.type).toBe('InvalidPromotionRequest');
    expect(failure.message).toContain('approval.approvers');
    expect(failure.message).toContain('bob, carol');
    expect(await snapshot()).toEqual(before);
  });
});

test('unknown optional gate names are refused with nothing changed', async () => {
  const sha = await repo.commit('feature: unknown optional gate');
  const before = await snapshot();
  const failure = await failureOf(await h.start(minimal(sha, { optionalGates: ['smoke_everything'] })));
  expect(failure.type).toBe('InvalidPromotionRequest');
  expect(failure.message).toContain('optionalGates: "smoke_everything"');
  expect(failure.status.stage).toBe('invalid');
  expect(failure.status.releaseId).toBeUndefined();
  expect(await snapshot()).toEqual(before);
});

describe('loading the registry', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'environments-config-'));
  });
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('a headersFromEnv variable that is not set stops loading with a ConfigError naming the variable', async () => {
    const file = path.join(dir, 'environments.json');
    await writeFile(
      file,
      JSON.stringify(registry({ headersFromEnv: { Authorization: 'CHAT_GATE_AUTH', 'X-Tenant': 'CHAT_GATE_TENANT' } })),
    );
    const error = configErrorOf(() => loadEnvironments(file, { CHAT_GATE_AUTH: SECRET }));
    expect(error.message).toContain('CHAT_GATE_TENANT');
    expect(error.message).toContain(file);
    expect(error.message).toContain('environments.production.headersFromEnv.X-Tenant');
    expect(error.message).not.toContain(SECRET_CORE);
    // Through the worker's loadConfig as well, and an empty value counts as unset.
    const viaConfig = configErrorOf(() =>
      loadConfig({ ENVIRONMENTS_CONFIG: file, CHAT_GATE_AUTH: SECRET, CHAT_GATE_TENANT: '' }),
    );
    expect(viaConfig.message).toContain('CHAT_GATE_TENANT');
    // With both set it loads.
    expect(Object.keys(loadEnvironments(file, { CHAT_GATE_AUTH: SECRET, CHAT_GATE_TENANT: 'acme' }))).toEqual([
      'production',
      'canary',
    ]);
  });

  test("a typo'd key stops loading with a ConfigError naming the file and the field", async () => {
    const file = path.join(dir, 'environments.json');
    const { stagingBase, ...rest } = (registry().environments as Record<string, Record<string, unknown>>).production!;
    await writeFile(file, JSON.stringify({ environments: { production: { ...rest, stagingBse: stagingBase } } }));
    const error = configErrorOf(() => loadEnvironments(file, { CHAT_GATE_AUTH: SECRET }));
    expect(error.message).toContain(`ENVIRONMENTS_CONFIG ${file}`);
    expect(error.message).toContain('environments.production');
    expect(error.message).toContain('stagingBse');
    expect(error.message).toContain('environments.production.stagingBase');
  });

  test('a registered base with credentials in it is refused naming the field', async () => {
    const file = path.join(dir, 'environments.json');
    await writeFile(file, JSON.stringify(registry({ productionBase: 'https://ops:hunter2@chat.example.com' })));
    const error = configErrorOf(() => loadEnvironments(file, { CHAT_GATE_AUTH: SECRET }));
    expect(error.message).toContain('environments.production.productionBase');
  });

  test('a file that is not JSON names the file', async () => {
    const file = path.join(dir, 'environments.json');
    await writeFile(file, '{ environments: ');
    const error = configErrorOf(() => loadEnvironments(file, {}));
    expect(error.message).toContain(`ENVIRONMENTS_CONFIG ${file}: not valid JSON`);
  });

  test('the file registers exactly what it says, with the documented defaults', async () => {
    const file = path.join(dir, 'environments.json');
    await writeFile(file, JSON.stringify(registry()));
    const loaded = loadEnvironments(file, { CHAT_GATE_AUTH: SECRET });
    expect(loaded.production).toEqual({
      repo: repo.bare,
      breakGlassMinApprovals: 1,
      concurrency: 'queue',
      freezes: [],
      onFreeze: 'wait',
      fromBranch: 'main',
      toBranch: 'release',
      stagingBase: stagingUrl,
      productionBase: productionUrl,
      approval: { classes: [], approvers: ['bob', 'carol'], minApprovals: 1 },
      headersFromEnv: { Authorization: 'CHAT_GATE_AUTH' },
    });
    // The loaded registry holds variable names only, never the secret itself.
    expect(JSON.stringify(loaded)).not.toContain(SECRET_CORE);
  });
});
