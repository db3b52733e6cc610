// The ledger under hostile and careless conditions (issue 13): a file layer that fails (EACCES,
// EPERM, ENOSPC, short writes, a failed fsync or truncation), a ledger that does not verify (cut
// mid-block, garbage and an unclosed fence, edits and repeats appended by hand), symlinks, a file
// that is not a release log, and the drift reference and last known good per repo + branch.
// Real files in temp dirs; faults through an injected file layer, since tests run as root and
// chmod stops nothing. The last block runs real promotions on the dev server. Every expected line
// number is found in the file text by this file's own helpers, never by the project's parser.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rename, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { reservationsPath } from '../src/ledger/reservations';
import { appendLedgerEntry, lastRecordedTip, reserveReleaseId } from '../src/ledger/store';
import { loadConfig } from '../src/config';
import type { LedgerFields } from '../src/ledger/entry';
import { LEDGER_HEADING, parseLedger, renderBlock } from '../src/ledger/format';
import { ledgerIndex } from '../src/ledger/ledger-index';
import { driftReference, lastKnownGood } from '../src/ledger/target-references';
import { verifyLedger } from '../src/ledger/verify';
import { createSampleRepo } from '../sample/repo';
import { FaultyLedgerFiles } from './ledger-faults';
import { createHarness, Harness, uniqueId, waitFor } from './helpers';
import { configErrorOf, failureOf, promotion } from './records';
import { killWorker, startWorker } from './worker-process';

const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'release-promoter.js');
const SEED = path.join(__dirname, 'fixtures', 'seed-release-log.md');
const TIP = 'a'.repeat(40);
const readTip = async (): Promise<string> => TIP;
const AT = '2026-11-24T22:31:17.000Z';
const FENCE = '```';
const id = (n: number) => `20261124-2231-rc${n}`;

let tmp: string;
let ledgerPath: string;

beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ledger-integrity-'));
  ledgerPath = path.join(tmp, 'RELEASE_LOG.md');
});

afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

// ---- reading the file text independently ----------------------------------------------------

/** 1-based number of the last line equal to `exact`. */
function lastLineOf(text: string, exact: string): number {
  const at = text.split('\n').lastIndexOf(exact);
  if (at === -1) throw new Error(`no line ${JSON.stringify(exact)}`);
  return at + 1;
}

/** 1-based number of the one line equal to `exact`. */
function lineOf(text: string, exact: string): number {
  const hits = text.split('\n').flatMap((l, i) => (l === exact ? [i + 1] : []));
  if (hits.length !== 1) throw new Error(`${hits.length} lines equal ${JSON.stringify(exact)}`);
  return hits[0] as number;
}

/** The seed plus `count` entries appended by the tool (environment `canary`, so no real target's reference). */
async function seededLedger(count: number, file = ledgerPath): Promise<string> {
  await copyFile(SEED, file);
  for (let n = 1; n <= count; n++)
    await appendLedgerEntry(file, promotion(id(n), `wf-${n}`, { environment: 'canary' }), readTip);
  return readFile(file, 'utf8');
}

/** The text of `text` up to the start of the block whose id line is `- release_id: <releaseId>`, keeping the blank line before it. */
function before(text: string, releaseId: string): string {
  return text.slice(0, text.indexOf(`${FENCE}\n- release_id: ${releaseId}\n`));
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const fullEnv: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...env };
  delete fullEnv.FORCE_COLOR;
  const run = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: fullEnv,
    timeout: 60_000,
  });
  if (run.error) throw run.error;
  return run;
}

// ---- hand-built entries (every template key, so they verify) --------------------------------

interface EntrySpec {
  releaseId: string;
  type?: 'promotion' | 'rollback';
  result: 'pass' | 'fail' | 'completed' | 'partial';
  tip: string;
  repo?: string;
  environment?: string;
  branch?: string;
  rollbackReleaseId?: string;
  extras?: LedgerFields;
}

function fieldsOf(spec: EntrySpec): LedgerFields {
  const environment = spec.environment ?? 'production';
  const branch = spec.branch ?? 'release';
  const repo: LedgerFields = spec.repo ? [['repo', spec.repo]] : [];
  const tail: LedgerFields = [
    ['workflow_id', `wf-${spec.releaseId}`],
    ['branch_tip_after', spec.tip],
  ];
  if (spec.type === 'rollback') {
    return [
      ['release_id', spec.releaseId],
      ['type', 'rollback'],
      ['trigger', 'by hand'],
      ['from_sha', 'f'.repeat(40)],
      ['to_sha', spec.tip],
      ['environment', environment],
      ['actions', []],
      ['post_rollback_verification', []],
      ['result', spec.result],
      ['notes', ''],
      ['operator', 'bob'],
      ['evidence_refs', ''],
      ['to_branch', branch],
      ...repo,
      ...tail,
    ];
  }
  return [
    ['release_id', spec.releaseId],
    ['type', 'promotion'],
    ['commit_sha', spec.tip],
    ['environment', environment],
    ['from_branch', 'main'],
    ['to_branch', branch],
    ['staging_base', 'https://staging.example.com'],
    ['staging_gate_command', 'release-promoter gates'],
    ['staging_gate_result', 'pass'],
    ['gates_run', []],
    ['change_class', 'A'],
    ['prod_verification', []],
    ['result', spec.result],
    ['rollback_plan', ''],
    ['notes', ''],
    ['operator', 'bob'],
    ['evidence_refs', ''],
    ['cost_control_evidence', []],
    ...repo,
    ...(spec.rollbackReleaseId ? ([['rollback_release_id', spec.rollbackReleaseId]] as LedgerFields) : []),
    ...(spec.extras ?? []),
    ...tail,
  ];
}

