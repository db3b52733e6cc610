// The git ledger on a real bare repository: the location's forms, the same bytes and chain as the
// file ledger, reservations and appends as commits that only append, idempotent retries, conflicts,
// a push that loses its race, several real processes at once, a push whose reply is lost, and
// `verify` catching a commit that edits and a force-push that rewrites.
import { existsSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { loadConfig } from '../src/config';
import { parseLedger } from '../src/ledger/format';
import { GitLedger } from '../src/ledger/git-ledger';
import { verifyGitLedger } from '../src/ledger/git-verify';
import { GIT_LEDGER_FORM, LedgerLocationText } from '../src/ledger/location';
import { fileLedger, readLedger } from '../src/ledger/sink';
import { verifyLedger } from '../src/ledger/verify';
import {
  BRANCH,
  createLedgerRemote,
  finished,
  gitOut,
  LEDGER_FILE,
  LedgerRemote,
  spawnWriter,
} from './git-ledger-remote';
import { configErrorOf, failureOf, promotion, rollback } from './records';
import { killWorker } from './worker-process';

const TIP = 'a'.repeat(40);
const readTip = async () => TIP;
const AT = '2026-11-24T22:31:17.000Z';

let tmp: string;
let remote: LedgerRemote;
let cache: string;
let ledger: GitLedger;

beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'git-ledger-'));
  remote = createLedgerRemote(tmp);
  cache = path.join(tmp, 'cache');
  ledger = new GitLedger(remote.location, cache);
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const reservationLines = () =>
  (remote.file(`${LEDGER_FILE}.reservations`) ?? '')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { releaseId: string; workflowId: string });

describe('RELEASE_LEDGER', () => {
  test('a path or git:<remote>#<branch>:<path>; RELEASE_LEDGER_PATH is still read, and both must agree', () => {
    expect(LedgerLocationText.parse('logs/RELEASE_LOG.md')).toEqual({ kind: 'file', path: 'logs/RELEASE_LOG.md' });
    expect(
      LedgerLocationText.parse('git:ssh://git@Git.Example.com:22/acme/chat.git#release-log:ops/RELEASE_LOG.md'),
    ).toEqual({
      kind: 'git',
      remote: 'ssh://git@git.example.com/acme/chat.git',
      branch: 'release-log',
      path: 'ops/RELEASE_LOG.md',
    });
    expect(
      LedgerLocationText.parse('git:git@host.example.com:acme/chat.git#logs/release:RELEASE_LOG.md'),
    ).toMatchObject({
      remote: 'git@host.example.com:acme/chat.git',
      branch: 'logs/release',
    });

    const config = loadConfig({ RELEASE_LEDGER: remote.spec }, tmp);
    expect(config.ledger).toEqual(remote.location);
    expect(loadConfig({ RELEASE_LEDGER: 'x.md', RELEASE_LEDGER_PATH: path.join(tmp, 'x.md') }, tmp).ledger).toEqual({
      kind: 'file',
      path: path.join(tmp, 'x.md'),
    });
    expect(loadConfig({ RELEASE_LEDGER_PATH: 'y.md' }, tmp).ledger).toEqual({
      kind: 'file',
      path: path.join(tmp, 'y.md'),
    });
    expect(loadConfig({}, tmp).ledgerPath).toBe(path.join(tmp, 'RELEASE_LOG.md'));

    const both = configErrorOf(() =>
      loadConfig({ RELEASE_LEDGER: remote.spec, RELEASE_LEDGER_PATH: 'RELEASE_LOG.md' }, tmp),
    );
    expect(both.message).toContain('RELEASE_LEDGER (');
    expect(both.message).toContain(`RELEASE_LEDGER_PATH (${path.join(tmp, 'RELEASE_LOG.md')})`);
  });

  test.each([
    ['no branch', `git:/srv/x.git:RELEASE_LOG.md`, 'no "#<branch>"'],
    ['no path', `git:/srv/x.git#release-log`, 'no ":<path>"'],
    ['an empty path', `git:/srv/x.git#release-log:`, 'the path is empty'],
    ['a path escaping the repo', `git:/srv/x.git#release-log:../RELEASE_LOG.md`, '".." segments'],
    ['an absolute path', `git:/srv/x.git#release-log:/etc/passwd`, 'is absolute'],
    ['a path into .git', `git:/srv/x.git#release-log:.git/config`, 'goes through ".git"'],
    ['a branch with ".."', `git:/srv/x.git#a..b:RELEASE_LOG.md`, 'not a valid git branch name'],
    ['a branch ending in .lock', `git:/srv/x.git#log.lock:RELEASE_LOG.md`, 'not a valid git branch name'],
    ['a branch with a space', `git:/srv/x.git#release log:RELEASE_LOG.md`, 'not a valid git branch name'],
    ['a branch starting with "-"', `git:/srv/x.git#-f:RELEASE_LOG.md`, 'starts with "-"'],
    ['a remote git refuses', `git:ext::sh -c id#release-log:RELEASE_LOG.md`, 'the remote must not'],
    ['a relative remote', `git:srv/x.git#release-log:RELEASE_LOG.md`, 'the remote must be an absolute path'],
  ])('%s is refused naming RELEASE_LEDGER and the expected form', (_what, value, problem) => {
    const err = configErrorOf(() => loadConfig({ RELEASE_LEDGER: value }, tmp));
    expect(err.message).toContain('RELEASE_LEDGER: ');
    expect(err.message).toContain(problem);
    expect(err.message).toContain(GIT_LEDGER_FORM);
  });
});

