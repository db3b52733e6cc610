// The worker's logger: Temporal's Logger interface over pino, one JSON line per message on
// stderr. Every string that reaches a line goes through redact() first: the SDK logs activity
// and workflow-task failures with their messages and stacks, and those may quote a target's
// answer or a remote's error. Writes are synchronous: the worker's last lines before an exit
// are the ones that matter.
import type { Logger, LogLevel, LogMetadata } from '@temporalio/common';
import pino, { type DestinationStream } from 'pino';
import { redact } from './redact';

const PINO_LEVEL: Record<LogLevel, pino.Level> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** How deep structured metadata is followed; deeper values are summarised, not serialised. */
const MAX_DEPTH = 6;

export function createLogger(
  level: LogLevel,
  destination: DestinationStream = pino.destination({ dest: 2, sync: true }),
): Logger {
  const logger = pino(
    {
      level: PINO_LEVEL[level],
      base: { pid: process.pid },
      // Header maps and keys that name a credential are dropped by path before anything else.
      redact: {
        paths: ['headers', '*.headers', 'authorization', '*.authorization', 'apiKey', '*.apiKey'],
        censor: '[REDACTED]',
      },
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
  const log = (lvl: LogLevel, message: string, meta?: LogMetadata) =>
    logger[PINO_LEVEL[lvl]](scrub(meta ?? {}, 0) as object, redact(message));
  return {
    log,
    trace: (message, meta) => log('TRACE', message, meta),
    debug: (message, meta) => log('DEBUG', message, meta),
    info: (message, meta) => log('INFO', message, meta),
    warn: (message, meta) => log('WARN', message, meta),
    error: (message, meta) => log('ERROR', message, meta),
  };
}

/** A copy of `value` with every string redacted and errors as { type, message, stack, cause }. */
function scrub(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return redact(value);
  if (typeof value !== 'object' || value === null) return typeof value === 'bigint' ? value.toString() : value;
  if (depth >= MAX_DEPTH) return '[nested too deep]';
  if (value instanceof Error) {
    const err = value as Error & { type?: string; cause?: unknown };
    return {
      type: err.type ?? err.name,
      message: redact(err.message),
      stack: err.stack === undefined ? undefined : redact(err.stack),
      cause: err.cause === undefined ? undefined : scrub(err.cause, depth + 1),
    };
  }
  if (Array.isArray(value)) return value.map((item) => scrub(item, depth + 1));
  if (value instanceof Date) return value.toISOString();
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, scrub(item, depth + 1)]));
}