/** Appends chained blocks for `specs` to `file` (created with the heading when missing), as a person with the tool's format would. */
async function appendByHand(file: string, specs: EntrySpec[]): Promise<void> {
  let text = existsSync(file) ? await readFile(file, 'utf8') : LEDGER_HEADING;
  let head = verifyLedger(text).head;
  for (const spec of specs) {
    const block = renderBlock(fieldsOf(spec), head);
    text += block.text;
    head = block.chain;
  }
  await writeFile(file, text);
}

const sha = (c: string) => c.repeat(40);

// ---- a failing file layer -------------------------------------------------------------------

describe('a failing file layer', () => {
  test.each(['EACCES', 'EPERM', 'ENOSPC'])(
    'an append whose write fails with %s is the retryable LedgerUnwritable naming the path and errno, and adds no byte',
    async (code) => {
      await seededLedger(1);
      const unchanged = await readFile(ledgerPath);
      const files = new FaultyLedgerFiles().fail('write', code, { path: ledgerPath });

      const err = await failureOf(appendLedgerEntry(ledgerPath, promotion(id(2), 'wf-2'), readTip, files));

      expect(err.type).toBe('LedgerUnwritable');
      expect(err.nonRetryable).toBe(false);
      expect(err.message).toContain(ledgerPath);
      expect(err.message).toContain(code);
      expect(err.details?.[0]).toMatchObject({ path: ledgerPath, errno: code });
      expect(files.fired).toEqual([{ op: 'write', path: ledgerPath, code }]);
      expect((await readFile(ledgerPath)).equals(unchanged)).toBe(true);

      files.heal();
      expect((await appendLedgerEntry(ledgerPath, promotion(id(2), 'wf-2'), readTip, files)).appended).toBe(true);
      expect(verifyLedger(await readFile(ledgerPath, 'utf8'))).toMatchObject({ ok: true, entries: 2 });
    },
  );

  test('a short write that cannot finish (the disk fills up) is truncated away: the file keeps its bytes and verifies, and the retry appends one whole entry', async () => {
    await seededLedger(1);
    const unchanged = await readFile(ledgerPath);
    const files = new FaultyLedgerFiles().shortWrite({ path: ledgerPath, bytes: 100, thenFail: 'ENOSPC' });

    const err = await failureOf(appendLedgerEntry(ledgerPath, promotion(id(2), 'wf-2'), readTip, files));

    expect(err.type).toBe('LedgerUnwritable');
    expect(err.nonRetryable).toBe(false);
    expect(err.message).toContain('ENOSPC');
    expect(err.message).toContain(`truncated away, back to ${unchanged.length} bytes`);
    expect(files.fired.map((f) => f.code)).toEqual([
      expect.stringMatching(/^short write of 100 of \d+ bytes$/),
      'ENOSPC',
    ]);
    expect((await readFile(ledgerPath)).equals(unchanged)).toBe(true);

    files.heal();
    await appendLedgerEntry(ledgerPath, promotion(id(2), 'wf-2'), readTip, files);
    const text = await readFile(ledgerPath, 'utf8');
    expect(verifyLedger(text)).toMatchObject({ ok: true, entries: 2 });
    expect(text.split('\n').filter((l) => l === `- release_id: ${id(2)}`)).toHaveLength(1);
  });

  test('a short write that the next write completes leaves one whole entry, which verifies', async () => {
    await seededLedger(1);
    const files = new FaultyLedgerFiles().shortWrite({ path: ledgerPath, bytes: 50 });

    expect((await appendLedgerEntry(ledgerPath, promotion(id(2), 'wf-2'), readTip, files)).appended).toBe(true);

    expect(files.fired).toHaveLength(1);
    expect(verifyLedger(await readFile(ledgerPath, 'utf8'))).toMatchObject({ ok: true, entries: 2 });
  });

  test('a failed fsync takes the written entry back, so the retry writes it exactly once', async () => {
    await seededLedger(1);
    const unchanged = await readFile(ledgerPath);
    const files = new FaultyLedgerFiles().fail('sync', 'EIO', { path: ledgerPath, times: 1 });

    const err = await failureOf(appendLedgerEntry(ledgerPath, promotion(id(2), 'wf-2'), readTip, files));

    expect(err.type).toBe('LedgerUnwritable');
    expect(err.message).toContain('EIO');
    expect((await readFile(ledgerPath)).equals(unchanged)).toBe(true);
    expect((await appendLedgerEntry(ledgerPath, promotion(id(2), 'wf-2'), readTip, files)).appended).toBe(true);
    expect(parseLedger(await readFile(ledgerPath, 'utf8')).entries.map((e) => e.releaseId)).toEqual([id(1), id(2)]);
  });

  test('when even the truncation fails, the torn entry stops the next append with LedgerDoesNotVerify at its opening fence, and nothing is written after it', async () => {
    await seededLedger(1);
    const unchanged = await readFile(ledgerPath);
    const files = new FaultyLedgerFiles()
      .shortWrite({ path: ledgerPath, bytes: 60, thenFail: 'ENOSPC' })
      .fail('truncate', 'EIO', { path: ledgerPath });

    const err = await failureOf(appendLedgerEntry(ledgerPath, promotion(id(2), 'wf-2'), readTip, files));
    expect(err.type).toBe('LedgerUnwritable');
    expect(err.message).toContain(`could not be truncated away`);
    const torn = await readFile(ledgerPath, 'utf8');
    expect(torn.length).toBe(unchanged.length + 60);
    const fence = lastLineOf(torn, FENCE);

    files.heal();
    const refused = await failureOf(appendLedgerEntry(ledgerPath, promotion(id(2), 'wf-2'), readTip, files));
    expect(refused.type).toBe('LedgerDoesNotVerify');
    expect(refused.nonRetryable).toBe(false);
    expect(refused.message).toContain(`line ${fence}`);
    expect(await readFile(ledgerPath, 'utf8')).toBe(torn);

    await truncate(ledgerPath, unchanged.length); // the operator's repair
    await appendLedgerEntry(ledgerPath, promotion(id(2), 'wf-2'), readTip, files);
    expect(verifyLedger(await readFile(ledgerPath, 'utf8'))).toMatchObject({ ok: true, entries: 2 });
  });

  test('a lock that cannot be taken is LedgerUnwritable naming the errno, not a bare Error', async () => {
    await seededLedger(1);
    const unchanged = await readFile(ledgerPath);
    const files = new FaultyLedgerFiles().fail('lock', 'EACCES');

    const err = await failureOf(appendLedgerEntry(ledgerPath, promotion(id(2), 'wf-2'), readTip, files));

    expect(err.type).toBe('LedgerUnwritable');
    expect(err.message).toMatch(/taking its lock.*EACCES/);
    expect((await readFile(ledgerPath)).equals(unchanged)).toBe(true);
  });

  test('a reservation whose write fails is LedgerUnwritable and reserves nothing; once healed the same workflow gets rc1', async () => {
    await seededLedger(0);
    const files = new FaultyLedgerFiles().fail('write', 'ENOSPC', { path: reservationsPath(ledgerPath) });

    const err = await failureOf(reserveReleaseId({ ledgerPath, workflowId: 'wf-a', kind: 'rc', at: AT }, files));

    expect(err.type).toBe('LedgerUnwritable');
    expect(err.message).toContain(reservationsPath(ledgerPath));
    expect(await readFile(reservationsPath(ledgerPath), 'utf8')).toBe('');
    files.heal();
    expect(await reserveReleaseId({ ledgerPath, workflowId: 'wf-a', kind: 'rc', at: AT }, files)).toBe(id(1));
  });

  test('a ledger that cannot be created (a read-only file system) is LedgerUnwritable naming the path, and nothing is created', async () => {
    const files = new FaultyLedgerFiles().fail('open', 'EROFS', { path: ledgerPath });

    const err = await failureOf(reserveReleaseId({ ledgerPath, workflowId: 'wf-a', kind: 'rc', at: AT }, files));

    expect(err.type).toBe('LedgerUnwritable');
    expect(err.message).toContain(`${ledgerPath} could not be used (creating it): EROFS`);
    expect(existsSync(ledgerPath)).toBe(false);
  });
});

