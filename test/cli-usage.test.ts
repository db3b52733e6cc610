// `release-promoter gates` as a user runs it (a real process, real exit codes): a base that is
// not a usable URL is a usage error naming --base (exit 2) and probes nothing; a usable one is
// probed in its canonical form.
import type { GateResult } from '../src/domain';
import { SampleService, startSampleService } from '../sample/service';
import { buildDist, CliRun, runCli } from './cli-process';

let target: SampleService;
let other: SampleService;
beforeAll(async () => {
  buildDist();
  target = await startSampleService({ name: 'production' });
  other = await startSampleService({ name: 'production' });
});
afterAll(async () => {
  await target?.close();
  await other?.close();
});

function cli(args: string[]): Promise<CliRun> {
  return runCli(args, { ...process.env, NO_COLOR: '1', GATES_CONFIG: '', ENVIRONMENTS_CONFIG: '' });
}

test('gates --base notaurl exits 2 with a usage error naming --base and runs no gate', async () => {
  const run = await cli(['gates', '--mode', 'staging', '--base', 'notaurl', '--json']);
  expect(run.code).toBe(2);
  expect(run.stderr).toContain('release-promoter: --base: must be an absolute http(s) URL');
  expect(run.stdout).toBe('');
});

test('gates with a base that reads as one host but reaches another exits 2 naming --base and probes neither', async () => {
  const port = (service: SampleService) => new URL(service.url).port;
  const run = await cli([
    'gates',
    '--mode',
    'production',
    '--base',
    `http://127.0.0.1:${port(target)}\\@127.0.0.1:${port(other)}`,
  ]);
  expect(run.code).toBe(2);
  expect(run.stderr).toContain('--base: must not contain a backslash');
  expect(run.stdout).toBe('');
  expect(target.requests).toEqual([]);
  expect(other.requests).toEqual([]);
});

test('gates probes a base in its canonical form: an upper-case scheme and a trailing slash still pass', async () => {
  const run = await cli(['gates', '--mode', 'production', '--base', `${target.url.toUpperCase()}/`, '--json']);
  expect(run.code).toBe(0);
  const results = JSON.parse(run.stdout) as GateResult[];
  expect(results.map((g) => g.name)).toEqual(['health', 'db_health', 'chat_happy', 'chat_415']);
  for (const gate of results) expect(gate.target.split(' ')[1]?.startsWith(`${target.url}/`)).toBe(true);
  expect(target.requests.map((r) => r.path).sort()).toEqual(['/api/chat', '/api/chat', '/db/health', '/health']);
}, 30_000);

test.each([
  ['ledger verify <missing>', ['ledger', 'verify', '/nonexistent/RELEASE_LOG.md'], 'pass the path'],
  ['ledger show <missing>', ['ledger', 'show', '/nonexistent/RELEASE_LOG.md'], 'pass the path'],
  [
    'history with RELEASE_LEDGER_PATH naming no file',
    ['history', '--environment', 'production', '--ledger', '/nonexistent/RELEASE_LOG.md'],
    'pass --ledger',
  ],
])('%s exits 2 and says which setting names the ledger', async (_name, args, how) => {
  const run = await cli(args);
  expect(run.code).toBe(2);
  expect(run.stderr).toContain(`no ledger at /nonexistent/RELEASE_LOG.md: set RELEASE_LEDGER or ${how}`);
  expect(run.stderr).not.toContain('ENOENT');
});
