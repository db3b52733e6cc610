// "Throttling is not a verdict" (SPEC §5) on the gate code itself, against real sample services
// on 127.0.0.1 whose one rate window is shared by every caller: a probe that meets a spent
// window waits it out (honouring each header form), a budget block and the burst's own 429s
// stay verdicts, and a target that never stops throttling fails within the bound, saying so.
import type { Agent } from 'undici';
import { newProbeAgent, runGate, runGates, GateRunContext, stagingCooldownMs } from '../src/activities/gates';
import { loadGateCatalog } from '../src/config';
import type { GateCatalog } from '../src/gates/catalog';
import { SampleBehaviour, SampleOptions, SampleService, startSampleService } from '../sample/service';

let agent: Agent;
let catalog: GateCatalog;
const services: SampleService[] = [];

beforeAll(() => {
  agent = newProbeAgent();
  catalog = loadGateCatalog();
});

afterEach(async () => {
  await Promise.all(services.splice(0).map((s) => s.close().catch(() => undefined)));
});

afterAll(async () => {
  await agent.close();
});

async function service(options: SampleOptions = {}): Promise<SampleService> {
  const s = await startSampleService(options);
  services.push(s);
  return s;
}

function ctxFor(base: string, extra: Partial<GateRunContext> = {}): GateRunContext {
  return { base, mode: 'staging', expectBudgetBlock: false, catalog, dispatcher: agent, ...extra };
}

function withDefaults(change: Partial<GateCatalog['defaults']>): GateCatalog {
  return { ...catalog, defaults: { ...catalog.defaults, ...change } };
}

/** Another caller spends the service's window, as a previous promotion's burst would. */
async function spendWindow(s: SampleService): Promise<void> {
  const burst = await runGate('burst_429', ctxFor(s.url));
  expect(burst.pass).toBe(true);
}

const chatAnswers = (s: SampleService) => s.requests.filter((r) => r.path === '/api/chat').map((r) => r.status);

describe('a probe that meets a spent rate window waits it out and passes', () => {
  const headerForms: Array<SampleBehaviour['rateLimitHeaders']> = [
    'retry-after-seconds',
    'retry-after-date',
    'ratelimit',
    'ratelimit-reset',
  ];

  test.each(headerForms)(
    'with %s it waits as long as the header says: one throttled attempt, then the verdict',
    async (form) => {
      const s = await service({ rateLimitHeaders: form });
      await spendWindow(s);
      const result = await runGate('chat_happy', ctxFor(s.url));
      expect(result.pass).toBe(true);
      expect(result.status).toBe(200);
      // Waiting as the header said lands after the window: exactly one 429 before the 200.
      expect(result.throttled?.count).toBe(1);
      expect(result.attempts).toBe(2);
      expect(chatAnswers(s).slice(30)).toEqual([429, 200]);
    },
  );

  test('with no header it backs off with jitter until the window has passed', async () => {
    const s = await service({ rateLimitHeaders: 'none' });
    await spendWindow(s);
    const result = await runGate('chat_happy', ctxFor(s.url));
    expect(result.pass).toBe(true);
    expect(result.throttled?.count).toBeGreaterThanOrEqual(1);
    expect(result.throttled?.waitedMs).toBeGreaterThan(0);
    expect(result.attempts).toBe((result.throttled?.count ?? 0) + 1);
    expect(chatAnswers(s).slice(30).at(-1)).toBe(200);
    expect(
      chatAnswers(s)
        .slice(30, -1)
        .every((status) => status === 429),
    ).toBe(true);
  });

  test('the whole first wave and the cost gate wait it out too, and the evidence says how long', async () => {
    const s = await service({ rateLimitHeaders: 'retry-after-seconds' });
    await spendWindow(s);
    const results = await runGates(['health', 'chat_happy', 'chat_415', 'cost_gate_chat'], ctxFor(s.url));
    expect(results.map((r) => [r.name, r.pass])).toEqual([
      ['health', true],
      ['chat_happy', true],
      ['chat_415', true],
      ['cost_gate_chat', true],
    ]);
    // health and chat_415 are answered before the limiter: never throttled.
    expect(results[0]?.throttled).toBeUndefined();
    expect(results[2]?.throttled).toBeUndefined();
    expect(results[1]?.throttled?.count).toBe(1);
    expect(results[1]?.throttled?.waitedMs).toBeGreaterThanOrEqual(20);
  });

  test('with expectBudgetBlock a rate-limited 429 is waited out until the budget block answers', async () => {
    const s = await service({ rateLimitHeaders: 'retry-after-seconds', requestMaxTokens: 100 });
    await spendWindow(s);
    const result = await runGate('cost_gate_chat', ctxFor(s.url, { expectBudgetBlock: true }));
    expect(result.pass).toBe(true);
    expect(result.status).toBe(429);
    expect(result.detail).toContain('BUDGET_EXCEEDED');
    expect(result.throttled?.count).toBe(1);
  });
});

