// A command gate: the configured argument array run with MODE and BASE in its environment, in
// its own process group so a timeout kills it and everything it started.
import { ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { GateResult } from '../domain';
import type { GateDefinition } from './catalog';
import { excerpt } from './excerpt';

/** A command gate's bound when its definition sets none: drills run longer than a probe. */
const DEFAULT_COMMAND_TIMEOUT_MS = 120_000;

export interface CommandRun {
  base: string;
  mode: 'staging' | 'production';
  /** Values masked in the evidence (the probe headers' secrets a command could print). */
  secrets: readonly string[];
}

export async function runCommandGate(
  name: string,
  gate: Extract<GateDefinition, { kind: 'command' }>,
  run: CommandRun,
): Promise<GateResult> {
  const command = gate.command;
  if (!command || command.length === 0) {
    return {
      name,
      target: '(no command)',
      pass: false,
      latencyMs: 0,
      attempts: 0,
      detail: `no command configured: set gates.${name}.command in GATES_CONFIG`,
    };
  }
  const [file, ...args] = command as [string, ...string[]];
  const timeoutMs = gate.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const started = performance.now();
  const outcome = await new Promise<{
    code: number | null;
    signal: string | null;
    output: string;
    timedOut: boolean;
    error?: string;
  }>((resolve) => {
    let output = '';
    let timedOut = false;
    // Its own process group, so a timeout kills the command and everything it started.
    let child: ChildProcessByStdio<null, Readable, Readable>;
    try {
      child = spawn(file, args, {
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, MODE: run.mode, BASE: run.base },
      });
    } catch (err) {
      // Some errors (ENOTDIR, EACCES on a path component) are thrown here rather than emitted:
      // the gate failed to run, which is a failed gate, not a failed activity.
      resolve({ code: null, signal: null, output, timedOut, error: (err as Error).message });
      return;
    }
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
  const tail = excerpt(outcome.output.split('\n').filter(Boolean).slice(-3).join(' | '), run.secrets);
  const why = outcome.error
    ? `could not start: ${outcome.error}`
    : outcome.timedOut
      ? `killed after ${timeoutMs} ms`
      : `exit ${outcome.code ?? outcome.signal}`;
  return {
    name,
    target: command.join(' '),
    pass: !outcome.timedOut && outcome.code === 0,
    status: outcome.code ?? undefined,
    latencyMs,
    attempts: 1,
    detail: tail ? `${why}: ${tail}` : why,
  };
}
