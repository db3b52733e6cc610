// GATES_CONFIG entries merged into the built-in gates, seen from real promotions: real dev server,
// real sample services behind a real HTTP front (it slows /health and serves the owner's paths,
// so one gate can be slower than the rest), real git, real ledger; and a real worker process
// refusing a bad file.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { newProbeAgent, runGate } from '../src/activities/gates';
import type { PromotionStatus } from '../src/domain';
import { builtinCatalog } from '../src/gates/catalog';
import type { SampleService } from '../sample/service';
import { createHarness, failureOf, Harness } from './helpers';

const BUILTIN_STAGING = ['health', 'db_health', 'chat_happy', 'chat_415', 'cost_gate_chat', 'burst_429'];
const BUILTIN_PRODUCTION = ['health', 'db_health', 'chat_happy', 'chat_415'];

interface Front {
  url: string;
  /** `METHOD /path` of every request that reached the front. */
  hits: string[];
  /** Paths the front answers itself, with this status (the owner's endpoints). */
  own: Record<string, number>;
  close(): Promise<void>;
}

/** A real HTTP server in front of `target`: /health waits `healthDelayMs`, `own` paths are answered here, the rest is forwarded. */
async function startFront(
  target: SampleService,
  options: { healthDelayMs?: number; own?: Record<string, number> } = {},
): Promise<Front> {
  const hits: string[] = [];
  const own = { ...options.own };
  const upstream = new URL(target.url);
  const server = http.createServer((req, res) => {
    const urlPath = (req.url ?? '/').split('?')[0] ?? '/';
    hits.push(`${req.method} ${urlPath}`);
    const status = own[urlPath];
    if (status !== undefined) {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ owner: true, path: urlPath }));
      return;
    }
    const forward = () => {
      const out = http.request(
        target.url + (req.url ?? '/'),
        { method: req.method, headers: { ...req.headers, host: upstream.host } },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      out.on('error', () => res.destroy());
      req.pipe(out);
    };
    if (urlPath === '/health' && options.healthDelayMs) setTimeout(forward, options.healthDelayMs);
    else forward();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    own,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'gate-overrides-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function gatesFile(name: string, content: unknown): Promise<string> {
  const file = path.join(tmp, name);
  await writeFile(file, JSON.stringify(content, null, 2));
  return file;
}

/** A harness on `gates` whose staging and production are reached through fronts. */
async function harnessWith(
  name: string,
  gates: unknown,
  front: { healthDelayMs?: number; own?: Record<string, number> },
) {
  const h = await createHarness({ env: { GATES_CONFIG: await gatesFile(name, gates) } });
  const staging = await startFront(h.staging, front);
  const production = await startFront(h.production, front);
  const promote = async (message: string): Promise<{ sha: string; handle: Awaited<ReturnType<Harness['start']>> }> => {
    const sha = await h.repo.commit(message);
    return { sha, handle: await h.start(h.request(sha, { stagingBase: staging.url, productionBase: production.url })) };
  };
  return {
    h,
    staging,
    production,
    promote,
    close: async () => Promise.all([staging.close(), production.close()]).then(() => h.close()),
  };
}

const byName = (results: PromotionStatus['gates'], name: string) => results.find((g) => g.name === name);

describe('a timeoutMs-only override of health', () => {
  // The file's default probe timeout is 1 s, health's own 5 s; the fronts answer /health after 2 s.
  let run: Awaited<ReturnType<typeof harnessWith>>;
  beforeAll(async () => {
    run = await harnessWith(
      'health-timeout.json',
      { defaults: { timeoutMs: 1000 }, gates: { health: { timeoutMs: 5000 } } },
      { healthDelayMs: 2000 },
    );
  });
  afterAll(async () => {
    await run?.close();
  });

  test('keeps health required in staging and in production verification, with the new timeout', async () => {
    const { sha, handle } = await run.promote('feature: slow health, patient gate');
    const status: PromotionStatus = await handle.result();

    expect(status.stage).toBe('promoted');
    expect(await run.h.repo.tip('release')).toBe(sha);
    expect(status.gates.map((g) => [g.name, g.pass])).toEqual(BUILTIN_STAGING.map((name) => [name, true]));
    expect(status.prodVerification.map((g) => [g.name, g.pass])).toEqual(
      BUILTIN_PRODUCTION.map((name) => [name, true]),
    );
    // Slower than the default timeout: only health's own 5 s let these pass.
    expect(byName(status.gates, 'health')?.latencyMs).toBeGreaterThanOrEqual(2000);
    expect(byName(status.prodVerification, 'health')?.latencyMs).toBeGreaterThanOrEqual(2000);
  });

  test('the same health gate without the override times out on that front (the delay is past the default)', async () => {
    const dispatcher = newProbeAgent();
    try {
      const catalog = { ...run.h.config.gates, gates: { health: builtinCatalog().gates.health! } };
      const result = await runGate('health', {
        base: run.staging.url,
        mode: 'staging',
        expectBudgetBlock: false,
        catalog,
        dispatcher,
      });
      expect(result.pass).toBe(false);
      expect(result.status).toBeUndefined();
      expect(result.latencyMs).toBeLessThan(2000);
    } finally {
      await dispatcher.close();
    }
  });
});

