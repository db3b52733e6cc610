// The git ledger's appends per second with two processes (SPEC §8, issue 17): two appending
// processes, each with its own cache clone, reserve + append entries one after another on one
// branch of a local bare repository, as two workers on two hosts do at the end of each promotion.
// `gitLedgerBench` is the bench's part; run as a script, this file is one appending process.
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { failureTypeOf } from '../src/failures';
import type { PromotionRecord } from '../src/ledger/entry';
import { GitLedger } from '../src/ledger/git-ledger';
import { verifyGitLedger } from '../src/ledger/git-verify';
import type { GitLedgerLocation } from '../src/ledger/location';

export interface GitLedgerFigures {
  /** Entries (a reservation commit + an entry commit each) per second, both processes together, start-up excluded. */
  gitAppendsPerSecond: number;
  /** The same with the processes' start-up (tsx loading) included. */
  gitAppendsPerSecondWithStartup: number;
  /** Median milliseconds from reserve to appended, per entry, across both processes. */
  gitAppendMedianMs: number;
  /** Attempts that lost their race MAX_PUSHES times and were run again (LedgerContended), both processes. */
  gitContendedAttempts: number;
}

const SHA = 'b'.repeat(40);

function record(releaseId: string, workflowId: string, i: number): PromotionRecord {
  return {
    type: 'promotion',
    releaseId,
    workflowId,
    evidenceRef: `temporal:default/${workflowId}/run`,
    commitSha: SHA,
    environment: 'production',
    repo: '/srv/git/chat.git',
    fromBranch: 'main',
    toBranch: 'release',
    stagingBase: 'https://staging.example.com',
    stagingGateCommand: 'release-promoter gates --mode staging --base https://staging.example.com',
    stagingGateResult: 'pass',
    gatesRun: [],
    changeClass: 'A',
    prodVerification: [],
    result: 'pass',
    rollbackPlan: 'rollbackWorkflow',
    notes: `git ledger bench ${i}`,
    operator: 'bench',
    approvals: [],
    extras: [],
  };
}

/** One appending process: `count` entries one after another; prints elapsedMs and each entry's ms. */
async function appendProcess(location: GitLedgerLocation, gitCacheDir: string, count: number, prefix: string) {
  const ledger = new GitLedger(location, gitCacheDir);
  const each: number[] = [];
  let contended = 0;
  // As the activity's retry policy does: an attempt that kept losing its race runs again.
  const retried = async <T>(op: () => Promise<T>): Promise<T> => {
    for (;;) {
      try {
        return await op();
      } catch (err) {
        if (failureTypeOf(err) !== 'LedgerContended') throw err;
        contended++;
      }
    }
  };
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const workflowId = `${prefix}-${i}`;
    const releaseId = await retried(() => ledger.reserve({ workflowId, kind: 'rc', at: new Date().toISOString() }));
    await retried(() => ledger.append(record(releaseId, workflowId, i), async () => SHA));
    each.push(Math.round(performance.now() - t0));
  }
  process.stdout.write(
    `elapsedMs=${Math.round(performance.now() - started)}\ncontended=${contended}\neach=${each.join(',')}\n`,
  );
}

function runNode(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/**
 * Two processes x `perProcess` entries on a fresh git ledger in `dir`; throws unless the branch
 * ends with every entry on one chain that verifies commit by commit.
 */
export async function gitLedgerBench(dir: string, perProcess: number): Promise<GitLedgerFigures> {
  await mkdir(dir, { recursive: true });
  const bare = path.join(dir, 'ledger.git');
  await new Promise<void>((resolve, reject) =>
    execFile('git', ['init', '--quiet', '--bare', bare], (err) => (err ? reject(err) : resolve())),
  );
  const location: GitLedgerLocation = { kind: 'git', remote: bare, branch: 'release-log', path: 'RELEASE_LOG.md' };
  const t0 = performance.now();
  const runs = await Promise.all(
    [0, 1].map((p) =>
      runNode([
        '--require',
        'tsx/cjs',
        __filename,
        JSON.stringify(location),
        path.join(dir, `cache-${p}`),
        String(perProcess),
        `p${p}`,
      ]),
    ),
  );
  const wallS = (performance.now() - t0) / 1000;
  if (runs.some((r) => r.code !== 0))
    throw new Error(`git ledger appenders failed: ${runs.map((r) => r.stderr || r.stdout).join('\n')}`);
  const report = await verifyGitLedger(location, path.join(dir, 'verify-cache'));
  if (!report?.ok || report.entries !== 2 * perProcess)
    throw new Error(`the git ledger bench left ${report?.entries} entries: ${report?.problem?.message}`);
  const innerS = Math.max(...runs.map((r) => Number(/elapsedMs=(\d+)/.exec(r.stdout)?.[1] ?? NaN))) / 1000;
  const each = runs
    .flatMap((r) => (/each=([\d,]*)/.exec(r.stdout)?.[1] ?? '').split(','))
    .filter(Boolean)
    .map(Number)
    .sort((a, b) => a - b);
  return {
    gitAppendsPerSecond: Number(((2 * perProcess) / innerS).toFixed(1)),
    gitAppendsPerSecondWithStartup: Number(((2 * perProcess) / wallS).toFixed(1)),
    gitAppendMedianMs: each[Math.floor(each.length / 2)] ?? NaN,
    gitContendedAttempts: runs.reduce((sum, r) => sum + Number(/contended=(\d+)/.exec(r.stdout)?.[1] ?? 0), 0),
  };
}

if (require.main === module) {
  const [locationJson, gitCacheDir, count, prefix] = process.argv.slice(2) as [string, string, string, string];
  appendProcess(JSON.parse(locationJson) as GitLedgerLocation, gitCacheDir, Number(count), prefix).catch(
    (err: Error) => {
      process.stderr.write(`${err.stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
