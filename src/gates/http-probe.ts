// One HTTP probe of a gate: a request with a timeout and a bounded retry of connection errors,
// its body read up to a bound, and what a 429 said about when to come back.
import { Agent, Dispatcher, request } from 'undici';
import type { HttpProbe } from './catalog';
import { THROTTLE_HEADER_NAMES, ThrottleHeaders, throttleHintMs } from './throttle';

const MAX_BODY_BYTES = 64 * 1024;
const RETRYABLE_CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);

export function newProbeAgent(): Agent {
  return new Agent({ keepAliveTimeout: 10_000, connect: { timeout: 5_000 } });
}

/** Where a probe goes and how it gets there. */
export interface ProbeTarget {
  base: string;
  dispatcher: Dispatcher;
  /** Header values come from the worker's environment; callers mask them wherever they echo back. */
  headers?: Record<string, string>;
  /** Tries in all when the connection fails (`defaults.connectAttempts`). */
  connectAttempts: number;
}

export interface ProbeAnswer {
  status?: number;
  body: string;
  latencyMs: number;
  attempts: number;
  error?: string;
  /** What a 429 said about when to come back (ms), read when the answer arrived. */
  retryHintMs?: number;
}

/** One probe; connection errors are retried (bounded), an HTTP answer or a timeout never is. */
export async function sendProbe(probe: HttpProbe, timeoutMs: number, target: ProbeTarget): Promise<ProbeAnswer> {
  const attemptsAllowed = target.connectAttempts;
  let lastError = '';
  for (let attempt = 1; attempt <= attemptsAllowed; attempt++) {
    const started = performance.now();
    try {
      const headers: Record<string, string> = { ...(target.headers ?? {}) };
      if (probe.contentType) headers['content-type'] = probe.contentType;
      const answer = await request(target.base + probe.path, {
        method: probe.method,
        headers,
        body: probe.body,
        dispatcher: target.dispatcher,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const body = await readLimited(answer.body);
      const latencyMs = Math.round(performance.now() - started);
      const retryHintMs =
        answer.statusCode === 429 ? throttleHintMs(throttleHeaders(answer.headers), Date.now()) : undefined;
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
