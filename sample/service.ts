// The project's sample of the governed chat API (/health, /db/health, /api/chat): the reference
// target for the demo, the tests and the bench. Fault switches make every gate fail for its reason.
// A production instance follows a git branch: it "runs" whatever commit the branch points at,
// and that commit's service.json can break it, so a bad deploy is real.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';

export interface SampleBehaviour {
  /** Added to every answer, to model a real network and service. */
  latencyMs: number;
  dbDown: boolean;
  /** Answer /api/chat with this status instead of serving it (e.g. 500). */
  chatStatus?: number;
  /** Accept any content type (breaks chat_415). */
  no415: boolean;
  /**
   * Fixed-window rate limit on /api/chat: one window for every caller, as the seed's governed
   * chat API keeps it (so one caller's burst throttles the next caller).
   */
  rateLimit?: { limit: number; windowMs: number };
  /**
   * What a rate-limited 429 says about when to come back: nothing (the default), `Retry-After`
   * as seconds or as an HTTP-date, the IETF `RateLimit` field (draft 7+: `"chat";r=0;t=1`,
   * with `RateLimit-Policy`), or `RateLimit-Limit/-Remaining/-Reset` (drafts 1–2).
   */
  rateLimitHeaders: 'none' | 'retry-after-seconds' | 'retry-after-date' | 'ratelimit' | 'ratelimit-reset';
  /** Tokens the whole service may spend (≈ chars / 4) before answering 429 BUDGET_EXCEEDED. */
  globalBudgetTokens?: number;
  /** Per-request token cap (COST_REQUEST_MAX_TOKENS in the seed). */
  requestMaxTokens?: number;
  /** Echo the request headers in /api/chat and /health answers (for secret-leak tests). */
  echoHeaders: boolean;
  /**
   * How the echo spells the header values, as real services do: JSON strings, JSON with `\/`
   * for every slash (PHP's json_encode), each value base64 / upper-cased base64 / base64url /
   * hex / upper-cased hex / URL-encoded, or the whole header object as JSON, base64-encoded
   * (`base64-json`: the values sit at any offset of that base64). Unset: the original echo, the
   * headers as JSON after the answer's own fields. Set: the echo comes first in the body, so a
   * gate's excerpt (the first 160 characters) holds it.
   */
  echoEncoding?: EchoEncoding;
  /** Echo only these headers (lower-case names), e.g. the secret ones, so the echo stays short. */
  echoOnly?: string[];
  /** Fixed version reported by /health when not following a branch. */
  version?: string;
}

export type EchoEncoding =
  | 'json'
  | 'json-escaped-slashes'
  | 'base64'
  | 'base64-upper'
  | 'base64url'
  | 'base64-json'
  | 'hex'
  | 'hex-upper'
  | 'url';

const ECHO_VALUE: Record<
  Exclude<EchoEncoding, 'json' | 'json-escaped-slashes' | 'base64-json'>,
  (value: string) => string
> = {
  base64: (v) => Buffer.from(v).toString('base64'),
  'base64-upper': (v) => Buffer.from(v).toString('base64').toUpperCase(),
  base64url: (v) => Buffer.from(v).toString('base64url'),
  hex: (v) => Buffer.from(v).toString('hex'),
  'hex-upper': (v) => Buffer.from(v).toString('hex').toUpperCase(),
  url: (v) => encodeURIComponent(v),
};