// ---- a ledger that does not verify ------------------------------------------------------------

describe('a ledger that does not verify', () => {
  test('a ledger whose last entry was cut mid-block refuses appends, reservations and drift references with LedgerDoesNotVerify naming its line, and adds no byte', async () => {
    const full = await seededLedger(3);
    const cut = full.slice(0, full.lastIndexOf('  operator: alice'));
    await writeFile(ledgerPath, cut);
    const fence = lastLineOf(cut, FENCE);
    expect(fence).toBe(lineOf(cut, `- release_id: ${id(3)}`) - 1);

    const append = await failureOf(appendLedgerEntry(ledgerPath, promotion(id(4), 'wf-4'), readTip));
    expect(append.type).toBe('LedgerDoesNotVerify');
    expect(append.nonRetryable).toBe(false);
    expect(append.message).toContain(`${ledgerPath} does not verify at line ${fence}`);
    expect(append.message).toContain('never closed');
    expect(append.message).toContain(`release-promoter ledger verify ${ledgerPath}`);
    expect(append.details?.[0]).toMatchObject({ path: ledgerPath, line: fence });
    // The worker and the command agree.
    expect(verifyLedger(cut).problem?.line).toBe(fence);

    const reserve = await failureOf(reserveReleaseId({ ledgerPath, workflowId: 'wf-5', kind: 'rc', at: AT }));
    expect(reserve.type).toBe('LedgerDoesNotVerify');
    const drift = await failureOf(
      lastRecordedTip(ledgerPath, { repo: '/srv/x.git', branch: 'release', environment: 'canary' }),
    );
    expect(drift.type).toBe('LedgerDoesNotVerify');

    expect(await readFile(ledgerPath, 'utf8')).toBe(cut);
    expect(await readFile(reservationsPath(ledgerPath), 'utf8').catch(() => 'absent')).toBe('absent');
  });

  test('once the cut entry is removed, appends are accepted again and the file verifies', async () => {
    const full = await seededLedger(3);
    await writeFile(ledgerPath, full.slice(0, full.lastIndexOf('  operator: alice')));
    expect((await failureOf(appendLedgerEntry(ledgerPath, promotion(id(4), 'wf-4'), readTip))).type).toBe(
      'LedgerDoesNotVerify',
    );

    await writeFile(ledgerPath, before(full, id(3)));
    expect((await appendLedgerEntry(ledgerPath, promotion(id(4), 'wf-4'), readTip)).appended).toBe(true);

    const text = await readFile(ledgerPath, 'utf8');
    expect(verifyLedger(text)).toMatchObject({ ok: true, entries: 3 });
    expect(parseLedger(text).entries.map((e) => e.releaseId)).toEqual([id(1), id(2), id(4)]);
  });

  test('a file pre-filled with garbage and an unclosed fence refuses appends at the fence; once the fence is closed, the next entry is appended and visible', async () => {
    const garbage = `${LEDGER_HEADING}\n${'garbage garbage garbage\n'.repeat(5)}${FENCE}\nnever closed\n- release_id: 20261101-0000-rc9\n`;
    await writeFile(ledgerPath, garbage);
    const fence = lineOf(garbage, FENCE);

    const err = await failureOf(appendLedgerEntry(ledgerPath, promotion(id(1), 'wf-1'), readTip));
    expect(err.type).toBe('LedgerDoesNotVerify');
    expect(err.message).toContain(`at line ${fence}: fence opened here is never closed`);
    expect((await failureOf(reserveReleaseId({ ledgerPath, workflowId: 'wf-1', kind: 'rc', at: AT }))).type).toBe(
      'LedgerDoesNotVerify',
    );
    expect(await readFile(ledgerPath, 'utf8')).toBe(garbage);

    await writeFile(ledgerPath, `${FENCE}\n`, { flag: 'a' });
    await appendLedgerEntry(ledgerPath, promotion(id(1), 'wf-1'), readTip);
    const text = await readFile(ledgerPath, 'utf8');
    expect(parseLedger(text).entries.map((e) => e.releaseId)).toEqual([id(1)]);
    expect(verifyLedger(text)).toMatchObject({ ok: true, entries: 1 });
  });

  test('a file that is not a release log (no heading, no entries) takes no append: it stops at line 1 saying so', async () => {
    const passwd = 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n';
    await writeFile(ledgerPath, passwd);

    const err = await failureOf(appendLedgerEntry(ledgerPath, promotion(id(1), 'wf-1'), readTip));

    expect(err.type).toBe('LedgerDoesNotVerify');
    expect(err.message).toContain('at line 1: not a release log');
    expect(await readFile(ledgerPath, 'utf8')).toBe(passwd);
  });

  test('an entry repeated by hand after the worker last read the file is checked too: appends stop at the repeat', async () => {
    const text = await seededLedger(2);
    const first = text.slice(
      text.indexOf(`${FENCE}\n- release_id: ${id(1)}\n`),
      text.indexOf(`${FENCE}\n`, text.indexOf(`- release_id: ${id(1)}`)) + 4,
    );
    await writeFile(ledgerPath, `\n${first}`, { flag: 'a' });
    const repeated = await readFile(ledgerPath, 'utf8');
    const at = lastLineOf(repeated, `- release_id: ${id(1)}`);

    const err = await failureOf(appendLedgerEntry(ledgerPath, promotion(id(3), 'wf-3'), readTip));

    expect(err.type).toBe('LedgerDoesNotVerify');
    expect(err.message).toContain(
      `at line ${at}: release id ${id(1)} appears again (first at line ${lineOf(text, `- release_id: ${id(1)}`)})`,
    );
    expect(await readFile(ledgerPath, 'utf8')).toBe(repeated);
  });

  test('an entry edited in place after the worker last read the file stops appends at that entry', async () => {
    const text = await seededLedger(3);
    const second = text.indexOf(`- release_id: ${id(2)}`);
    const edited = text.slice(0, second) + text.slice(second).replace('  operator: alice', '  operator: mallory');
    await writeFile(ledgerPath, edited);

    const err = await failureOf(appendLedgerEntry(ledgerPath, promotion(id(4), 'wf-4'), readTip));

    expect(err.type).toBe('LedgerDoesNotVerify');
    expect(err.message).toContain(
      `at line ${lineOf(edited, `- release_id: ${id(2)}`)}: ${id(2)}: chain does not match`,
    );
    expect(await readFile(ledgerPath, 'utf8')).toBe(edited);
  });
});