describe('a full override of health (request, expect and timeoutMs)', () => {
  let run: Awaited<ReturnType<typeof harnessWith>>;
  beforeAll(async () => {
    const health = {
      request: { method: 'GET', path: '/livez' },
      expect: { status: 200, jsonObject: true },
      timeoutMs: 5000,
    };
    run = await harnessWith('health-full.json', { gates: { health } }, { own: { '/livez': 200 } });
  });
  afterAll(async () => {
    await run?.close();
  });

  test('keeps health required in staging and in production verification, probing what the override says', async () => {
    const { handle } = await run.promote('feature: health moved to /livez');
    const status: PromotionStatus = await handle.result();

    expect(status.stage).toBe('promoted');
    expect(status.gates.map((g) => g.name)).toEqual(BUILTIN_STAGING);
    expect(status.prodVerification.map((g) => g.name)).toEqual(BUILTIN_PRODUCTION);
    expect(byName(status.gates, 'health')).toMatchObject({ pass: true, target: `GET ${run.staging.url}/livez` });
    expect(byName(status.prodVerification, 'health')).toMatchObject({
      pass: true,
      target: `GET ${run.production.url}/livez`,
    });
    expect(run.staging.hits).toContain('GET /livez');
    expect(run.staging.hits).not.toContain('GET /health');
  });
});

describe("a platform owner's own gates", () => {
  // owner_ready: required in staging and run in production; owner_checklist: required in staging only.
  let run: Awaited<ReturnType<typeof harnessWith>>;
  beforeAll(async () => {
    const gates = {
      owner_ready: {
        request: { path: '/owner/ready' },
        expect: { status: 200 },
        staging: 'required',
        production: true,
      },
      owner_checklist: { request: { path: '/owner/checklist' }, expect: { status: 200 }, staging: 'required' },
    };
    run = await harnessWith('owner.json', { gates }, { own: { '/owner/ready': 200, '/owner/checklist': 200 } });
  });
  afterAll(async () => {
    await run?.close();
  });

  test('a required new gate runs in staging without being named in optionalGates, and production: true adds it to production verification', async () => {
    const { handle } = await run.promote('feature: owner gates pass');
    const status: PromotionStatus = await handle.result();

    expect(status.stage).toBe('promoted');
    expect(status.gates.map((g) => [g.name, g.pass])).toEqual(
      [...BUILTIN_STAGING, 'owner_ready', 'owner_checklist'].map((name) => [name, true]),
    );
    expect(status.prodVerification.map((g) => g.name)).toEqual([...BUILTIN_PRODUCTION, 'owner_ready']);
    expect(run.production.hits).toContain('GET /owner/ready');
    expect(run.production.hits).not.toContain('GET /owner/checklist');
    expect(await run.h.ledger()).toMatch(/ {4}- owner_checklist: pass \(200, \d+ ms\)/);
  });

  test('every promotion runs it: when the required new gate fails, staging fails and nothing is promoted', async () => {
    const releaseBefore = await run.h.repo.tip('release');
    run.staging.own['/owner/checklist'] = 503;
    try {
      const { handle } = await run.promote('feature: owner checklist not met');
      const failure = await failureOf(handle);

      expect(failure.type).toBe('StagingGatesFailed');
      expect(failure.message).toContain('owner_checklist returned 503');
      expect(byName(failure.status.gates, 'owner_checklist')?.pass).toBe(false);
      expect(await run.h.repo.tip('release')).toBe(releaseBefore);
    } finally {
      run.staging.own['/owner/checklist'] = 200;
    }
  });
});

test('a worker process given an invalid override stops with a ConfigError naming the file and the field', async () => {
  const file = await gatesFile('health-into-command.json', {
    gates: { health: { kind: 'command', command: ['true'] } },
  });
  const proc = spawn(path.resolve(__dirname, '../node_modules/.bin/tsx'), ['src/worker.ts'], {
    cwd: path.resolve(__dirname, '..'),
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      GATES_CONFIG: file,
      ENVIRONMENTS_CONFIG: '',
      TEMPORAL_ADDRESS: process.env.TEMPORAL_TEST_ADDRESS,
    },
  });
  let stderr = '';
  proc.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => proc.once('exit', (exitCode) => resolve(exitCode)));

  expect(stderr).toContain(
    `release-promoter worker: GATES_CONFIG ${file}: gates.health.kind: cannot change a built-in http gate into command`,
  );
  expect(code).toBe(2);
});
