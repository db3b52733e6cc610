// Worker configuration: environment defaults, bad values named by variable, and the
// GATES_CONFIG file merged over the built-in catalog or refused naming the file and field. (The
// connection to Temporal is not in it: test/connection-profile.test.ts.)
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, loadGateCatalog } from '../src/config';
import { configErrorOf } from './records';
import { builtinCatalog, productionGateNames, stagingGateNames } from '../src/gates/catalog';

let tmp: string;

beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'config-test-'));
});

afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function gatesFile(name: string, content: unknown): Promise<string> {
  const file = path.join(tmp, name);
  await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return file;
}

describe('environment variables', () => {
  test('an empty environment gives the documented defaults', () => {
    const config = loadConfig({});
    expect(config.taskQueue).toBe('release-promotion');
    expect(config.ledgerPath).toBe(path.resolve(process.cwd(), 'RELEASE_LOG.md'));
    expect(config.gitCacheDir).toBe(path.resolve(process.cwd(), '.data/git-cache'));
    expect(config.metricsAddress).toBeUndefined();
    expect(config.gates).toEqual(builtinCatalog());
  });

  test('relative ledger and cache paths are resolved against the given working directory', () => {
    const config = loadConfig({ RELEASE_LEDGER_PATH: 'logs/RELEASE_LOG.md' }, tmp);
    expect(config.ledgerPath).toBe(path.join(tmp, 'logs/RELEASE_LOG.md'));
    expect(config.gitCacheDir).toBe(path.join(tmp, '.data/git-cache'));
  });

  test('set variables replace the defaults and empty ones are treated as unset', () => {
    const config = loadConfig({ TEMPORAL_TASK_QUEUE: 'promotions-eu', METRICS_ADDRESS: '', LOG_LEVEL: 'INFO' }, tmp);
    expect(config.taskQueue).toBe('promotions-eu');
    expect(config.metricsAddress).toBeUndefined();
    expect(config.logLevel).toBe('INFO');
  });

  test('a TEMPORAL_TASK_QUEUE with spaces is a ConfigError naming the variable', () => {
    const err = configErrorOf(() => loadConfig({ TEMPORAL_TASK_QUEUE: 'release promotion', METRICS_ADDRESS: 'x:1' }));
    expect(err.message).toContain('TEMPORAL_TASK_QUEUE');
    expect(err.message).not.toContain('METRICS_ADDRESS');
  });

  test('the connection is not ours to parse: Temporal variables are left to resolveConnection', () => {
    // A worker configuration with the connection's variables set (even bad ones) loads the same:
    // the address, TLS and API key are Temporal's own settings (src/temporal-profile.ts).
    const config = loadConfig(
      { TEMPORAL_ADDRESS: 'http://not-host-port', TEMPORAL_API_KEY: 'k', TEMPORAL_TLS_CLIENT_CERT_PATH: '/nope' },
      tmp,
    );
    expect(config).toEqual({ ...loadConfig({}, tmp), readSecret: expect.any(Function) });
    expect(Object.keys(config)).not.toContain('temporal');
  });

  test('a GATES_CONFIG file that does not exist is a ConfigError naming the variable', () => {
    const err = configErrorOf(() => loadConfig({ GATES_CONFIG: path.join(tmp, 'missing-gates.json') }));
    expect(err.message).toContain('GATES_CONFIG');
  });
});

