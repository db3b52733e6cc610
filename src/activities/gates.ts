// Gate probes: HTTP requests, bursts and commands from the catalog, with evidence that carries no secret.
import { spawn } from 'node:child_process';
import { Agent, Dispatcher, request } from 'undici';
import type { GateResult } from '../domain';
import type { GateCatalog, GateDefinition, HttpExpectation, HttpProbe } from '../gates/catalog';
import { redactValues } from '../redact';
import { describeThrottling, isRateLimited, THROTTLE_HEADER_NAMES, ThrottleHeaders, throttleHintMs, throttleWaitMs } from '../gates/throttle';

export interface GateRunContext {
  base: string;
  mode: 'staging' | 'production';
  expectBudgetBlock: boolean;
  catalog: GateCatalog;
  dispatcher: Dispatcher;
  /** Header values come from the worker's environment; they are masked wherever they echo back. */
  headers?: Record<string, string>;
}

const EXCERPT_CHARS = 160;
const MAX_BODY_BYTES = 64 * 1024;
const RETRYABLE_CONNECT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET']);

export function newProbeAgent(): Agent {
  return new Agent({ keepAliveTimeout: 10_000, connect: { timeout: 5_000 } });
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
  if (!gate) return { name, target: ctx.base, pass: false, latencyMs: 0, attempts: 0, detail: `unknown gate "${name}"` };
  switch (gate.kind) {
    case 'http':
      return runHttpGate(name, gate, ctx);
    case 'burst':
      return runBurstGate(name, gate, ctx);
    case 'command':
      return runCommandGate(name, gate, ctx);
  }
}

interface ProbeAnswer {
  status?: number;
  body: string;
  latencyMs: number;
  attempts: number;
  error?: string;
  /** What a 429 said about when to come back (ms), read when the answer arrived. */
  retryHintMs?: number;
}

function secretsOf(ctx: GateRunContext): string[] {
  return Object.values(ctx.headers ?? {});
}