describe('verdicts are never retried', () => {
  test('a 429 BUDGET_EXCEEDED fails the cost gate at once, with one request', async () => {
    const s = await service({ requestMaxTokens: 100, rateLimitHeaders: 'retry-after-seconds' });
    const result = await runGate('cost_gate_chat', ctxFor(s.url));
    expect(result.pass).toBe(false);
    expect(result.status).toBe(429);
    expect(result.throttled).toBeUndefined();
    expect(result.attempts).toBe(1);
    expect(result.detail).toContain('BUDGET_EXCEEDED');
    expect(s.requests.filter((r) => r.path === '/api/chat')).toHaveLength(1);
  });

  test("the burst's expected 429s are its verdict: exactly the burst size is sent", async () => {
    const s = await service({ rateLimitHeaders: 'retry-after-seconds' });
    const result = await runGate('burst_429', ctxFor(s.url));
    expect(result.pass).toBe(true);
    expect(s.requests.filter((r) => r.path === '/api/chat')).toHaveLength(30);
  });

  test('a 503 is a verdict, never waited on', async () => {
    const s = await service({ chatStatus: 503 });
    const result = await runGate('chat_happy', ctxFor(s.url));
    expect(result.pass).toBe(false);
    expect(result.status).toBe(503);
    expect(result.attempts).toBe(1);
  });
});

describe('a target that never stops throttling', () => {
  test('fails within rateLimitWaitMs with a message that says it kept throttling', async () => {
    const s = await service({ rateLimit: { limit: 0, windowMs: 60_000 } });
    const bound = 1_500;
    const result = await runGate('chat_happy', ctxFor(s.url, { catalog: withDefaults({ rateLimitWaitMs: bound }) }));
    expect(result.pass).toBe(false);
    expect(result.status).toBe(429);
    expect(result.throttled?.count).toBeGreaterThanOrEqual(2);
    expect(result.throttled?.waitedMs).toBeLessThanOrEqual(bound);
    expect(result.detail).toContain('kept throttling');
    expect(result.detail).toContain('defaults.rateLimitWaitMs');
    expect(result.detail).not.toContain('expected 200');
  });

  test('that asks for longer than the bound allows fails at once, naming what it asked', async () => {
    const s = await service({ rateLimit: { limit: 0, windowMs: 60_000 }, rateLimitHeaders: 'retry-after-seconds' });
    const result = await runGate('chat_happy', ctxFor(s.url, { catalog: withDefaults({ rateLimitWaitMs: 5_000 }) }));
    expect(result.pass).toBe(false);
    expect(result.throttled).toEqual({ count: 1, waitedMs: 0 });
    expect(result.detail).toContain('asked to come back in 60.0 s');
  });

  test('with rateLimitWaitMs 0 a throttled answer fails at once', async () => {
    const s = await service({ rateLimit: { limit: 0, windowMs: 60_000 } });
    const result = await runGate('chat_happy', ctxFor(s.url, { catalog: withDefaults({ rateLimitWaitMs: 0 }) }));
    expect(result.pass).toBe(false);
    expect(result.attempts).toBe(1);
    expect(result.detail).toContain('kept throttling');
  });
});

describe('the cooldown a staging run leaves for the next run on its service', () => {
  test('is the window the burst learnt from the 429s', async () => {
    const s = await service({ rateLimitHeaders: 'ratelimit-reset', rateLimit: { limit: 20, windowMs: 3_000 } });
    const burst = await runGate('burst_429', ctxFor(s.url));
    expect(burst.rateLimitResetMs).toBe(3_000);
    expect(stagingCooldownMs([burst], catalog.defaults)).toBe(3_000);
  });

  test('is defaults.burstCooldownMs when the 429s name no reset', async () => {
    const s = await service({ rateLimitHeaders: 'none' });
    const burst = await runGate('burst_429', ctxFor(s.url));
    expect(burst.rateLimitResetMs).toBeUndefined();
    expect(stagingCooldownMs([burst], catalog.defaults)).toBe(1_000);
    expect(stagingCooldownMs([burst], withDefaults({ burstCooldownMs: 2_500 }).defaults)).toBe(2_500);
  });

  test('is nothing when no burst ran', async () => {
    const s = await service();
    expect(stagingCooldownMs([await runGate('health', ctxFor(s.url))], catalog.defaults)).toBe(0);
  });
});