describe('GATES_CONFIG', () => {
  test('a command for release_drills_subset and an extra HTTP gate are merged over the built-ins', async () => {
    const file = await gatesFile('gates.json', {
      defaults: { timeoutMs: 3000 },
      gates: {
        release_drills_subset: { command: ['./scripts/release_drills.sh', '--subset'], timeoutMs: 120000 },
        version_endpoint: { request: { method: 'GET', path: '/version' }, expect: { status: 200 } },
      },
    });

    const catalog = loadConfig({ GATES_CONFIG: file }, tmp).gates;

    expect(catalog.defaults.timeoutMs).toBe(3000);
    expect(catalog.gates.release_drills_subset).toMatchObject({
      kind: 'command',
      staging: 'optional',
      command: ['./scripts/release_drills.sh', '--subset'],
      timeoutMs: 120000,
    });
    expect(catalog.gates.version_endpoint).toMatchObject({
      kind: 'http',
      staging: 'optional',
      production: false,
      request: { method: 'GET', path: '/version' },
      expect: { status: 200 },
    });
    const builtins = builtinCatalog().gates;
    for (const name of Object.keys(builtins)) expect(catalog.gates).toHaveProperty(name);
    expect(catalog.gates.health).toEqual(builtins.health);
    expect(catalog.gates.certify_phase15_subset).toEqual(builtins.certify_phase15_subset);
    expect(Object.keys(catalog.gates)).toHaveLength(Object.keys(builtins).length + 1);
  });

  test('a typo in a gate field is a ConfigError naming the file and the field', async () => {
    const file = await gatesFile('typo.json', {
      gates: { release_drills_subset: { comand: ['./scripts/release_drills.sh'] } },
    });
    const err = configErrorOf(() => loadGateCatalog(file));
    expect(err.message).toContain(file);
    expect(err.message).toContain('gates.release_drills_subset');
  });

  test('a typo in a gate field names the misspelled key itself', async () => {
    const file = await gatesFile('typo-key.json', {
      gates: { release_drills_subset: { comand: ['./scripts/release_drills.sh'] } },
    });
    const err = configErrorOf(() => loadGateCatalog(file));
    expect(err.message).toContain('comand');
  });

  test('a typo in an HTTP gate field names the misspelled key', async () => {
    const file = await gatesFile('typo-http.json', {
      gates: { version_endpoint: { request: { path: '/version' }, expect: { status: 200 }, timeoutMS: 500 } },
    });
    const err = configErrorOf(() => loadGateCatalog(file));
    expect(err.message).toContain(file);
    expect(err.message).toContain('gates.version_endpoint');
    expect(err.message).toContain('timeoutMS');
  });

  test('a typo at the top level of the file is a ConfigError naming the file and the field', async () => {
    const file = await gatesFile('typo-top.json', { gate: {} });
    const err = configErrorOf(() => loadGateCatalog(file));
    expect(err.message).toContain(file);
    expect(err.message).toContain('"gate"');
  });

  test('giving the health gate a command is refused naming the field that would change its kind', async () => {
    const file = await gatesFile('health-command.json', { gates: { health: { command: ['true'] } } });
    const err = configErrorOf(() => loadGateCatalog(file));
    expect(err.message).toBe(
      `GATES_CONFIG ${file}: gates.health.command: cannot change a built-in http gate into command`,
    );
  });

  test('an explicit kind that differs from the built-in gate is refused naming gates.<name>.kind', async () => {
    const file = await gatesFile('health-kind.json', {
      gates: { health: { kind: 'command', command: ['true'] }, release_drills_subset: { kind: 'http' } },
    });
    const err = configErrorOf(() => loadGateCatalog(file));
    expect(err.message).toContain('gates.health.kind: cannot change a built-in http gate into command');
    expect(err.message).toContain('gates.release_drills_subset.kind: cannot change a built-in command gate into http');
  });

  test('a file that is not JSON is a ConfigError naming the file', async () => {
    const file = await gatesFile('broken.json', '{ "gates": ');
    const err = configErrorOf(() => loadGateCatalog(file));
    expect(err.message).toContain(file);
    expect(err.message).toContain('not valid JSON');
  });

  test('the worker configuration reports a bad gates file as a ConfigError too', async () => {
    const file = await gatesFile('bad-through-env.json', {
      gates: { version_endpoint: { request: { path: 'version' }, expect: { status: 200 } } },
    });
    const err = configErrorOf(() => loadConfig({ GATES_CONFIG: file }, tmp));
    expect(err.message).toContain(file);
    expect(err.message).toContain('gates.version_endpoint');
  });
});

describe('GATES_CONFIG entries that name a built-in gate change only the fields they give', () => {
  test('a timeoutMs-only override of health keeps its request, expect, required staging and production', async () => {
    const file = await gatesFile('health-timeout.json', { gates: { health: { timeoutMs: 9000 } } });

    const catalog = loadGateCatalog(file);

    expect(catalog.gates.health).toEqual({ ...builtinCatalog().gates.health, timeoutMs: 9000 });
    expect(stagingGateNames(catalog, [])).toContain('health');
    expect(productionGateNames(catalog)).toEqual(['health', 'db_health', 'chat_happy', 'chat_415']);
  });

  test('a full override of health (request, expect, timeoutMs) keeps it required in staging and in production', async () => {
    const file = await gatesFile('health-full.json', {
      gates: { health: { request: { method: 'GET', path: '/healthz' }, expect: { status: 204 }, timeoutMs: 9000 } },
    });

    const catalog = loadGateCatalog(file);

    expect(catalog.gates.health).toEqual({
      kind: 'http',
      staging: 'required',
      production: true,
      wave: 1,
      request: { method: 'GET', path: '/healthz' },
      expect: { status: 204 },
      timeoutMs: 9000,
    });
    expect(stagingGateNames(catalog, [])).toEqual(stagingGateNames(builtinCatalog(), []));
    expect(productionGateNames(catalog)).toContain('health');
  });

  test('an override may make a built-in optional, or take it out of production verification', async () => {
    const file = await gatesFile('relaxed.json', {
      gates: { chat_415: { staging: 'optional' }, chat_happy: { production: false } },
    });

    const catalog = loadGateCatalog(file);

    expect(stagingGateNames(catalog, [])).not.toContain('chat_415');
    expect(catalog.gates.chat_415).toEqual({ ...builtinCatalog().gates.chat_415, staging: 'optional' });
    expect(productionGateNames(catalog)).toEqual(['health', 'db_health', 'chat_415']);
  });

  test('a command for a built-in drill keeps it optional, and it may be made required', async () => {
    const file = await gatesFile('drills.json', {
      gates: {
        release_drills_subset: { command: ['./drills.sh'] },
        breaker_drill: { command: ['./breaker.sh'], staging: 'required' },
      },
    });

    const catalog = loadGateCatalog(file);

    expect(catalog.gates.release_drills_subset).toEqual({
      kind: 'command',
      staging: 'optional',
      production: false,
      wave: 1,
      command: ['./drills.sh'],
    });
    expect(stagingGateNames(catalog, [])).toContain('breaker_drill');
    expect(stagingGateNames(catalog, [])).not.toContain('release_drills_subset');
  });

  test("the file's defaults still shape the built-ins: the cost gate's message length and the burst size", async () => {
    const file = await gatesFile('defaults.json', {
      defaults: { costMessageChars: 100, burstSize: 7 },
      gates: { health: { timeoutMs: 9000 } },
    });

    const catalog = loadGateCatalog(file);

    const cost = catalog.gates.cost_gate_chat;
    expect(
      cost?.kind === 'http' && (JSON.parse(cost.request.body ?? '{}') as { message: string }).message,
    ).toHaveLength(100);
    expect(catalog.gates.burst_429).toMatchObject({ kind: 'burst', size: 7 });
    expect(catalog.defaults).toEqual({ ...builtinCatalog().defaults, costMessageChars: 100, burstSize: 7 });
  });

  test('an invalid override of a built-in is a ConfigError naming the file and the field', async () => {
    const file = await gatesFile('health-bad.json', { gates: { health: { timeoutMs: 50, staging: 'always' } } });
    const err = configErrorOf(() => loadGateCatalog(file));
    expect(err.message).toContain(file);
    expect(err.message).toContain('gates.health.timeoutMs');
    expect(err.message).toContain('gates.health.staging');
  });
});

