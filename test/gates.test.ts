// The gate code on its own, no Temporal: the built-in catalog against real sample services on
// 127.0.0.1, the waves, command gates (their process group dies with them), evidence without secrets.
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Agent } from 'undici';
import { newProbeAgent, readDeployedVersion, runGate, runGates, GateRunContext } from '../src/activities/gates';
import { loadGateCatalog } from '../src/config';
import type { GateResult } from '../src/domain';
import type { GateCatalog } from '../src/gates/catalog';
import { SampleOptions, SampleService, startSampleService } from '../sample/service';

let agent: Agent;
let catalog: GateCatalog;
let tmp: string;
const services: SampleService[] = [];

beforeAll(async () => {
  agent = newProbeAgent();
  catalog = loadGateCatalog();
  tmp = await mkdtemp(path.join(os.tmpdir(), 'gates-test-'));
});

afterEach(async () => {
  await Promise.all(services.splice(0).map((s) => s.close().catch(() => undefined)));
});

afterAll(async () => {
  await agent.close();
  await rm(tmp, { recursive: true, force: true });
});

/** A fresh sample service (its own rate-limit window and request log), closed after the test. */
async function service(options: SampleOptions = {}): Promise<SampleService> {
  const s = await startSampleService(options);
  services.push(s);
  return s;
}

function ctxFor(base: string, extra: Partial<GateRunContext> = {}): GateRunContext {
  return { base, mode: 'staging', expectBudgetBlock: false, catalog, dispatcher: agent, ...extra };
}

/** Which probe a logged /api/chat request was, told apart by content type and body length. */
function probeKind(r: SampleService['requests'][number]): string {
  if (r.path !== '/api/chat') return r.path;
  if (!(r.headers['content-type'] ?? '').startsWith('application/json')) return 'chat_415';
  const length = Number(r.headers['content-length']);
  if (length === JSON.stringify({ message: 'hi' }).length) return 'chat_happy';
  if (length === JSON.stringify({ message: 'burst' }).length) return 'burst';
  if (length > 1000) return 'cost';
  return `chat(${length})`;
}

describe('every built-in HTTP gate passes on a healthy service', () => {
  test('all six staging gates pass with their expected status and one attempt each', async () => {
    const s = await service();
    const names = ['health', 'db_health', 'chat_happy', 'chat_415', 'cost_gate_chat', 'burst_429'];
    const results = await runGates(names, ctxFor(s.url));
    expect(results.map((r) => [r.name, r.pass, r.status])).toEqual([
      ['health', true, 200],
      ['db_health', true, 200],
      ['chat_happy', true, 200],
      ['chat_415', true, 415],
      ['cost_gate_chat', true, 200],
      ['burst_429', true, undefined],
    ]);
    for (const r of results) expect(r.attempts).toBe(1);
    expect(results[0]?.target).toBe(`GET ${s.url}/health`);
    expect(results[5]?.target).toBe(`POST ${s.url}/api/chat x30`);
  });
});