// ---- symlinks ---------------------------------------------------------------------------------

describe('symlinks', () => {
  test('a RELEASE_LEDGER_PATH that is a symlink (absolute, relative or dangling) is refused at config load with a ConfigError naming the variable', async () => {
    const real = path.join(tmp, 'real.md');
    await copyFile(SEED, real);
    await symlink(real, ledgerPath);
    await symlink(path.join(tmp, 'nowhere.md'), path.join(tmp, 'dangling.md'));

    for (const given of [ledgerPath, 'RELEASE_LOG.md', 'dangling.md']) {
      const err = configErrorOf(() => loadConfig({ RELEASE_LEDGER_PATH: given }, tmp));
      expect(err.message).toContain('RELEASE_LEDGER_PATH');
      expect(err.message).toContain(`${path.resolve(tmp, given)} is a symbolic link`);
    }
    expect(loadConfig({ RELEASE_LEDGER_PATH: real }, tmp).ledgerPath).toBe(real);
  });

  test('a reservations file beside the ledger that is a symlink is refused at config load too', async () => {
    await copyFile(SEED, ledgerPath);
    await writeFile(path.join(tmp, 'elsewhere'), '');
    await symlink(path.join(tmp, 'elsewhere'), reservationsPath(ledgerPath));

    const err = configErrorOf(() => loadConfig({ RELEASE_LEDGER_PATH: ledgerPath }, tmp));
    expect(err.message).toContain(`RELEASE_LEDGER_PATH: ${reservationsPath(ledgerPath)} is a symbolic link`);
  });

  test('a ledger swapped for a symlink after the worker read it is not followed: appends and reservations are LedgerUnwritable (ELOOP), and the file it points at keeps its bytes', async () => {
    await seededLedger(1);
    const moved = path.join(tmp, 'moved.md');
    const victim = path.join(tmp, 'victim.md');
    await rename(ledgerPath, moved);
    await copyFile(moved, victim); // a valid ledger: following the link would succeed
    const victimBytes = await readFile(victim);
    await symlink(victim, ledgerPath);

    const append = await failureOf(appendLedgerEntry(ledgerPath, promotion(id(2), 'wf-2'), readTip));
    expect(append.type).toBe('LedgerUnwritable');
    expect(append.message).toContain('ELOOP');
    expect(append.message).toContain('symbolic link');
    const reserve = await failureOf(reserveReleaseId({ ledgerPath, workflowId: 'wf-2', kind: 'rc', at: AT }));
    expect(reserve.type).toBe('LedgerUnwritable');

    expect((await readFile(victim)).equals(victimBytes)).toBe(true);
    expect(existsSync(reservationsPath(victim))).toBe(false);
  });

  test('a reservations file swapped for a symlink is not followed either', async () => {
    await seededLedger(0);
    await reserveReleaseId({ ledgerPath, workflowId: 'wf-a', kind: 'rc', at: AT });
    const victim = path.join(tmp, 'victim.txt');
    await writeFile(victim, 'precious\n');
    await rm(reservationsPath(ledgerPath));
    await symlink(victim, reservationsPath(ledgerPath));

    const err = await failureOf(reserveReleaseId({ ledgerPath, workflowId: 'wf-b', kind: 'rc', at: AT }));

    expect(err.type).toBe('LedgerUnwritable');
    expect(err.message).toContain('ELOOP');
    expect(await readFile(victim, 'utf8')).toBe('precious\n');
  });
});

