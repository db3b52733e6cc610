// Gate runs: the catalog's HTTP gates, bursts and commands against one base, in SPEC §5's waves,
// with evidence that carries no secret. The probe itself is src/gates/http-probe.ts.
import type { Dispatcher } from 'undici';
import type { GateResult } from '../domain';
import type { GateCatalog, GateDefinition, HttpExpectation } from '../gates/catalog';
import { runCommandGate } from '../gates/command-gate';
import { excerpt } from '../gates/excerpt';
import { ProbeAnswer, ProbeTarget, sendProbe } from '../gates/http-probe';
import { describeThrottling, isRateLimited, throttleWaitMs } from '../gates/throttle';
import { redactValues } from '../redact';

export { newProbeAgent } from '../gates/http-probe';

export interface GateRunContext {
  base: string;
  mode: 'staging' | 'production';
  expectBudgetBlock: boolean;
  catalog: GateCatalog;
  dispatcher: Dispatcher;
  /** Header values come from the worker's environment; they are masked wherever they echo back. */
  headers?: Record<string, string>;
}

/** Runs the named gates in SPEC §5's waves (1, then 2, then 3); results in the order named. */
export async function runGates(names: readonly string[], ctx: GateRunContext): Promise<GateResult[]> {
  const results = new Map<string, GateResult>();
  for (const wave of [1, 2, 3]) {
    const inWave = names.filter((name) => (ctx.catalog.gates[name]?.wave ?? 1) === wave);
    const done = await Promise.all(inWave.map((name) => runGate(name, ctx)));
    done.forEach((result) => results.set(result.name, result));
  }
  return names.map((name) => results.get(name) as GateResult);
}

export async function runGate(name: string, ctx: GateRunContext): Promise<GateResult> {
  const gate = ctx.catalog.gates[name];
  if (!gate)
    return { name, target: ctx.base, pass: false, latencyMs: 0, attempts: 0, detail: `unknown gate "${name}"` };
  switch (gate.kind) {
    case 'http':
      return runHttpGate(name, gate, ctx);
    case 'burst':
      return runBurstGate(name, gate, ctx);
    case 'command':
      return runCommandGate(name, gate, { base: ctx.base, mode: ctx.mode, secrets: secretsOf(ctx) });
  }
}

function secretsOf(ctx: Pick<GateRunContext, 'headers'>): string[] {
  return Object.values(ctx.headers ?? {});
}

function probeTarget(ctx: Pick<GateRunContext, 'base' | 'dispatcher' | 'headers' | 'catalog'>): ProbeTarget {
  return {
    base: ctx.base,
    dispatcher: ctx.dispatcher,
    headers: ctx.headers,
    connectAttempts: ctx.catalog.defaults.connectAttempts,
  };
}

function meets(expect: HttpExpectation, answer: ProbeAnswer): { pass: boolean; why?: string } {
  if (answer.status !== expect.status) return { pass: false, why: `expected ${expect.status}` };
  if (expect.jsonObject) {
    try {
      const parsed: unknown = JSON.parse(answer.body);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        return { pass: false, why: 'expected a JSON object body' };
    } catch {
      return { pass: false, why: 'expected a JSON object body' };
    }
  }
  if (expect.bodyIncludes && !answer.body.includes(expect.bodyIncludes))
    return { pass: false, why: `expected the body to name ${expect.bodyIncludes}` };
  return { pass: true };
}

async function runHttpGate(
  name: string,
  gate: Extract<GateDefinition, { kind: 'http' }>,
  ctx: GateRunContext,
): Promise<GateResult> {
  const expect = ctx.expectBudgetBlock && gate.expectWhenBudgetBlocked ? gate.expectWhenBudgetBlocked : gate.expect;
  const timeoutMs = gate.timeoutMs ?? ctx.catalog.defaults.timeoutMs;
  const waitBoundMs = ctx.catalog.defaults.rateLimitWaitMs;
  const secrets = secretsOf(ctx);
  const probe = probeTarget(ctx);
  const target = `${gate.request.method} ${ctx.base}${gate.request.path}`;
  let attempts = 0;
  const throttled = { count: 0, waitedMs: 0 };
  for (;;) {
    const answer = await sendProbe(gate.request, timeoutMs, probe);
    attempts += answer.attempts;
    const evidence = {
      name,
      target,
      latencyMs: answer.latencyMs,
      attempts,
      ...(throttled.count ? { throttled: { ...throttled } } : {}),
    };
    if (answer.error !== undefined)
      return { ...evidence, pass: false, detail: excerpt(`no answer: ${answer.error}`, secrets) };
    const verdict = meets(expect, answer);
    if (verdict.pass || !isRateLimited(answer.status, answer.body)) {
      const detail = verdict.pass
        ? excerpt(answer.body, secrets)
        : excerpt(`${verdict.why ?? ''}; body: ${answer.body}`, secrets);
      return { ...evidence, pass: verdict.pass, status: answer.status, detail };
    }
    // Busy, not broken: wait it out within the bound, then try again.
    throttled.count++;
    const waitMs = throttleWaitMs(answer.retryHintMs, throttled.count);
    const leftMs = waitBoundMs - throttled.waitedMs;
    if (leftMs <= 0 || (answer.retryHintMs !== undefined && waitMs > leftMs)) {
      const asked =
        answer.retryHintMs !== undefined && waitMs > leftMs
          ? `; it asked to come back in ${(answer.retryHintMs / 1000).toFixed(1)} s`
          : '';
      // Short enough that the excerpt keeps it whole; what to do next is the promotion's message.
      const why = `kept throttling: ${describeThrottling(throttled)} of defaults.rateLimitWaitMs ${(waitBoundMs / 1000).toFixed(1)} s${asked}`;
      return {
        ...evidence,
        throttled: { ...throttled },
        pass: false,
        status: answer.status,
        detail: excerpt(`${why}; body: ${answer.body}`, secrets),
      };
    }
    const sleepMs = Math.min(waitMs, leftMs);
    await new Promise((resolve) => setTimeout(resolve, sleepMs));
    throttled.waitedMs += sleepMs;
  }
}

