// Where the `temporal` CLI lives (SPEC §2): scripts/ensure-temporal.sh is the one resolver,
// so the demo, the tests and the bench all find (or install into .tools/) the same binary.
import { execFileSync } from 'node:child_process';
import path from 'node:path';

export function resolveTemporalCli(): string {
  const script = path.join(__dirname, '..', 'scripts', 'ensure-temporal.sh');
  return execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

/**
 * Server limits the dev server runs with (demo, tests, bench); a cluster sets the same in its
 * dynamic config (docker-compose.yml does). Every signal's payload stays in a workflow's
 * history, so a 1.9 MB `approve` repeated 28 times would take a promotion past the 50 MB
 * history limit, and the server terminates it with its entry unwritten. No payload of ours
 * comes near 256 KiB (a promotion's status is bounded), so the server refuses anything larger
 * before it reaches a history.
 */
export const DEV_SERVER_LIMITS = [
  '--dynamic-config-value',
  'limit.blobSize.error=262144',
  '--dynamic-config-value',
  'limit.blobSize.warn=65536',
];

/**
 * `temporal server start-dev` without its UI on 127.0.0.1:`port`, its SQLite file `dbFile`,
 * errors-only log and our limits; `extra` adds flags (pragmas, search attributes).
 */
export function headlessDevServerArgs(port: number, dbFile: string, extra: string[] = []): string[] {
  return [
    'server',
    'start-dev',
    '--headless',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--db-filename',
    dbFile,
    '--log-level',
    'error',
    ...DEV_SERVER_LIMITS,
    ...extra,
  ];
}