// ---- ledger verify on a file that is not a release log -----------------------------------------

describe('ledger verify on a file that is not a release log', () => {
  test('a passwd-like file (no "# Release Log" heading, no entries) exits 1 saying it is not a release log', async () => {
    const file = path.join(tmp, 'passwd');
    await writeFile(
      file,
      'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n',
    );

    const run = cli(['ledger', 'verify', file]);

    expect(run.status).toBe(1);
    expect(run.stdout.trim()).toBe(
      `FAIL ${file}:1: not a release log: no "# Release Log" heading and no entries (is this the right file?)`,
    );
  });

  (existsSync('/etc/passwd') ? test : test.skip)('ledger verify /etc/passwd exits 1, not "ok, 0 entries"', () => {
    const run = cli(['ledger', 'verify', '/etc/passwd']);
    expect(run.status).toBe(1);
    expect(run.stdout).toContain('not a release log');
  });

  test('the seed file still verifies from the command line, and an empty file does not', async () => {
    expect(cli(['ledger', 'verify', SEED]).status).toBe(0);
    expect(verifyLedger('')).toMatchObject({
      ok: false,
      problem: { line: 1, message: expect.stringContaining('not a release log') },
    });
  });

  test('a file of entries without the heading is still a release log', async () => {
    await appendByHand(ledgerPath, [{ releaseId: id(1), result: 'pass', tip: sha('b') }]);
    const text = (await readFile(ledgerPath, 'utf8')).slice(LEDGER_HEADING.length);

    expect(verifyLedger(text)).toMatchObject({ ok: true, entries: 1 });
  });
});