describe('reserving and appending', () => {
  test('the first reservation creates the branch with the seed heading; entries are the file ledger bytes, chain and all', async () => {
    expect(remote.tip()).toBeNull();
    const file = fileLedger(path.join(tmp, 'file', 'RELEASE_LOG.md'));
    const results = [];
    for (const sink of [file, ledger]) {
      const rc = await sink.reserve({ workflowId: `wf-rc`, kind: 'rc', at: AT });
      const rb = await sink.reserve({ workflowId: `wf-rb`, kind: 'rb', at: AT });
      const first = await sink.append(promotion(rc, 'wf-rc', { notes: 'a "quoted"\nnote' }), readTip);
      const second = await sink.append(rollback(rb, 'wf-rb'), readTip);
      results.push({ rc, rb, first, second });
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[1]?.rc).toBe('20261124-2231-rc1');
    const text = remote.file() as string;
    expect(text).toBe(readFileSync(path.join(tmp, 'file', 'RELEASE_LOG.md'), 'utf8'));
    expect(text.startsWith('# Release Log (Append-Only)\n')).toBe(true);
    expect(verifyLedger(text, results[1]?.second.chainHead.replace(/^sha256:/, '')).ok).toBe(true);
    expect(reservationLines().map((r) => [r.releaseId, r.workflowId])).toEqual([
      ['20261124-2231-rc1', 'wf-rc'],
      ['20261124-2231-rb1', 'wf-rb'],
    ]);
    // Four commits (two reservations, two entries), each adding to one of the two files.
    const commits = remote.commits();
    expect(commits).toHaveLength(4);
    const changed = commits
      .slice(1)
      .map((c) =>
        gitOut(['--git-dir', remote.bare, 'diff-tree', '--no-commit-id', '--name-only', '-r', `${c}^`, c]).trim(),
      );
    expect(changed).toEqual([`${LEDGER_FILE}.reservations`, LEDGER_FILE, LEDGER_FILE]);
    expect((await verifyGitLedger(remote.location, cache))?.ok).toBe(true);
  });

  test('a retry gets the same id and the same entry back and commits nothing', async () => {
    const id = await ledger.reserve({ workflowId: 'wf-one', kind: 'rc', at: AT });
    const first = await ledger.append(promotion(id, 'wf-one'), readTip);
    const commits = remote.commits().length;
    // Another process (its own clone) retrying the same workflow's steps.
    const other = new GitLedger(remote.location, path.join(tmp, 'other-cache'));
    expect(await other.reserve({ workflowId: 'wf-one', kind: 'rc', at: AT })).toBe(id);
    const again = await other.append(promotion(id, 'wf-one', { notes: 'a retry' }), readTip);
    expect(again).toEqual({ ...first, appended: false });
    expect(remote.commits()).toHaveLength(commits);
    expect(parseLedger(remote.file() as string).entries.map((e) => e.releaseId)).toEqual([id]);
  });

  test('an id another workflow reserved or wrote is a ReleaseIdConflict; a taken requested id is refused; nothing is committed', async () => {
    const id = await ledger.reserve({ workflowId: 'wf-owner', kind: 'rc', at: AT });
    const commits = remote.commits().length;
    const reserved = await failureOf(ledger.append(promotion(id, 'wf-thief'), readTip));
    expect(reserved.type).toBe('ReleaseIdConflict');
    expect(reserved.nonRetryable).toBe(true);
    expect(reserved.message).toContain('reserved by workflow wf-owner');
    expect(remote.commits()).toHaveLength(commits);

    await ledger.append(promotion(id, 'wf-owner'), readTip);
    const written = await failureOf(ledger.append(promotion(id, 'wf-thief'), readTip));
    expect(written.type).toBe('ReleaseIdConflict');
    expect(written.message).toContain('for another workflow (wf-owner)');
    const taken = await failureOf(ledger.reserve({ workflowId: 'wf-x', kind: 'rc', at: AT, requested: id }));
    expect(taken.type).toBe('InvalidPromotionRequest');
    expect(remote.commits()).toHaveLength(commits + 1);
  });

  test('a push that loses its race reads the branch again and decides again: the other writer keeps its id', async () => {
    await ledger.reserve({ workflowId: 'wf-first', kind: 'rc', at: AT });
    // Another writer's commit, ready in the remote: it reserves rc2.
    const intruder = remote.commitByHand((work) =>
      appendFileSync(
        path.join(work, `${LEDGER_FILE}.reservations`),
        `${JSON.stringify({ releaseId: '20261124-2231-rc2', workflowId: 'wf-intruder', at: AT })}\n`,
      ),
    );
    gitOut(['--git-dir', remote.bare, 'update-ref', 'refs/intruder', intruder]);
    gitOut(['--git-dir', remote.bare, 'update-ref', `refs/heads/${BRANCH}`, `${intruder}^`]);
    // It lands while our push is on its way: the hook moves the branch once, before our ref update.
    const marker = path.join(tmp, 'intruded');
    remote.hook(
      'pre-receive',
      `cat >/dev/null\nif [ ! -e '${marker}' ]; then touch '${marker}'; env -u GIT_QUARANTINE_PATH git update-ref refs/heads/${BRANCH} ${intruder}; fi\nexit 0`,
    );
    const id = await ledger.reserve({ workflowId: 'wf-second', kind: 'rc', at: AT });
    expect(existsSync(marker)).toBe(true);
    expect(id).toBe('20261124-2231-rc3');
    expect(reservationLines().map((r) => r.workflowId)).toEqual(['wf-first', 'wf-intruder', 'wf-second']);
    const commits = remote.commits();
    expect(commits[commits.length - 2]).toBe(intruder);
    expect((await verifyGitLedger(remote.location, cache))?.ok).toBe(true);
  });

  test('three processes with their own clones, ten promotions each at once: 30 unique ids, one entry each, one valid chain', async () => {
    const runs = await Promise.all(
      [0, 1, 2].map((p) => finished(spawnWriter(remote.location, path.join(tmp, `cache-${p}`), `p${p}`, 10))),
    );
    for (const run of runs) expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    const results = runs.flatMap((r) => r.lines);
    expect(results).toHaveLength(30);
    expect(new Set(results.map((r) => r.releaseId)).size).toBe(30);
    const text = remote.file() as string;
    const entries = parseLedger(text).entries;
    expect(entries).toHaveLength(30);
    expect(new Set(entries.map((e) => e.releaseId)).size).toBe(30);
    const report = await verifyGitLedger(remote.location, cache);
    expect(report).toMatchObject({ ok: true, entries: 30, chained: 30, commits: 60 });
    // Each process's chain head was the head after its own entry: all of them are on the one chain.
    const heads = new Set(entries.map((e) => e.chain));
    for (const r of results) expect(heads.has(r.chainHead.replace(/^sha256:/, ''))).toBe(true);
    expect(reservationLines()).toHaveLength(30);
  }, 120_000);

  test('a writer killed after its push landed but before the reply: the retry finds the entry and appends nothing', async () => {
    const id = await ledger.reserve({ workflowId: 'wf-lost', kind: 'rc', at: AT });
    const hold = path.join(tmp, 'hold');
    const entered = path.join(tmp, 'entered');
    writeFileSync(hold, '');
    // After the ref moved, the remote keeps the pusher waiting: its reply never arrives.
    remote.hook('post-receive', `cat >/dev/null\ntouch '${entered}'\nwhile [ -e '${hold}' ]; do sleep 0.05; done`);
    const child = spawnWriter(remote.location, path.join(tmp, 'killed-cache'), 'wf-lost', 1, id);
    const run = finished(child);
    for (let i = 0; i < 600 && !existsSync(entered); i++) await delay(50);
    expect(existsSync(entered)).toBe(true);
    await killWorker({ proc: child, stderr: () => '' });
    expect((await run).lines).toEqual([]);
    rmSync(hold);
    expect(parseLedger(remote.file() as string).entries.map((e) => e.releaseId)).toEqual([id]);

    const retry = await ledger.append(promotion(id, 'wf-lost'), async () => 'c'.repeat(40));
    expect(retry.appended).toBe(false);
    expect(parseLedger(remote.file() as string).entries.map((e) => e.releaseId)).toEqual([id]);
    expect((await verifyGitLedger(remote.location, cache, retry.chainHead.replace(/^sha256:/, '')))?.ok).toBe(true);
  }, 60_000);

  test('a branch whose ledger does not verify stops reservations and appends with the retryable LedgerDoesNotVerify', async () => {
    await ledger.reserve({ workflowId: 'wf-one', kind: 'rc', at: AT });
    remote.commitByHand((work) =>
      appendFileSync(path.join(work, LEDGER_FILE), '```\n- release_id: 20261124-2231-rc9\n'),
    );
    const commits = remote.commits().length;
    const err = await failureOf(ledger.reserve({ workflowId: 'wf-two', kind: 'rc', at: AT }));
    expect(err.type).toBe('LedgerDoesNotVerify');
    expect(err.nonRetryable).toBe(false);
    expect(err.message).toContain(remote.spec);
    expect(await ledger.startupProblem()).toContain('does not verify');
    expect(remote.commits()).toHaveLength(commits);
  });

  test('a remote that cannot be reached is the retryable LedgerUnwritable naming the ledger', async () => {
    const gone = new GitLedger({ ...remote.location, remote: path.join(tmp, 'no-such.git') }, cache);
    const err = await failureOf(gone.reserve({ workflowId: 'wf', kind: 'rc', at: AT }));
    expect(err.type).toBe('LedgerUnwritable');
    expect(err.nonRetryable).toBe(false);
    expect(err.message).toContain(`git:${path.join(tmp, 'no-such.git')}#${BRANCH}:${LEDGER_FILE}`);
  });
});