/** The answer's body text with the request headers echoed as `b` says. */
function withEcho(body: unknown, headers: Record<string, string>, b: SampleBehaviour): string {
  if (!b.echoHeaders) return JSON.stringify(body);
  if (b.echoEncoding === undefined) return JSON.stringify({ ...(body as object), echo: headers });
  const only = b.echoOnly;
  const picked = only ? Object.fromEntries(Object.entries(headers).filter(([name]) => only.includes(name))) : headers;
  switch (b.echoEncoding) {
    case 'json':
      return JSON.stringify({ echo: picked, ...(body as object) });
    case 'json-escaped-slashes':
      return JSON.stringify({ echo: picked, ...(body as object) }).replace(/\//g, '\\/');
    case 'base64-json':
      return JSON.stringify({ echo: Buffer.from(JSON.stringify(picked)).toString('base64'), ...(body as object) });
    default: {
      const encode = ECHO_VALUE[b.echoEncoding];
      return JSON.stringify({
        echo: Object.fromEntries(Object.entries(picked).map(([name, value]) => [name, encode(value)])),
        ...(body as object),
      });
    }
  }
}

export interface SampleOptions extends Partial<SampleBehaviour> {
  port?: number;
  host?: string;
  name?: string;
  /**
   * Follow this branch of this (bare) repository: /health reports its tip, and service.json there
   * adds faults, in every environment or, when it lists `faultsIn`, only in those (a driver that
   * fails only against production's database). `environment` names this instance's; without
   * one, every fault applies.
   */
  follow?: { gitDir: string; branch: string; environment?: string };
}

export interface LoggedRequest {
  /** When the request arrived (ms since epoch). */
  at: number;
  /** When its answer was written (after the added latency). */
  doneAt?: number;
  method: string;
  path: string;
  status: number;
  headers: Record<string, string>;
  version?: string;
}

export interface SampleService {
  url: string;
  port: number;
  requests: LoggedRequest[];
  configure(change: Partial<SampleBehaviour>): void;
  close(): Promise<void>;
}

const DEFAULTS: SampleBehaviour = {
  latencyMs: 0,
  dbDown: false,
  no415: false,
  rateLimit: { limit: 20, windowMs: 1_000 },
  rateLimitHeaders: 'none',
  echoHeaders: false,
};

/** The headers a 429 carries for a window that ends at `windowEndMs`. */
function rateLimitHeaders(
  mode: SampleBehaviour['rateLimitHeaders'],
  { limit, windowMs }: { limit: number; windowMs: number },
  windowEndMs: number,
  now: number,
): Record<string, string> {
  // Delta-seconds round up, so a caller that honours them arrives after the window, not in it.
  const seconds = String(Math.max(1, Math.ceil((windowEndMs - now) / 1000)));
  switch (mode) {
    case 'none':
      return {};
    case 'retry-after-seconds':
      return { 'retry-after': seconds };
    case 'retry-after-date':
      return { 'retry-after': new Date(Math.ceil(windowEndMs / 1000) * 1000).toUTCString() };
    case 'ratelimit':
      return {
        'ratelimit-policy': `"chat";q=${limit};w=${Math.max(1, Math.round(windowMs / 1000))}`,
        ratelimit: `"chat";r=0;t=${seconds}`,
      };
    case 'ratelimit-reset':
      return { 'ratelimit-limit': String(limit), 'ratelimit-remaining': '0', 'ratelimit-reset': seconds };
  }
}

function gitOut(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { timeout: 10_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

/**
 * Reads the followed branch's tip on every request (the loose ref file: a push rewrites it, so
 * a deploy is visible at once) and that commit's service.json (cached per sha).
 */
function deploymentReader(follow: SampleOptions['follow']) {
  const faultsBySha = new Map<string, Partial<SampleBehaviour>>();
  return async (): Promise<{ sha?: string; faults: Partial<SampleBehaviour> }> => {
    if (!follow) return { faults: {} };
    let sha: string | undefined;
    try {
      sha = (await readFile(path.join(follow.gitDir, 'refs', 'heads', follow.branch), 'utf8')).trim();
    } catch {
      try {
        sha = (
          await gitOut(['--git-dir', follow.gitDir, 'rev-parse', '--verify', '--quiet', `refs/heads/${follow.branch}`])
        ).trim();
      } catch {
        sha = undefined;
      }
    }
    let faults: Partial<SampleBehaviour> = {};
    if (sha) {
      const known = faultsBySha.get(sha);
      if (known) faults = known;
      else {
        try {
          const text = await gitOut(['--git-dir', follow.gitDir, 'show', `${sha}:service.json`]);
          const service = JSON.parse(text) as { faults?: Partial<SampleBehaviour>; faultsIn?: string[] };
          const here = !service.faultsIn || !follow.environment || service.faultsIn.includes(follow.environment);
          faults = here ? (service.faults ?? {}) : {};
        } catch {
          faults = {};
        }
        faultsBySha.set(sha, faults);
      }
    }
    return { sha, faults };
  };
}

export async function startSampleService(options: SampleOptions = {}): Promise<SampleService> {
  let behaviour: SampleBehaviour = { ...DEFAULTS, ...stripUndefined(options) };
  const requests: LoggedRequest[] = [];
  const readDeployment = deploymentReader(options.follow);
  let window: { start: number; count: number } | undefined;
  let spentTokens = 0;

  const server = http.createServer((req, res) => {
    const arrivedAt = Date.now();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const deployment = await readDeployment();
        const b: SampleBehaviour = { ...behaviour, ...deployment.faults };
        const urlPath = (req.url ?? '/').split('?')[0] ?? '/';
        const headers = Object.fromEntries(
          Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]),
        );
        const send = (status: number, body: unknown, extraHeaders: Record<string, string> = {}) => {
          const logged: LoggedRequest = {
            at: arrivedAt,
            method: req.method ?? 'GET',
            path: urlPath,
            status,
            headers,
            version: deployment.sha ?? b.version,
          };
          requests.push(logged);
          const text = withEcho(body, headers, b);
          setTimeout(() => {
            res.writeHead(status, { 'content-type': 'application/json', ...extraHeaders });
            res.end(text);
            logged.doneAt = Date.now();
          }, b.latencyMs);
        };
        if (req.method === 'GET' && urlPath === '/health')
          return send(200, {
            status: 'ok',
            service: options.name ?? 'sample-chat',
            version: deployment.sha ?? b.version ?? 'unknown',
          });
        if (req.method === 'GET' && urlPath === '/db/health')
          return b.dbDown ? send(503, { status: 'down', error: 'database unreachable' }) : send(200, { status: 'ok' });
        if (urlPath === '/api/chat') {
          if (req.method !== 'POST') return send(405, { error: 'METHOD_NOT_ALLOWED' });
          if (!b.no415 && !(req.headers['content-type'] ?? '').startsWith('application/json'))
            return send(415, { error: 'UNSUPPORTED_MEDIA_TYPE', expected: 'application/json' });
          if (b.chatStatus) return send(b.chatStatus, { error: 'INTERNAL', detail: 'injected fault' });
          const now = Date.now();
          if (b.rateLimit) {
            if (!window || now - window.start >= b.rateLimit.windowMs) window = { start: now, count: 0 };
            window.count++;
            if (window.count > b.rateLimit.limit) {
              return send(
                429,
                { error: 'RATE_LIMITED', failureType: 'FailureType.RATE_LIMITED' },
                rateLimitHeaders(b.rateLimitHeaders, b.rateLimit, window.start + b.rateLimit.windowMs, now),
              );
            }
          }
          let message: unknown;
          try {
            message = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { message?: unknown }).message;
          } catch {
            return send(400, { error: 'INVALID_JSON' });
          }
          if (typeof message !== 'string' || message.length === 0) return send(400, { error: 'MESSAGE_REQUIRED' });
          const tokens = Math.ceil(message.length / 4);
          if (b.requestMaxTokens !== undefined && tokens > b.requestMaxTokens) {
            return send(429, {
              error: 'BUDGET_EXCEEDED',
              failureType: 'FailureType.BUDGET_EXCEEDED',
              limit: 'COST_REQUEST_MAX_TOKENS',
            });
          }
          if (b.globalBudgetTokens !== undefined && spentTokens + tokens > b.globalBudgetTokens) {
            return send(429, {
              error: 'BUDGET_EXCEEDED',
              failureType: 'FailureType.BUDGET_EXCEEDED',
              limit: 'COST_GLOBAL_DAILY_TOKENS',
            });
          }
          spentTokens += tokens;
          return send(200, { reply: `governed answer to ${message.length} characters`, tokens, governed: true });
        }
        return send(404, { error: 'NOT_FOUND' });
      })();
    });
  });
  // Bursts open many sockets at once; the default backlog is plenty, keep-alive keeps it cheap.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    configure(change) {
      behaviour = { ...behaviour, ...change };
      window = undefined;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