async function runBurstGate(
  name: string,
  gate: Extract<GateDefinition, { kind: 'burst' }>,
  ctx: GateRunContext,
): Promise<GateResult> {
  const size = gate.size ?? ctx.catalog.defaults.burstSize;
  const started = performance.now();
  const probe = probeTarget(ctx);
  const answers = await Promise.all(
    Array.from({ length: size }, () =>
      sendProbe(gate.request, gate.timeoutMs ?? ctx.catalog.defaults.timeoutMs, probe),
    ),
  );
  const counts: Record<string, number> = {};
  for (const answer of answers) {
    const key = answer.status === undefined ? 'error' : String(answer.status);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  const limited = counts['429'] ?? 0;
  const hints = answers.map((a) => a.retryHintMs).filter((ms): ms is number => ms !== undefined);
  const serverErrors = answers.filter((a) => (a.status ?? 0) >= 500).length;
  const noAnswer = counts['error'] ?? 0;
  const others = Object.entries(counts)
    .filter(([status]) => status !== '429' && status !== 'error' && !status.startsWith('5'))
    .map(([status, n]) => `${n} x ${status}`);
  const detail = [
    `${size} requests: ${[...others, `${limited} x 429`, `${serverErrors} x 5xx`].join(', ')}`,
    noAnswer ? `${noAnswer} without answer` : '',
  ]
    .filter(Boolean)
    .join(', ');
  return {
    name,
    target: `${gate.request.method} ${ctx.base}${gate.request.path} x${size}`,
    pass: limited > 0 && serverErrors === 0 && noAnswer === 0,
    latencyMs: Math.round(performance.now() - started),
    attempts: 1,
    detail,
    counts,
    ...(hints.length ? { rateLimitResetMs: Math.max(...hints) } : {}),
  };
}

/** A spent rate window is not waited for longer than this, whatever a target's headers say. */
const MAX_COOLDOWN_MS = 60_000;

/**
 * How long the next gate run on this staging service should wait after this one: the window its
 * burst spent, as the 429s told it, else `defaults.burstCooldownMs`; nothing when no burst ran.
 */
export function stagingCooldownMs(results: GateResult[], defaults: GateCatalog['defaults']): number {
  const burst = results.find((r) => r.counts !== undefined);
  if (!burst) return 0;
  return Math.min(MAX_COOLDOWN_MS, burst.rateLimitResetMs ?? defaults.burstCooldownMs);
}

/**
 * One look at what production says it runs: GET `path`, the JSON `field` (dots for nesting).
 * Null when there is no answer or no such field: the caller polls again on a durable timer.
 */
export async function readDeployedVersion(
  args: { base: string; path: string; field: string },
  ctx: Pick<GateRunContext, 'dispatcher' | 'catalog' | 'headers'>,
): Promise<string | null> {
  const answer = await sendProbe(
    { method: 'GET', path: args.path },
    ctx.catalog.defaults.timeoutMs,
    probeTarget({ ...ctx, base: args.base }),
  );
  if (answer.status !== 200) return null;
  try {
    let value: unknown = JSON.parse(answer.body);
    for (const part of args.field.split('.'))
      value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[part] : undefined;
    // What production says goes into history: a field that echoes a header must not carry it, and
    // a version is short (a sha, a tag), so anything longer is no version.
    if (typeof value !== 'string' && typeof value !== 'number') return null;
    return redactValues(String(value), secretsOf(ctx)).slice(0, 200);
  } catch {
    return null;
  }
}