describe("a platform owner's own gates in GATES_CONFIG", () => {
  test('a new gate that says staging required and production true runs in every staging run and in production', async () => {
    const file = await gatesFile('owner.json', {
      gates: {
        version_endpoint: {
          request: { path: '/version' },
          expect: { status: 200 },
          staging: 'required',
          production: true,
        },
      },
    });

    const catalog = loadGateCatalog(file);

    expect(catalog.gates.version_endpoint).toEqual({
      kind: 'http',
      staging: 'required',
      production: true,
      wave: 1,
      request: { method: 'GET', path: '/version' },
      expect: { status: 200 },
    });
    expect(stagingGateNames(catalog, [])).toContain('version_endpoint');
    expect(stagingGateNames(catalog, ['breaker_drill'])).toContain('version_endpoint');
    expect(productionGateNames(catalog)).toContain('version_endpoint');
  });

  test('a new gate whose kind cannot be told from its fields is refused naming gates.<name>.kind', async () => {
    const file = await gatesFile('owner-kindless.json', { gates: { mystery: { staging: 'required' } } });
    const err = configErrorOf(() => loadGateCatalog(file));
    expect(err.message).toContain(`GATES_CONFIG ${file}: gates.mystery.kind:`);
  });

  test('a new HTTP gate without expect is refused naming gates.<name>.expect', async () => {
    const file = await gatesFile('owner-no-expect.json', {
      gates: { version_endpoint: { request: { path: '/version' } } },
    });
    const err = configErrorOf(() => loadGateCatalog(file));
    expect(err.message).toContain('gates.version_endpoint.expect');
  });

  test('a required command gate without a command is refused, since it could only fail', async () => {
    const file = await gatesFile('owner-no-command.json', {
      gates: { smoke_script: { kind: 'command', staging: 'required' } },
    });
    const err = configErrorOf(() => loadGateCatalog(file));
    expect(err.message).toContain('gates.smoke_script.command: a required command gate needs a command');
  });
});

describe("the fault tier's crash point (RELEASE_PROMOTER_TEST_CRASH_AT)", () => {
  test('unset: no crash point', () => {
    expect(loadConfig({}).crashAt).toBeUndefined();
  });

  test('a point names the workflow type, the activity, before or after, and which call (default the first)', () => {
    expect(loadConfig({ RELEASE_PROMOTER_TEST_CRASH_AT: 'rollbackWorkflow.moveReleaseBranch:after' }).crashAt).toEqual({
      text: 'rollbackWorkflow.moveReleaseBranch:after',
      workflowType: 'rollbackWorkflow',
      activity: 'moveReleaseBranch',
      when: 'after',
      nth: 1,
    });
    expect(
      loadConfig({ RELEASE_PROMOTER_TEST_CRASH_AT: 'promotionWorkflow.promoteCommit:before#3' }).crashAt,
    ).toMatchObject({
      when: 'before',
      nth: 3,
    });
  });

  test.each([
    'promoteCommit:after',
    'promotionWorkflow.promoteCommit',
    'promotionWorkflow.promoteCommit:during',
    'a.b:after#0',
  ])('%s is refused naming the variable and the form, before the worker starts', (value) => {
    const err = configErrorOf(() => loadConfig({ RELEASE_PROMOTER_TEST_CRASH_AT: value }));
    expect(err.message).toContain('RELEASE_PROMOTER_TEST_CRASH_AT');
    expect(err.message).toContain('<workflowType>.<activity>:<before|after>[#n]');
  });
});