describe('verify', () => {
  async function threeEntries(): Promise<string> {
    let head = '';
    for (const wf of ['wf-a', 'wf-b', 'wf-c']) {
      const id = await ledger.reserve({ workflowId: wf, kind: 'rc', at: AT });
      head = (await ledger.append(promotion(id, wf), readTip)).chainHead.replace(/^sha256:/, '');
    }
    return head;
  }

  test('a commit that changes existing bytes, or another file, fails naming the commit', async () => {
    await threeEntries();
    const edit = remote.commitByHand((work) => {
      const file = path.join(work, LEDGER_FILE);
      writeFileSync(file, readFileSync(file, 'utf8').replace('result: pass', 'result: fail'));
    });
    const report = await verifyGitLedger(remote.location, cache);
    expect(report?.ok).toBe(false);
    expect(report?.problem?.commit).toBe(edit);
    expect(report?.problem?.message).toContain(`changes existing bytes of ${LEDGER_FILE}`);

    const other = createLedgerRemote(tmp, 'other.git');
    const otherLedger = new GitLedger(other.location, cache);
    await otherLedger.reserve({ workflowId: 'wf', kind: 'rc', at: AT });
    const readme = other.commitByHand((work) => writeFileSync(path.join(work, 'README.md'), 'hello\n'));
    const second = await verifyGitLedger(other.location, cache);
    expect(second?.problem?.commit).toBe(readme);
    expect(second?.problem?.message).toContain('changes README.md');
  });

  test('a force-push that rewrites and re-chains the history verifies on its own, and fails with --head', async () => {
    const head = await threeEntries();
    expect((await verifyGitLedger(remote.location, cache, head))?.ok).toBe(true);
    // The rewrite: a fresh, consistent history of two of the three promotions, force-pushed.
    const forged = createLedgerRemote(tmp, 'forged.git');
    const forger = new GitLedger(forged.location, path.join(tmp, 'forger-cache'));
    for (const wf of ['wf-a', 'wf-c']) {
      const id = await forger.reserve({ workflowId: wf, kind: 'rc', at: AT });
      await forger.append(promotion(id, wf), readTip);
    }
    gitOut([
      '--git-dir',
      forged.bare,
      'push',
      '--quiet',
      '--force',
      remote.bare,
      `refs/heads/${BRANCH}:refs/heads/${BRANCH}`,
    ]);
    const alone = await verifyGitLedger(remote.location, cache);
    expect(alone).toMatchObject({ ok: true, entries: 2 });
    const withHead = await verifyGitLedger(remote.location, cache, head);
    expect(withHead?.ok).toBe(false);
    expect(withHead?.problem?.message).toContain(`no longer contains an entry with chain ${head}`);
  });

  test('a migrated file ledger (its file and reservations as the first commit) keeps its chain, and appends go on from it', async () => {
    const filePath = path.join(tmp, 'file', 'RELEASE_LOG.md');
    const file = fileLedger(filePath);
    const id = await file.reserve({ workflowId: 'wf-old', kind: 'rc', at: AT });
    const old = await file.append(promotion(id, 'wf-old'), readTip);
    const work = path.join(tmp, 'migrate');
    gitOut(['init', '--quiet', `--initial-branch=${BRANCH}`, work]);
    writeFileSync(path.join(work, LEDGER_FILE), readFileSync(filePath));
    writeFileSync(path.join(work, `${LEDGER_FILE}.reservations`), readFileSync(`${filePath}.reservations`));
    gitOut(['add', '-A'], work);
    gitOut(['commit', '--quiet', '-m', 'the file ledger, moved'], work);
    gitOut(['push', '--quiet', remote.bare, `HEAD:refs/heads/${BRANCH}`], work);

    const next = await ledger.reserve({ workflowId: 'wf-new', kind: 'rc', at: AT });
    expect(next).toBe('20261124-2231-rc2');
    await ledger.append(promotion(next, 'wf-new'), readTip);
    const report = await verifyGitLedger(remote.location, cache, old.chainHead.replace(/^sha256:/, ''));
    expect(report).toMatchObject({ ok: true, entries: 2, chained: 2 });
    expect((remote.file() as string).startsWith(readFileSync(filePath, 'utf8'))).toBe(true);
    const reading = await readLedger(remote.location, path.join(tmp, 'reader-cache'));
    expect(reading?.index.ids.has(next)).toBe(true);
  });
});