describe('each HTTP gate fails for its own reason', () => {
  test('health gets no answer from a stopped service after the bounded connection retries', async () => {
    const s = await startSampleService();
    const base = s.url;
    await s.close();
    const result = await runGate('health', ctxFor(base));
    expect(result.pass).toBe(false);
    expect(result.status).toBeUndefined();
    expect(result.attempts).toBe(catalog.defaults.connectAttempts);
    expect(result.attempts).toBe(3);
    expect(result.detail).toContain('no answer');
    expect(result.detail).toContain('ECONNREFUSED');
  });

  test('db_health fails with 503 when the database is down and is tried exactly once', async () => {
    const s = await service({ dbDown: true });
    const result = await runGate('db_health', ctxFor(s.url));
    expect(result.pass).toBe(false);
    expect(result.status).toBe(503);
    expect(result.attempts).toBe(1);
    expect(result.detail).toContain('expected 200');
    expect(result.detail).toContain('database unreachable');
    expect(s.requests.filter((r) => r.path === '/db/health')).toHaveLength(1);
  });

  test('an HTTP error answer is never retried even with several connect attempts allowed', async () => {
    const s = await service({ chatStatus: 500 });
    const patient: GateCatalog = { ...catalog, defaults: { ...catalog.defaults, connectAttempts: 5 } };
    const result = await runGate('chat_happy', ctxFor(s.url, { catalog: patient }));
    expect(result.status).toBe(500);
    expect(result.attempts).toBe(1);
    expect(s.requests.filter((r) => r.path === '/api/chat')).toHaveLength(1);
  });

  test('chat_happy fails when chat answers 500', async () => {
    const s = await service({ chatStatus: 500 });
    const result = await runGate('chat_happy', ctxFor(s.url));
    expect(result.pass).toBe(false);
    expect(result.status).toBe(500);
    expect(result.detail).toContain('expected 200');
    expect(result.detail).toContain('injected fault');
  });

  test('chat_415 fails when the service accepts text/plain instead of answering 415', async () => {
    const s = await service({ no415: true });
    const result = await runGate('chat_415', ctxFor(s.url));
    expect(result.pass).toBe(false);
    expect(result.status).not.toBe(415);
    expect(result.status).toBe(400);
    expect(result.detail).toContain('expected 415');
  });

  test('with a per-request token cap chat_happy passes while the cost gate is blocked with 429 BUDGET_EXCEEDED', async () => {
    const s = await service({ requestMaxTokens: 100 });
    const [happy, cost] = await runGates(['chat_happy', 'cost_gate_chat'], ctxFor(s.url));
    expect(happy?.pass).toBe(true);
    expect(happy?.status).toBe(200);
    expect(cost?.pass).toBe(false);
    expect(cost?.status).toBe(429);
    expect(cost?.detail).toContain('expected 200');
    expect(cost?.detail).toContain('BUDGET_EXCEEDED');
  });

  test('with expectBudgetBlock the cost gate passes on 429 BUDGET_EXCEEDED', async () => {
    const s = await service({ requestMaxTokens: 100 });
    const result = await runGate('cost_gate_chat', ctxFor(s.url, { expectBudgetBlock: true }));
    expect(result.pass).toBe(true);
    expect(result.status).toBe(429);
    expect(result.detail).toContain('BUDGET_EXCEEDED');
  });

  test('with expectBudgetBlock and no cap the cost gate fails because it got 200', async () => {
    const s = await service();
    const result = await runGate('cost_gate_chat', ctxFor(s.url, { expectBudgetBlock: true }));
    expect(result.pass).toBe(false);
    expect(result.status).toBe(200);
    expect(result.detail).toContain('expected 429');
  });

  test('expectBudgetBlock only changes the cost gate: chat_happy still expects 200', async () => {
    const s = await service({ requestMaxTokens: 100 });
    const result = await runGate('chat_happy', ctxFor(s.url, { expectBudgetBlock: true }));
    expect(result.pass).toBe(true);
    expect(result.status).toBe(200);
  });
});