// ---- the drift reference and the last known good, per repo + branch -----------------------------

describe('per target (repo + branch)', () => {
  test('the drift reference is the latest entry of the same repo and branch: another repo under the same environment name, or another branch, is not it', async () => {
    await appendByHand(ledgerPath, [
      { releaseId: id(1), result: 'pass', tip: sha('1'), repo: '/srv/a.git' },
      { releaseId: id(2), result: 'pass', tip: sha('2'), repo: '/srv/b.git' },
      { releaseId: id(3), result: 'pass', tip: sha('3'), repo: '/srv/a.git', branch: 'canary' },
    ]);
    const index = await ledgerIndex(ledgerPath);

    expect(driftReference(index, '/srv/a.git', 'release', 'production')).toEqual({ releaseId: id(1), tip: sha('1') });
    expect(driftReference(index, '/srv/b.git', 'release', 'production')).toEqual({ releaseId: id(2), tip: sha('2') });
    expect(driftReference(index, '/srv/a.git', 'canary', 'production')).toEqual({ releaseId: id(3), tip: sha('3') });
    expect(driftReference(index, '/srv/c.git', 'release', 'production')).toBeUndefined();
  });

  test('entries written before the repo key are matched by environment and branch, until a newer entry names the repo', async () => {
    await appendByHand(ledgerPath, [
      { releaseId: id(1), result: 'pass', tip: sha('1') },
      { releaseId: id(2), result: 'pass', tip: sha('2'), environment: 'staging' },
    ]);
    let index = await ledgerIndex(ledgerPath);
    expect(driftReference(index, '/srv/a.git', 'release', 'production')).toEqual({ releaseId: id(1), tip: sha('1') });
    expect(lastKnownGood(index, '/srv/a.git', 'release', 'production')).toEqual({ releaseId: id(1), tip: sha('1') });
    expect(driftReference(index, '/srv/a.git', 'other', 'production')).toBeUndefined();

    await appendByHand(ledgerPath, [{ releaseId: id(3), result: 'pass', tip: sha('3'), repo: '/srv/a.git' }]);
    index = await ledgerIndex(ledgerPath);
    expect(driftReference(index, '/srv/a.git', 'release', 'production')).toEqual({ releaseId: id(3), tip: sha('3') });
    expect(lastKnownGood(index, '/srv/a.git', 'release', 'production')).toEqual({ releaseId: id(3), tip: sha('3') });
    // Another repo in production still falls back to the old, repo-less entries: they might be its own.
    expect(driftReference(index, '/srv/b.git', 'release', 'production')).toEqual({ releaseId: id(1), tip: sha('1') });
  });

  test('a failed promotion that never pushed is no drift reference; one that rolled back, and any rollback, are', async () => {
    await appendByHand(ledgerPath, [
      { releaseId: id(1), result: 'pass', tip: sha('1'), repo: '/srv/a.git' },
      { releaseId: id(2), result: 'fail', tip: sha('2'), repo: '/srv/a.git' },
    ]);
    expect(driftReference(await ledgerIndex(ledgerPath), '/srv/a.git', 'release', 'production')?.tip).toBe(sha('1'));
    await appendByHand(ledgerPath, [
      { releaseId: id(3), result: 'fail', tip: sha('3'), repo: '/srv/a.git', rollbackReleaseId: '20261124-2231-rb1' },
    ]);
    expect(driftReference(await ledgerIndex(ledgerPath), '/srv/a.git', 'release', 'production')?.tip).toBe(sha('3'));
    await appendByHand(ledgerPath, [
      { releaseId: '20261124-2231-rb2', type: 'rollback', result: 'partial', tip: sha('4'), repo: '/srv/a.git' },
    ]);
    expect(driftReference(await ledgerIndex(ledgerPath), '/srv/a.git', 'release', 'production')?.tip).toBe(sha('4'));
  });

  test('the fail entry the target lock records for a holder that closed before its own entry (closed_while_holding) is a drift reference', async () => {
    await appendByHand(ledgerPath, [
      { releaseId: id(1), result: 'pass', tip: sha('1'), repo: '/srv/a.git' },
      {
        releaseId: id(2),
        result: 'fail',
        tip: sha('2'),
        repo: '/srv/a.git',
        extras: [['closed_while_holding', `release was found at ${sha('2')} (pushed)`]],
      },
    ]);

    expect(driftReference(await ledgerIndex(ledgerPath), '/srv/a.git', 'release', 'production')).toEqual({
      releaseId: id(2),
      tip: sha('2'),
    });
  });

  test('the last known good is the latest pass promotion or completed rollback of the repo and branch; failed promotions, partial rollbacks and other repos are skipped', async () => {
    await appendByHand(ledgerPath, [
      { releaseId: id(1), result: 'pass', tip: sha('1'), repo: '/srv/a.git' },
      { releaseId: '20261124-2231-rb1', type: 'rollback', result: 'completed', tip: sha('2'), repo: '/srv/a.git' },
      { releaseId: id(3), result: 'fail', tip: sha('3'), repo: '/srv/a.git', rollbackReleaseId: '20261124-2231-rb2' },
      { releaseId: '20261124-2231-rb2', type: 'rollback', result: 'partial', tip: sha('4'), repo: '/srv/a.git' },
      { releaseId: id(5), result: 'pass', tip: sha('5'), repo: '/srv/b.git' },
      { releaseId: id(6), result: 'pass', tip: sha('6'), repo: '/srv/a.git', branch: 'canary' },
    ]);
    const index = await ledgerIndex(ledgerPath);

    expect(lastKnownGood(index, '/srv/a.git', 'release', 'production')).toEqual({
      releaseId: '20261124-2231-rb1',
      tip: sha('2'),
    });
    expect(lastKnownGood(index, '/srv/b.git', 'release', 'production')).toEqual({ releaseId: id(5), tip: sha('5') });
  });

  test('the last known good unlike the current tip is the one before it (a rollback of a release that passed)', async () => {
    await appendByHand(ledgerPath, [
      { releaseId: id(1), result: 'pass', tip: sha('1'), repo: '/srv/a.git' },
      { releaseId: id(2), result: 'pass', tip: sha('2') },
      { releaseId: id(3), result: 'pass', tip: sha('3'), repo: '/srv/a.git' },
    ]);
    const index = await ledgerIndex(ledgerPath);

    expect(lastKnownGood(index, '/srv/a.git', 'release', 'production', { unlike: sha('3') })).toEqual({
      releaseId: id(2),
      tip: sha('2'),
    });
    expect(lastKnownGood(index, '/srv/a.git', 'release', 'production', { unlike: sha('9') })?.tip).toBe(sha('3'));
  });

  test('rollback from the command line refuses a ledger that does not verify instead of guessing a last known good', async () => {
    const repo = await createSampleRepo(path.join(tmp, 'repo'));
    const full = await seededLedger(2);
    const cut = full.slice(0, full.lastIndexOf('  operator: alice'));
    await writeFile(ledgerPath, cut);

    const run = cli(
      [
        'rollback',
        '--repo',
        repo.bare,
        '--production-base',
        'http://127.0.0.1:9',
        '--environment',
        'canary',
        '--ledger',
        ledgerPath,
      ],
      { RELEASE_LEDGER_PATH: ledgerPath },
    );

    expect(run.status).toBe(2);
    expect(run.stderr).toContain(`the ledger ${ledgerPath} does not verify at line ${lastLineOf(cut, FENCE)}`);
    expect(run.stderr).toContain('pass --to <sha>');
  });
});