/** One probe; connection errors are retried (bounded), an HTTP answer or a timeout never is. */
async function sendProbe(probe: HttpProbe, timeoutMs: number, ctx: GateRunContext): Promise<ProbeAnswer> {
  const attemptsAllowed = ctx.catalog.defaults.connectAttempts;
  let lastError = '';
  for (let attempt = 1; attempt <= attemptsAllowed; attempt++) {
    const started = performance.now();
    try {
      const headers: Record<string, string> = { ...(ctx.headers ?? {}) };
      if (probe.contentType) headers['content-type'] = probe.contentType;
      const answer = await request(ctx.base + probe.path, {
        method: probe.method,
        headers,
        body: probe.body,
        dispatcher: ctx.dispatcher,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const body = await readLimited(answer.body);
      const latencyMs = Math.round(performance.now() - started);
      const retryHintMs = answer.statusCode === 429 ? throttleHintMs(throttleHeaders(answer.headers), Date.now()) : undefined;
      return { status: answer.statusCode, body, latencyMs, attempts: attempt, retryHintMs };
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      lastError = `${code || (err as Error).name}: ${(err as Error).message}`;
      if (!RETRYABLE_CONNECT_CODES.has(code) || attempt === attemptsAllowed) {
        return { body: '', latencyMs: Math.round(performance.now() - started), attempts: attempt, error: lastError };
      }
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
  return { body: '', latencyMs: 0, attempts: attemptsAllowed, error: lastError };
}

function throttleHeaders(headers: Dispatcher.ResponseData['headers']): ThrottleHeaders {
  const picked: ThrottleHeaders = {};
  for (const name of THROTTLE_HEADER_NAMES) {
    const value = headers[name];
    if (value !== undefined) picked[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return picked;
}

/**
 * The first MAX_BODY_BYTES of the body. The rest is never read: the stream is destroyed at the
 * bound (closing that connection), so a 100 MB or endless answer costs 64 KiB, not a drain
 * until the probe's timeout.
 */
async function readLimited(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    chunks.push(buf.subarray(0, MAX_BODY_BYTES - size));
    size += buf.length;
    if (size >= MAX_BODY_BYTES) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}

function meets(expect: HttpExpectation, answer: ProbeAnswer): { pass: boolean; why?: string } {
  if (answer.status !== expect.status) return { pass: false, why: `expected ${expect.status}` };
  if (expect.jsonObject) {
    try {
      const parsed: unknown = JSON.parse(answer.body);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { pass: false, why: 'expected a JSON object body' };
    } catch {
      return { pass: false, why: 'expected a JSON object body' };
    }
  }
  if (expect.bodyIncludes && !answer.body.includes(expect.bodyIncludes)) return { pass: false, why: `expected the body to name ${expect.bodyIncludes}` };
  return { pass: true };
}

function excerpt(text: string, ctx: GateRunContext): string {
  // Terminal escape sequences: CSI (`ESC [ … m`, 8-bit CSI), OSC and the other string controls
  // (ended by BEL or ST), two-character escapes; then the controls left: C0 but tab and line
  // breaks (collapsed as whitespace below), DEL, C1, bidi controls.
  // eslint-disable-next-line no-control-regex -- escape sequences are control characters by nature
  const terminalEscape = /(?:\u001b\[|\u009b)[0-?]*[ -/]*[@-~]|(?:\u001b[\]PX^_]|[\u0090\u0098\u009d\u009e\u009f])[^\u0007\u001b\u009c]*(?:\u0007|\u001b\\|\u009c)?|\u001b[ -/]*[0-~]/g;
  // eslint-disable-next-line no-control-regex -- as above
  const control = /[\u0000-\u0008\u000e-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
  // A target's body may color or retitle a terminal that shows the evidence, or reorder it with
  // bidi controls: they go first, since removing them can join the pieces of an echoed secret.
  // NEL is a line break and becomes a space.
  const visible = text.replace(terminalEscape, '').replace(/\u0085/g, ' ').replace(control, '');
  // Mask the exact secrets first (whitespace collapsing would otherwise change them), then
  // again after, and before cutting, so no secret survives whole or in pieces.
  const secrets = secretsOf(ctx);
  const oneLine = redactValues(visible, secrets).replace(/\s+/g, ' ').trim();
  const clean = redactValues(oneLine, secrets);
  return clean.length > EXCERPT_CHARS ? `${clean.slice(0, EXCERPT_CHARS)}…` : clean;
}

async function runHttpGate(name: string, gate: Extract<GateDefinition, { kind: 'http' }>, ctx: GateRunContext): Promise<GateResult> {
  const expect = ctx.expectBudgetBlock && gate.expectWhenBudgetBlocked ? gate.expectWhenBudgetBlocked : gate.expect;
  const timeoutMs = gate.timeoutMs ?? ctx.catalog.defaults.timeoutMs;
  const waitBoundMs = ctx.catalog.defaults.rateLimitWaitMs;
  const target = `${gate.request.method} ${ctx.base}${gate.request.path}`;
  let attempts = 0;
  const throttled = { count: 0, waitedMs: 0 };
  for (;;) {
    const answer = await sendProbe(gate.request, timeoutMs, ctx);
    attempts += answer.attempts;
    const evidence = { name, target, latencyMs: answer.latencyMs, attempts, ...(throttled.count ? { throttled: { ...throttled } } : {}) };
    if (answer.error !== undefined) return { ...evidence, pass: false, detail: excerpt(`no answer: ${answer.error}`, ctx) };
    const verdict = meets(expect, answer);
    if (verdict.pass || !isRateLimited(answer.status, answer.body)) {
      const detail = verdict.pass ? excerpt(answer.body, ctx) : excerpt(`${verdict.why ?? ''}; body: ${answer.body}`, ctx);
      return { ...evidence, pass: verdict.pass, status: answer.status, detail };
    }
    // Busy, not broken: wait it out within the bound, then try again.
    throttled.count++;
    const waitMs = throttleWaitMs(answer.retryHintMs, throttled.count);
    const leftMs = waitBoundMs - throttled.waitedMs;
    if (leftMs <= 0 || (answer.retryHintMs !== undefined && waitMs > leftMs)) {
      const asked = answer.retryHintMs !== undefined && waitMs > leftMs ? `; it asked to come back in ${(answer.retryHintMs / 1000).toFixed(1)} s` : '';
      // Short enough that the excerpt keeps it whole; what to do next is the promotion's message.
      const why = `kept throttling: ${describeThrottling(throttled)} of defaults.rateLimitWaitMs ${(waitBoundMs / 1000).toFixed(1)} s${asked}`;
      return { ...evidence, throttled: { ...throttled }, pass: false, status: answer.status, detail: excerpt(`${why}; body: ${answer.body}`, ctx) };
    }
    const sleepMs = Math.min(waitMs, leftMs);
    await new Promise((resolve) => setTimeout(resolve, sleepMs));
    throttled.waitedMs += sleepMs;
  }
}

async function runBurstGate(name: string, gate: Extract<GateDefinition, { kind: 'burst' }>, ctx: GateRunContext): Promise<GateResult> {
  const size = gate.size ?? ctx.catalog.defaults.burstSize;
  const started = performance.now();
  const answers = await Promise.all(Array.from({ length: size }, () => sendProbe(gate.request, gate.timeoutMs ?? ctx.catalog.defaults.timeoutMs, ctx)));
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
  const detail = [`${size} requests: ${[...others, `${limited} x 429`, `${serverErrors} x 5xx`].join(', ')}`, noAnswer ? `${noAnswer} without answer` : '']
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

async function runCommandGate(name: string, gate: Extract<GateDefinition, { kind: 'command' }>, ctx: GateRunContext): Promise<GateResult> {
  const command = gate.command;
  if (!command || command.length === 0) {
    return { name, target: '(no command)', pass: false, latencyMs: 0, attempts: 0, detail: `no command configured: set gates.${name}.command in GATES_CONFIG` };
  }
  const [file, ...args] = command as [string, ...string[]];
  const timeoutMs = gate.timeoutMs ?? 120_000;
  const started = performance.now();
  const outcome = await new Promise<{ code: number | null; signal: string | null; output: string; timedOut: boolean; error?: string }>((resolve) => {
    let output = '';
    let timedOut = false;
    // Its own process group, so a timeout kills the command and everything it started.
    const child = spawn(file, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MODE: ctx.mode, BASE: ctx.base } });
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-4_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, output, timedOut, error: err.message });
    });
    // 'exit', not 'close': a background child still holding stdout must not make a command
    // that already exited 0 wait for (and fail at) its timeout. Stragglers die with the group.
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (child.pid) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // group already empty
        }
      }
      // Let output already written reach us before the tail is taken.
      setImmediate(() => resolve({ code, signal, output, timedOut }));
    });
  });
  const latencyMs = Math.round(performance.now() - started);
  const tail = excerpt(outcome.output.split('\n').filter(Boolean).slice(-3).join(' | '), ctx);
  const why = outcome.error ? `could not start: ${outcome.error}` : outcome.timedOut ? `killed after ${timeoutMs} ms` : `exit ${outcome.code ?? outcome.signal}`;
  return { name, target: command.join(' '), pass: !outcome.timedOut && outcome.code === 0, status: outcome.code ?? undefined, latencyMs, attempts: 1, detail: tail ? `${why}: ${tail}` : why };
}

/**
 * One look at what production says it runs: GET `path`, the JSON `field` (dots for nesting).
 * Null when there is no answer or no such field: the caller polls again on a durable timer.
 */
export async function readDeployedVersion(args: { base: string; path: string; field: string }, ctx: Pick<GateRunContext, 'dispatcher' | 'catalog' | 'headers'>): Promise<string | null> {
  const answer = await sendProbe({ method: 'GET', path: args.path }, ctx.catalog.defaults.timeoutMs, { ...ctx, base: args.base, mode: 'production', expectBudgetBlock: false });
  if (answer.status !== 200) return null;
  try {
    let value: unknown = JSON.parse(answer.body);
    for (const part of args.field.split('.')) value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[part] : undefined;
    // What production says goes into history: a field that echoes a header must not carry it, and
    // a version is short (a sha, a tag), so anything longer is no version.
    if (typeof value !== 'string' && typeof value !== 'number') return null;
    return redactValues(String(value), Object.values(ctx.headers ?? {})).slice(0, 200);
  } catch {
    return null;
  }
}
