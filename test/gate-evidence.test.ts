// What a gate keeps of a target's answer (issue 13): terminal escapes and controls never reach the
// evidence, and a huge or endless body is read up to the bound and no further. Real HTTP servers
// on 127.0.0.1, the gate code on its own (no Temporal).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Agent } from 'undici';
import { newProbeAgent, runGate, GateRunContext } from '../src/activities/gates';
import { loadGateCatalog } from '../src/config';
import type { GateCatalog } from '../src/gates/catalog';

let agent: Agent;
let catalog: GateCatalog;
const servers: http.Server[] = [];

beforeAll(() => {
  agent = newProbeAgent();
  catalog = loadGateCatalog();
});

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  );
});

afterAll(async () => {
  await agent.close();
});

async function serve(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function ctxFor(base: string, extra: Partial<GateRunContext> = {}): GateRunContext {
  return { base, mode: 'staging', expectBudgetBlock: false, catalog, dispatcher: agent, ...extra };
}

describe('terminal escapes and controls in a body', () => {
  test('an ANSI-colored, retitling, bidi-reordered body is kept as its visible text only', async () => {
    const body = [
      '\u001b[31;1mred\u001b[0m',
      '\u001b]0;owned title\u0007ok',
      '\u001b]8;;https://evil.example\u001b\\link\u001b]8;;\u001b\\',
      '\u009b2Jcleared',
      'a\u202eevil\u202c\u2066b\u2069\u200f',
      'bell\u0007 nul\u0000 del\u007f c1\u0090x\u009c',
      'nel\u0085line',
    ].join(' ');
    const base = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(body);
    });
    const result = await runGate('health', ctxFor(base));
    expect(result.pass).toBe(true);
    expect(result.detail).toBe('red ok link cleared aevilb bell nul del c1 nel line');
  });

  test('a secret split by escape sequences in the echo is still masked', async () => {
    const value = 'plain/secret+value/42';
    const base = await serve((req, res) => {
      const echoed = String(req.headers['x-gate-secret']).replace('secret', 'sec\u001b[0mret\u202e');
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`echo ${echoed} done`);
    });
    const result = await runGate('health', ctxFor(base, { headers: { 'x-gate-secret': value } }));
    expect(result.detail).toBe('echo [REDACTED] done');
  });
});

describe('a body larger than the bound', () => {
  const TOTAL = 100 * 1024 * 1024;
  const CHUNK = 64 * 1024;

  /**
   * A /health answer of 100 MB, written as fast as the client takes it. `written` counts the
   * bytes the socket accepted (write callbacks), `ended` whether the whole answer got out.
   */
  async function hugeAnswer(): Promise<{
    base: string;
    stats: { written: number; ended: boolean; closedEarly: boolean };
  }> {
    const stats = { written: 0, ended: false, closedEarly: false };
    const chunk = Buffer.alloc(CHUNK, 'x');
    const base = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(TOTAL) });
      let queued = 0;
      let stopped = false;
      res.on('close', () => {
        stopped = true;
        if (!stats.ended) stats.closedEarly = true;
      });
      const pump = () => {
        while (!stopped && queued < TOTAL) {
          queued += CHUNK;
          const ok = res.write(chunk, (err) => {
            if (!err) stats.written += CHUNK;
          });
          if (!ok) return void res.once('drain', pump);
        }
        if (!stopped) res.end(() => (stats.ended = true));
      };
      pump();
    });
    return { base, stats };
  }

  test('a 100 MB answer is cut at the bound: the target gets to write a small part of it and the connection is closed', async () => {
    const { base, stats } = await hugeAnswer();
    // A generous probe timeout: without the bound the whole answer is read well within it.
    const result = await runGate(
      'health',
      ctxFor(base, { catalog: { ...catalog, defaults: { ...catalog.defaults, timeoutMs: 30_000 } } }),
    );
    expect(result.status).toBe(200);
    expect(result.pass).toBe(true);
    expect(result.detail).toMatch(/^x{160}…$/);
    // The client closed the connection; give the server a moment to see it.
    for (let i = 0; i < 100 && !stats.closedEarly && !stats.ended; i++) await new Promise((r) => setTimeout(r, 20));
    expect(stats).toMatchObject({ ended: false, closedEarly: true });
    // 64 KiB read, plus what the kernel buffers on loopback: far below the 100 MB offered.
    expect(stats.written).toBeLessThan(16 * 1024 * 1024);
  });

  test('a gate that expects a JSON object fails on a body cut at the bound instead of waiting for its end', async () => {
    const { base, stats } = await hugeAnswer();
    const gates: GateCatalog['gates'] = {
      json_health: {
        kind: 'http',
        staging: 'required',
        production: false,
        wave: 1,
        request: { method: 'GET', path: '/health' },
        expect: { status: 200, jsonObject: true },
      },
    };
    const result = await runGate(
      'json_health',
      ctxFor(base, { catalog: { gates, defaults: { ...catalog.defaults, timeoutMs: 30_000 } } }),
    );
    expect(result.pass).toBe(false);
    expect(result.detail).toContain('expected a JSON object body');
    for (let i = 0; i < 100 && !stats.closedEarly && !stats.ended; i++) await new Promise((r) => setTimeout(r, 20));
    expect(stats.ended).toBe(false);
    expect(stats.written).toBeLessThan(16 * 1024 * 1024);
  });
});