describe('the burst gate', () => {
  test('passes against a rate limit of 20 per window with 20 answered and 10 limited', async () => {
    const s = await service({ rateLimit: { limit: 20, windowMs: 60_000 } });
    const result = await runGate('burst_429', ctxFor(s.url));
    expect(result.pass).toBe(true);
    expect(result.counts).toEqual({ '200': 20, '429': 10 });
    expect(result.detail).toBe('30 requests: 20 x 200, 10 x 429, 0 x 5xx');
    expect(s.requests.filter((r) => r.path === '/api/chat')).toHaveLength(30);
  });

  test('fails when no rate limit answers 429', async () => {
    const s = await service();
    s.configure({ rateLimit: undefined });
    const result = await runGate('burst_429', ctxFor(s.url));
    expect(result.pass).toBe(false);
    expect(result.counts).toEqual({ '200': 30 });
    expect(result.detail).toContain('0 x 429');
  });

  test('fails when the service answers 5xx', async () => {
    const s = await service({ chatStatus: 500 });
    const result = await runGate('burst_429', ctxFor(s.url));
    expect(result.pass).toBe(false);
    expect(result.counts).toEqual({ '500': 30 });
    expect(result.detail).toContain('30 x 5xx');
  });

  test('fails when some answers are 429 but one is a 5xx', async () => {
    // The sample checks chatStatus before its rate limit, so a mix needs a tiny server of its own:
    // the first request gets 502, the rest alternate 200 and 429.
    let seen = 0;
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        seen++;
        res.writeHead(seen === 1 ? 502 : seen % 2 ? 429 : 200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const result = await runGate('burst_429', ctxFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
      expect(result.pass).toBe(false);
      expect(result.counts).toEqual({ '502': 1, '200': 15, '429': 14 });
      expect(result.detail).toContain('14 x 429, 1 x 5xx');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('the waves', () => {
  test('the cost gate starts after every first-wave gate answered and the burst after the cost gate', async () => {
    const latencyMs = 200;
    const s = await service({ latencyMs, rateLimit: { limit: 20, windowMs: 60_000 } });
    const results = await runGates(
      ['health', 'db_health', 'chat_happy', 'chat_415', 'cost_gate_chat', 'burst_429'],
      ctxFor(s.url),
    );
    expect(results.map((r) => r.name)).toEqual([
      'health',
      'db_health',
      'chat_happy',
      'chat_415',
      'cost_gate_chat',
      'burst_429',
    ]);
    const byKind = (kind: string) => s.requests.filter((r) => probeKind(r) === kind);
    const wave1 = [...byKind('/health'), ...byKind('/db/health'), ...byKind('chat_happy'), ...byKind('chat_415')];
    const cost = byKind('cost');
    const burst = byKind('burst');
    expect(wave1).toHaveLength(4);
    expect(cost).toHaveLength(1);
    expect(burst).toHaveLength(30);
    expect(s.requests).toHaveLength(35);
    // Ordering facts from the service's own log, not durations: the first wave runs concurrently
    // (every request arrived before any answer was written), the cost gate only after the last
    // first-wave answer, the burst only after the cost gate's answer, and the burst concurrently.
    const arrived = (rs: typeof wave1) => rs.map((r) => r.at);
    const answered = (rs: typeof wave1) => rs.map((r) => r.doneAt as number);
    expect(Math.max(...arrived(wave1))).toBeLessThanOrEqual(Math.min(...answered(wave1)));
    expect(cost[0]!.at).toBeGreaterThanOrEqual(Math.max(...answered(wave1)));
    expect(Math.min(...arrived(burst))).toBeGreaterThanOrEqual(cost[0]!.doneAt as number);
    expect(Math.max(...arrived(burst))).toBeLessThanOrEqual(Math.min(...answered(burst)));
  });

  test('results come back in the order named even when waves reorder the work', async () => {
    const s = await service();
    const results = await runGates(['burst_429', 'cost_gate_chat', 'health'], ctxFor(s.url));
    expect(results.map((r) => r.name)).toEqual(['burst_429', 'cost_gate_chat', 'health']);
    expect(probeKind(s.requests[0]!)).toBe('/health');
    expect(probeKind(s.requests[1]!)).toBe('cost');
  });
});

// ---------------------------------------------------------------------------------------------
// Command gates

/** Live (non-zombie) processes whose process group is `pgid`, from /proc. */
async function liveGroupMembers(pgid: number): Promise<number[]> {
  const live: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = await readFile(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z') live.push(Number(entry));
  }
  return live;
}

/** Whether `pid` is a live process (a zombie waiting to be reaped is not). */
async function alive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] !== 'Z';
  } catch {
    return false;
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 5_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function pidsIn(file: string): Promise<number[]> {
  try {
    return (await readFile(file, 'utf8')).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe('command gates', () => {
  let commandCatalog: GateCatalog;
  let dir: string;
  const script = async (name: string, body: string): Promise<string> => {
    const file = path.join(dir, name);
    await writeFile(file, `#!/bin/sh\n${body}\n`);
    await chmod(file, 0o755);
    return file;
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmp, 'commands-'));
    const gates = {
      release_drills_subset: { command: [await script('pass.sh', 'echo "drills: 12 passed"\nexit 0')] },
      certify_phase15_subset: { command: [await script('fail.sh', 'echo "phase 15: 1 failed" >&2\nexit 3')] },
      env_echo: { command: ['/bin/sh', await script('env.sh', 'echo "mode=$MODE base=$BASE"')] },
      breaker_drill: {
        command: [
          '/bin/sh',
          await script('hang.sh', 'sleep 300 &\necho "$!" >> "$1"\necho "$$" >> "$1"\nsleep 300'),
          path.join(dir, 'hang.pids'),
        ],
        timeoutMs: 500,
      },
      leaves_daemon: {
        command: [
          '/bin/sh',
          await script('daemon.sh', 'sleep 300 >/dev/null 2>&1 &\necho "$!" >> "$1"\necho "started helper"\nexit 0'),
          path.join(dir, 'daemon.pids'),
        ],
        timeoutMs: 10_000,
      },
      leaves_child_on_stdout: {
        command: [
          '/bin/sh',
          await script('child-stdout.sh', 'sleep 300 &\necho "$!" >> "$1"\necho "started helper"\nexit 0'),
          path.join(dir, 'child-stdout.pids'),
        ],
        timeoutMs: 1_500,
      },
      leaky: {
        command: [
          await script(
            'leaky.sh',
            [
              'echo "using GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789"',
              'echo "curl -H \'Authorization: Bearer leakyBearerValue12345\' $BASE"',
              'echo "done"',
            ].join('\n'),
          ),
        ],
      },
      missing_binary: { command: [path.join(dir, 'does-not-exist')] },
      // A file used as a directory: spawn throws ENOTDIR at once instead of emitting 'error'.
      not_a_directory: { command: [path.join(dir, 'pass.sh', 'inside')] },
    };
    const file = path.join(dir, 'gates.json');
    await writeFile(file, JSON.stringify({ gates }, null, 2));
    commandCatalog = loadGateCatalog(file);
  });

  const ctx = (extra: Partial<GateRunContext> = {}) =>
    ctxFor('http://127.0.0.1:9', { catalog: commandCatalog, ...extra });

  test('a command that exits 0 passes with the tail of its output as evidence', async () => {
    const result = await runGate('release_drills_subset', ctx());
    expect(result.pass).toBe(true);
    expect(result.status).toBe(0);
    expect(result.attempts).toBe(1);
    expect(result.detail).toBe('exit 0: drills: 12 passed');
  });

  test('a command that exits 3 fails with detail exit 3 and its stderr', async () => {
    const result = await runGate('certify_phase15_subset', ctx());
    expect(result.pass).toBe(false);
    expect(result.status).toBe(3);
    expect(result.detail).toBe('exit 3: phase 15: 1 failed');
  });

  test('MODE and BASE are in the command environment', async () => {
    const staging = await runGate('env_echo', ctx({ base: 'http://127.0.0.1:4242', mode: 'staging' }));
    expect(staging.detail).toBe('exit 0: mode=staging base=http://127.0.0.1:4242');
    const production = await runGate('env_echo', ctx({ base: 'https://chat.example.com', mode: 'production' }));
    expect(production.detail).toBe('exit 0: mode=production base=https://chat.example.com');
  });

  test('a command gate with no command configured fails naming the config key, without running anything', async () => {
    const result = await runGate('release_drills_subset', ctxFor('http://127.0.0.1:9'));
    expect(result.pass).toBe(false);
    expect(result.attempts).toBe(0);
    expect(result.detail).toContain('gates.release_drills_subset.command');
  });

  test('a command that cannot start fails saying so', async () => {
    const result = await runGate('missing_binary', ctx());
    expect(result.pass).toBe(false);
    expect(result.detail).toContain('could not start');
  });

  test('a command whose path runs through a file fails as a gate instead of failing the activity', async () => {
    const result = await runGate('not_a_directory', ctx());
    expect(result.pass).toBe(false);
    expect(result.detail).toContain('could not start');
    expect(result.detail).toContain('ENOTDIR');
  });

  test('a command past its timeout is killed together with its whole process group', async () => {
    const pidsFile = path.join(dir, 'hang.pids');
    const running = runGate('breaker_drill', ctx());
    // While it runs: the shell and both sleeps are live members of the shell's group.
    const [background, shell] = await waitFor('the script to record its pids', async () => {
      const pids = await pidsIn(pidsFile);
      return pids.length >= 2 ? pids : undefined;
    });
    expect(await alive(background!)).toBe(true);
    expect(await liveGroupMembers(shell!)).toEqual(expect.arrayContaining([shell, background]));
    expect((await liveGroupMembers(shell!)).length).toBeGreaterThanOrEqual(3);

    const result: GateResult = await running;
    expect(result.pass).toBe(false);
    expect(result.detail).toBe('killed after 500 ms');
    // SIGKILL is asynchronous; a survivor of the kill would still be there after this grace period.
    const survivors = await waitFor(
      'the process group to disappear',
      async () => {
        const live = await liveGroupMembers(shell!);
        return live.length === 0 ? live : undefined;
      },
      1_000,
    ).catch(async () => liveGroupMembers(shell!));
    expect(survivors).toEqual([]);
    expect(await alive(background!)).toBe(false);
    expect(await alive(shell!)).toBe(false);
  });

  test('a background child left behind with its output redirected is killed once the command exits 0', async () => {
    const result = await runGate('leaves_daemon', ctx());
    expect(result.pass).toBe(true);
    expect(result.detail).toBe('exit 0: started helper');
    const [child] = await pidsIn(path.join(dir, 'daemon.pids'));
    expect(child).toBeDefined();
    await waitFor('the left-behind child to die', async () => ((await alive(child!)) ? undefined : true), 1_000).catch(
      () => undefined,
    );
    expect(await alive(child!)).toBe(false);
  });

  // Regression: the gate once settled on 'close', which waits for every holder of the output pipes,
  // so a background child that inherited stdout made a command that exited 0 fail at its timeout.
  test('a command that exits 0 leaving a child on its stdout passes without waiting for its timeout', async () => {
    const result = await runGate('leaves_child_on_stdout', ctx());
    const pidsFile = path.join(dir, 'child-stdout.pids');
    // The script ran and recorded its child: without the file there would be nothing to check.
    expect(existsSync(pidsFile)).toBe(true);
    const [child] = await pidsIn(pidsFile);
    expect(child).toBeGreaterThan(1);
    // The group is killed once the command exits; the signal lands a moment later.
    await waitFor('the left-behind child to die', async () => ((await alive(child!)) ? undefined : true), 1_000).catch(
      () => undefined,
    );
    expect(await alive(child!)).toBe(false);
    // Its own exit, not the timeout ("killed after …"), decided the gate.
    expect(result.detail).toBe('exit 0: started helper');
    expect(result.pass).toBe(true);
  });

  test('a secret-looking token printed by the command is redacted from the detail', async () => {
    const result = await runGate('leaky', ctx());
    expect(result.pass).toBe(true);
    expect(result.detail).not.toContain('ghp_abcdefghijklmnopqrstuvwxyz0123456789');
    expect(result.detail).not.toContain('leakyBearerValue12345');
    expect(result.detail).toContain('GITHUB_TOKEN=[REDACTED]');
    expect(result.detail).toContain('Authorization: [REDACTED]');
    expect(result.detail).toContain('done');
  });
});

// ---------------------------------------------------------------------------------------------
// Secrets in headers

/** Every 8-character piece of `secret`: none may survive in evidence, even cut or escaped. */
function piecesOf(secret: string): string[] {
  return Array.from({ length: secret.length - 7 }, (_, i) => secret.slice(i, i + 8));
}

describe('header values in evidence', () => {
  const HTTP_GATES = ['health', 'db_health', 'chat_happy', 'chat_415', 'cost_gate_chat', 'burst_429'];

  test('a header value from ctx.headers is sent but never appears in any gate detail although the service echoes it', async () => {
    const value = 'plain-looking-value-4711';
    const s = await service({ echoHeaders: true, rateLimit: { limit: 20, windowMs: 60_000 } });
    const results = await runGates(HTTP_GATES, ctxFor(s.url, { headers: { 'x-gate-key': value } }));
    expect(results.every((r) => r.pass)).toBe(true);
    expect(s.requests.length).toBeGreaterThan(0);
    expect(s.requests.every((r) => r.headers['x-gate-key'] === value)).toBe(true);
    const evidence = JSON.stringify(results);
    for (const piece of piecesOf(value)) expect(evidence).not.toContain(piece);
    // The echo did reach the evidence: masked, not missing.
    expect(evidence).toContain('[REDACTED]');
  });

  test('a failing gate quoting the echoed body masks the header value too', async () => {
    const value = 'another-plain-value-0815';
    const s = await service({ echoHeaders: true, dbDown: true, chatStatus: 500 });
    const results = await runGates(['db_health', 'chat_happy'], ctxFor(s.url, { headers: { 'x-gate-key': value } }));
    expect(results.map((r) => r.pass)).toEqual([false, false]);
    for (const r of results) {
      expect(r.detail).toContain('expected 200');
      for (const piece of piecesOf(value)) expect(r.detail).not.toContain(piece);
    }
  });

  // Regression: values were masked by literal match only, and a JSON echo escapes `"` and `\`.
  test('a header value with a quote is masked although JSON escapes it in the echo', async () => {
    const value = 'qq"plain-looking-rest-9911';
    const s = await service({ echoHeaders: true });
    const result = await runGate('health', ctxFor(s.url, { headers: { 'x-gate-key': value } }));
    expect(s.requests[0]?.headers['x-gate-key']).toBe(value);
    for (const piece of piecesOf(value)) expect(result.detail).not.toContain(piece);
  });

  // Regression: whitespace was collapsed before header values were masked.
  test('a header value with a double space is masked in the detail', async () => {
    const value = 'plain  double-spaced-value-77';
    const s = await service({ echoHeaders: true });
    const result = await runGate('health', ctxFor(s.url, { headers: { 'x-gate-key': value } }));
    expect(s.requests[0]?.headers['x-gate-key']).toBe(value);
    for (const piece of piecesOf(value.replace(/\s+/g, ' '))) expect(result.detail).not.toContain(piece);
  });
});

// ---------------------------------------------------------------------------------------------

describe('readDeployedVersion', () => {
  test('returns the version field of /health', async () => {
    const s = await service({ version: 'v1.2.3' });
    expect(
      await readDeployedVersion({ base: s.url, path: '/health', field: 'version' }, { dispatcher: agent, catalog }),
    ).toBe('v1.2.3');
  });

  test('follows dotted fields into nested objects and is null for a missing one', async () => {
    const s = await service({ echoHeaders: true });
    expect(
      await readDeployedVersion({ base: s.url, path: '/health', field: 'echo.host' }, { dispatcher: agent, catalog }),
    ).toBe(`127.0.0.1:${s.port}`);
    expect(
      await readDeployedVersion(
        { base: s.url, path: '/health', field: 'nope.version' },
        { dispatcher: agent, catalog },
      ),
    ).toBeNull();
  });

  test('is null on a 503 even though the body has the field', async () => {
    const s = await service({ dbDown: true });
    expect(
      await readDeployedVersion({ base: s.url, path: '/db/health', field: 'status' }, { dispatcher: agent, catalog }),
    ).toBeNull();
    s.configure({ dbDown: false });
    expect(
      await readDeployedVersion({ base: s.url, path: '/db/health', field: 'status' }, { dispatcher: agent, catalog }),
    ).toBe('ok');
  });

  test('is null when nothing answers', async () => {
    const s = await startSampleService();
    await s.close();
    expect(
      await readDeployedVersion({ base: s.url, path: '/health', field: 'version' }, { dispatcher: agent, catalog }),
    ).toBeNull();
  });
});