// ---- through real promotions on the dev server -------------------------------------------------

interface PendingFailure {
  type?: string | null;
  nonRetryable?: boolean | null;
  message?: string | null;
}

/** The last failure of a pending (retrying) activity of `activityType`, as the server shows it. */
async function pendingFailure(handle: WorkflowHandle, activityType: string): Promise<PendingFailure | undefined> {
  const described = await handle.describe();
  for (const activity of described.raw.pendingActivities ?? []) {
    const last = activity.lastFailure;
    if (activity.activityType?.name === activityType && last)
      return {
        type: last.applicationFailureInfo?.type,
        nonRetryable: last.applicationFailureInfo?.nonRetryable,
        message: last.message,
      };
  }
  return undefined;
}

describe('through a real promotion', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  test('a promotion whose last append fails with EPERM retries it as the retryable LedgerUnwritable and, once the file heals, is promoted with one entry on a ledger that verifies', async () => {
    const files = new FaultyLedgerFiles();
    h = await createHarness({ ledgerFiles: files });
    await copyFile(SEED, h.ledgerPath);
    const seedBytes = await readFile(h.ledgerPath);
    files.fail('write', 'EPERM', { path: h.ledgerPath });
    const commit = await h.repo.commit('feature: recorded despite EPERM');
    const handle = await h.start(h.request(commit));

    const failed = await waitFor(
      'a failed append attempt',
      () => pendingFailure(handle, 'appendLedgerEntry'),
      60_000,
      100,
    );
    expect(failed.type).toBe('LedgerUnwritable');
    expect(failed.nonRetryable).toBe(false);
    expect(failed.message).toContain(h.ledgerPath);
    expect(failed.message).toContain('EPERM');
    expect((await readFile(h.ledgerPath)).equals(seedBytes)).toBe(true);
    expect(await h.repo.tip('release')).toBe(commit); // verified and not undone meanwhile

    files.heal();
    expect((await handle.result()).stage).toBe('promoted');
    const text = await h.ledger();
    expect(verifyLedger(text)).toMatchObject({ ok: true, entries: 1 });
    expect(text.split('\n').filter((l) => l === `  workflow_id: ${handle.workflowId}`)).toHaveLength(1);
    expect(await h.repo.tip('release')).toBe(commit);
  }, 120_000);

  test('a promotion started on a ledger cut mid-block waits with LedgerDoesNotVerify naming the line, writes nothing, and goes on once the file is repaired', async () => {
    h = await createHarness();
    const full = await seededLedger(2, h.ledgerPath);
    const cut = full.slice(0, full.lastIndexOf('  operator: alice'));
    await writeFile(h.ledgerPath, cut);
    const commit = await h.repo.commit('feature: after the repair');
    const handle = await h.start(h.request(commit));

    const failed = await waitFor('a refused reservation', () => pendingFailure(handle, 'admitPromotion'), 60_000, 100);
    expect(failed.type).toBe('LedgerDoesNotVerify');
    expect(failed.nonRetryable).toBe(false);
    expect(failed.message).toContain(`does not verify at line ${lastLineOf(cut, FENCE)}`);
    expect(failed.message).toContain(`release-promoter ledger verify ${h.ledgerPath}`);
    expect(await h.ledger()).toBe(cut);
    expect(existsSync(reservationsPath(h.ledgerPath))).toBe(false);

    await writeFile(h.ledgerPath, before(full, id(2)));
    expect((await handle.result()).stage).toBe('promoted');
    const text = await h.ledger();
    expect(verifyLedger(text)).toMatchObject({ ok: true, entries: 2 });
    expect(parseLedger(text).entries.map((e) => e.fields.get('workflow_id')?.value)).toEqual([
      'wf-1',
      handle.workflowId,
    ]);
  }, 120_000);

  test('a promotion is not refused as drifted by a newer entry of another repo under the same environment name', async () => {
    h = await createHarness();
    const first = await h.repo.commit('feature: first');
    expect((await (await h.start(h.request(first))).result()).stage).toBe('promoted');
    // Another repo's release in the same environment, at a commit this repo's branch never had.
    await appendByHand(h.ledgerPath, [
      { releaseId: '20261124-2231-rc90', result: 'pass', tip: sha('d'), repo: '/srv/another-service.git' },
    ]);

    const second = await h.repo.commit('feature: second');
    const status = await (await h.start(h.request(second))).result();

    expect(status.stage).toBe('promoted');
    expect(await h.repo.tip('release')).toBe(second);
  }, 120_000);

  test("rollback from the command line goes back to its own repo's last known good, not to another repo's newer pass", async () => {
    h = await createHarness();
    const harness = h;
    const good = await harness.repo.commit('feature: good');
    expect((await (await harness.start(harness.request(good))).result()).stage).toBe('promoted');
    const regret = await harness.repo.commit('feature: regret');
    expect((await (await harness.start(harness.request(regret))).result()).stage).toBe('promoted');
    // Newer, of another repo, at a commit this repo has (so following it would "work").
    await appendByHand(harness.ledgerPath, [
      { releaseId: '20261124-2231-rc90', result: 'pass', tip: harness.repo.base, repo: '/srv/another-service.git' },
    ]);

    const run = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(
        process.execPath,
        [BIN, 'rollback', '--repo', harness.repo.bare, '--production-base', harness.production.url, '--json'],
        {
          env: {
            ...process.env,
            NO_COLOR: '1',
            TEMPORAL_ADDRESS: process.env.TEMPORAL_TEST_ADDRESS,
            TEMPORAL_TASK_QUEUE: harness.taskQueue,
            RELEASE_LEDGER_PATH: harness.ledgerPath,
            GIT_CACHE_DIR: path.join(harness.tmp, 'cli-git-cache'),
          },
        },
      );
      let stderr = '';
      child.stdout.resume();
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('close', (code) => resolve({ code, stderr }));
    });

    expect(run).toMatchObject({ code: 0 });
    expect(await harness.repo.tip('release')).toBe(good);
  }, 120_000);

  test('a worker process started on a ledger that does not verify says so in its log, naming the line, and still polls', async () => {
    const full = await seededLedger(2);
    const cut = full.slice(0, full.lastIndexOf('  operator: alice'));
    await writeFile(ledgerPath, cut);

    const worker = await startWorker({
      taskQueue: uniqueId('integrity-tq'),
      ledgerPath,
      gitCacheDir: path.join(tmp, 'git-cache'),
    });
    try {
      expect(worker.stderr()).toContain(
        `WARNING: appends to the ledger are stopped: the ledger ${ledgerPath} does not verify at line ${lastLineOf(cut, FENCE)}`,
      );
      expect(worker.stderr()).toContain('polling');
      expect(await readFile(ledgerPath, 'utf8')).toBe(cut);
    } finally {
      await killWorker(worker);
    }
  }, 120_000);
});
