// Where the `temporal` CLI lives (SPEC §2): scripts/ensure-temporal.sh is the one resolver,
// so the demo, the tests and the bench all find (or install into .tools/) the same binary.
import { execFileSync } from 'node:child_process';
import path from 'node:path';

export function resolveTemporalCli(): string {
  const script = path.join(__dirname, '..', 'scripts', 'ensure-temporal.sh');
  return execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}
