// Git on real repositories: resolving commits through the cache clone, reading tips, and moving
// the release branch with a lease (no clobbering, no silent downgrade, safe to retry).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { canonicalRepo, descendsOnBranch, moveBranch, readBranchTip, resolveCommit } from '../src/activities/git';
import { createSampleRepo, SampleRepo } from '../sample/repo';
import { failureOf } from './records';

let tmp: string;
let cacheDir: string;
let repo: SampleRepo;

beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'git-test-'));
  cacheDir = path.join(tmp, 'git-cache');
  repo = await createSampleRepo(path.join(tmp, 'remote'));
});

afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** git in the sample's work clone, with an identity so commits work on any machine. */
function gitIn(cwd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      args,
      {
        cwd,
        env: {
          ...process.env,
          GIT_AUTHOR_NAME: 'Feature Dev',
          GIT_AUTHOR_EMAIL: 'feature@example.com',
          GIT_COMMITTER_NAME: 'Feature Dev',
          GIT_COMMITTER_EMAIL: 'feature@example.com',
          GIT_CONFIG_NOSYSTEM: '1',
          GIT_TERMINAL_PROMPT: '0',
        },
      },
      (err, stdout, stderr) =>
        err ? reject(new Error(`git ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout.trim()),
    );
  });
}

/** A commit that exists only on refs/heads/feature in the remote, never on main. */
async function featureCommit(): Promise<string> {
  await gitIn(repo.work, ['checkout', '--quiet', '-b', 'feature']);
  await gitIn(repo.work, ['commit', '--quiet', '--allow-empty', '-m', 'feature work']);
  const sha = await gitIn(repo.work, ['rev-parse', 'HEAD']);
  await gitIn(repo.work, ['push', '--quiet', 'origin', 'HEAD:refs/heads/feature']);
  await gitIn(repo.work, ['checkout', '--quiet', 'main']);
  return sha;
}

describe('resolveCommit', () => {
  test('an 8-character prefix of a commit on main resolves to the full sha', async () => {
    const sha = await repo.commit('second');
    expect(sha).toMatch(/^[0-9a-f]{40}$/);
    await expect(
      resolveCommit(cacheDir, { repo: repo.bare, fromBranch: 'main', commitSha: sha.slice(0, 8) }),
    ).resolves.toBe(sha);
  });

  test('an older commit that main still contains resolves too', async () => {
    await repo.commit('second');
    await expect(resolveCommit(cacheDir, { repo: repo.bare, fromBranch: 'main', commitSha: repo.base })).resolves.toBe(
      repo.base,
    );
  });

  test('a commit that exists only on another branch is CommitNotOnSourceBranch', async () => {
    const sha = await featureCommit();
    const err = await failureOf(resolveCommit(cacheDir, { repo: repo.bare, fromBranch: 'main', commitSha: sha }));
    expect(err.type).toBe('CommitNotOnSourceBranch');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain('main');
  });

  test('a commit the cache already holds from another branch is still CommitNotOnSourceBranch for main', async () => {
    const sha = await featureCommit();
    // Resolving against feature first puts the commit into the cache clone, so only the
    // reachability check can refuse it for main.
    await expect(resolveCommit(cacheDir, { repo: repo.bare, fromBranch: 'feature', commitSha: sha })).resolves.toBe(
      sha,
    );
    const err = await failureOf(resolveCommit(cacheDir, { repo: repo.bare, fromBranch: 'main', commitSha: sha }));
    expect(err.type).toBe('CommitNotOnSourceBranch');
    expect(err.message).toContain(sha);
  });

  test('a sha that exists nowhere is CommitNotOnSourceBranch', async () => {
    const err = await failureOf(
      resolveCommit(cacheDir, { repo: repo.bare, fromBranch: 'main', commitSha: 'deadbeef'.repeat(5) }),
    );
    expect(err.type).toBe('CommitNotOnSourceBranch');
  });

  test('a repo path that does not exist is an InvalidPromotionRequest about repo', async () => {
    const missing = path.join(tmp, 'no-such-repo.git');
    const err = await failureOf(resolveCommit(cacheDir, { repo: missing, fromBranch: 'main', commitSha: repo.base }));
    expect(err.type).toBe('InvalidPromotionRequest');
    expect(err.message.startsWith('repo:')).toBe(true);
    expect(err.message).toContain(missing);
  });

  test('a toBranch that does not exist is an InvalidPromotionRequest about toBranch, even with fromBranch fine', async () => {
    const err = await failureOf(
      resolveCommit(cacheDir, { repo: repo.bare, fromBranch: 'main', toBranch: 'relase', commitSha: repo.base }),
    );
    expect(err.type).toBe('InvalidPromotionRequest');
    expect(err.message).toMatch(/^toBranch: branch "relase" does not exist/);
    await expect(
      resolveCommit(cacheDir, { repo: repo.bare, fromBranch: 'main', toBranch: 'release', commitSha: repo.base }),
    ).resolves.toBe(repo.base);
  });

  test('a fromBranch that does not exist is an InvalidPromotionRequest about fromBranch', async () => {
    const err = await failureOf(
      resolveCommit(cacheDir, { repo: repo.bare, fromBranch: 'no-such-branch', commitSha: repo.base }),
    );
    expect(err.type).toBe('InvalidPromotionRequest');
    expect(err.message).toMatch(/^fromBranch: /);
    expect(err.message).toContain('no-such-branch');
  });

  test('two resolves at once on a fresh cache directory both succeed and leave one cache clone', async () => {
    const sha = await repo.commit('second');
    const results = await Promise.all([
      resolveCommit(cacheDir, { repo: repo.bare, fromBranch: 'main', commitSha: sha.slice(0, 8) }),
      resolveCommit(cacheDir, { repo: repo.bare, fromBranch: 'main', commitSha: repo.base.slice(0, 10) }),
    ]);
    expect(results).toEqual([sha, repo.base]);
    const entries = (await readdir(cacheDir)).filter((name) => !name.endsWith('.lock'));
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatch(/^[0-9a-f]{24}\.git$/);
  });
});

describe('descendsOnBranch', () => {
  const on = (ancestor: string, sha: string, branch = 'main') =>
    descendsOnBranch(cacheDir, { repo: repo.bare, branch, ancestor, sha });

  test('the commit itself and a later commit of the branch descend from it; an earlier one does not', async () => {
    const first = await repo.commit('first');
    const later = await repo.commit('later');
    await expect(on(first, first)).resolves.toBe(true);
    await expect(on(first, later)).resolves.toBe(true);
    await expect(on(later, first)).resolves.toBe(false);
  });

  test('a descendant that is only on another branch is not on the branch asked about', async () => {
    const base = await repo.commit('base');
    const feature = await featureCommit();
    await expect(on(base, feature, 'feature')).resolves.toBe(true);
    await expect(on(base, feature)).resolves.toBe(false);
  });

  test('what is not a full sha, or a commit the repo lacks, does not descend', async () => {
    const sha = await repo.commit('one');
    await expect(on(sha, 'unknown')).resolves.toBe(false);
    await expect(on(sha, sha.slice(0, 12))).resolves.toBe(false);
    await expect(on(sha, 'deadbeef'.repeat(5))).resolves.toBe(false);
  });
});

describe('readBranchTip', () => {
  test('reads the commit a branch points at in the remote', async () => {
    const sha = await repo.commit('second');
    await expect(readBranchTip({ repo: repo.bare, branch: 'main' })).resolves.toBe(sha);
    await expect(readBranchTip({ repo: repo.bare, branch: 'release' })).resolves.toBe(repo.base);
  });

  test('a branch that does not exist reads as null', async () => {
    await expect(readBranchTip({ repo: repo.bare, branch: 'no-such-branch' })).resolves.toBeNull();
  });
});

describe('moveBranch', () => {
  test('pushes the target with a lease and adds one reflog line', async () => {
    const target = await repo.commit('second');
    const reflogBefore = await repo.reflog('release');

    const result = await moveBranch(cacheDir, {
      repo: repo.bare,
      branch: 'release',
      expectedTip: repo.base,
      targetSha: target,
      sourceBranch: 'main',
      allowDowngrade: false,
    });

    expect(result).toEqual({ pushed: true, downgrade: false });
    expect(await repo.tip('release')).toBe(target);
    const reflogAfter = await repo.reflog('release');
    expect(reflogAfter).toHaveLength(reflogBefore.length + 1);
    expect(reflogAfter[0]?.startsWith(target)).toBe(true);
  });

  test('moving again with the same arguments is a no-op that pushes nothing', async () => {
    const target = await repo.commit('second');
    const args = {
      repo: repo.bare,
      branch: 'release',
      expectedTip: repo.base,
      targetSha: target,
      sourceBranch: 'main',
      allowDowngrade: false,
    };
    await moveBranch(cacheDir, args);
    const reflogBefore = await repo.reflog('release');

    await expect(moveBranch(cacheDir, args)).resolves.toEqual({ pushed: false, downgrade: false });

    expect(await repo.tip('release')).toBe(target);
    expect(await repo.reflog('release')).toEqual(reflogBefore);
  });

  test('a branch someone else moved is ReleaseBranchMoved and stays where they put it', async () => {
    const ours = await repo.commit('ours');
    const theirs = await repo.commit('theirs');
    await repo.forcePush('release', theirs);
    const reflogBefore = await repo.reflog('release');

    const err = await failureOf(
      moveBranch(cacheDir, {
        repo: repo.bare,
        branch: 'release',
        expectedTip: repo.base,
        targetSha: ours,
        sourceBranch: 'main',
        allowDowngrade: false,
      }),
    );

    expect(err.type).toBe('ReleaseBranchMoved');
    expect(err.message).toContain(theirs);
    expect(await repo.tip('release')).toBe(theirs);
    expect(await repo.reflog('release')).toEqual(reflogBefore);
  });

  test('a branch that moves after moveBranch fetched and checked it, before its push, is not overwritten: the lease fails and it is ReleaseBranchMoved', async () => {
    const ours = await repo.commit('ours');
    const theirs = await repo.commit('theirs');
    // A cache clone that holds release but not main: moveBranch must fetch ours before its
    // descendant check. The clone's reference-transaction hook runs as that fetch lands, and
    // another party moves release then, before the push asks the remote where release is. Only
    // the lease on the expected tip refuses the push; a plain --force would land it (git's own
    // compare-and-swap in receive-pack only guards a move after the remote advertised its refs).
    await resolveCommit(cacheDir, { repo: repo.bare, fromBranch: 'release', commitSha: repo.base });
    const [clone] = (await readdir(cacheDir)).filter((name) => name.endsWith('.git'));
    const hook = path.join(cacheDir, clone as string, 'hooks', 'reference-transaction');
    await mkdir(path.dirname(hook), { recursive: true });
    await writeFile(
      hook,
      [
        '#!/bin/sh',
        '[ "$1" = committed ] || exit 0',
        'unset GIT_DIR GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES',
        `git --git-dir='${repo.bare}' update-ref -m 'moved by someone else' refs/heads/release ${theirs}`,
        '',
      ].join('\n'),
    );
    await chmod(hook, 0o755);
    const reflogBefore = await repo.reflog('release');

    const err = await failureOf(
      moveBranch(cacheDir, {
        repo: repo.bare,
        branch: 'release',
        expectedTip: repo.base,
        targetSha: ours,
        sourceBranch: 'main',
        allowDowngrade: false,
      }),
    );

    expect(err.type).toBe('ReleaseBranchMoved');
    expect(err.message).toContain(`to ${theirs}`);
    expect(err.message).toContain('nothing was overwritten');
    expect(await repo.tip('release')).toBe(theirs);
    // The other party's move is the only one the remote saw: nothing of ours landed after it.
    expect(await repo.reflog('release')).toEqual([`${theirs} moved by someone else`, ...reflogBefore]);
  });

  test('the push carries a lease on the expected tip, so a move after the tip was read is never clobbered', async () => {
    const ours = await repo.commit('ours');
    const theirs = await repo.commit('theirs');
    // Warm the cache clone (it then holds both commits), then hold its lock so moveBranch waits
    // before pushing while someone else moves the branch away from the tip the caller read.
    await resolveCommit(cacheDir, { repo: repo.bare, fromBranch: 'main', commitSha: theirs });
    const [clone] = (await readdir(cacheDir)).filter((name) => name.endsWith('.git'));
    const release = await lockfile.lock(path.join(cacheDir, clone as string), { realpath: false });
    const moving = moveBranch(cacheDir, {
      repo: repo.bare,
      branch: 'release',
      expectedTip: repo.base,
      targetSha: ours,
      sourceBranch: 'main',
      allowDowngrade: false,
    }).then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    await repo.forcePush('release', theirs);
    await release();

    const outcome = await moving;

    expect(outcome).toMatchObject({ error: { type: 'ReleaseBranchMoved' } });
    expect(await repo.tip('release')).toBe(theirs);
  });

  test('a target that is not a descendant of the tip is DowngradeRefused and moves nothing', async () => {
    const older = await repo.commit('older');
    const newer = await repo.commit('newer');
    await repo.forcePush('release', newer);
    const reflogBefore = await repo.reflog('release');

    const err = await failureOf(
      moveBranch(cacheDir, {
        repo: repo.bare,
        branch: 'release',
        expectedTip: newer,
        targetSha: older,
        sourceBranch: 'main',
        allowDowngrade: false,
      }),
    );

    expect(err.type).toBe('DowngradeRefused');
    expect(err.message).toContain('allowDowngrade');
    expect(await repo.tip('release')).toBe(newer);
    expect(await repo.reflog('release')).toEqual(reflogBefore);
  });

  test('a commit on a diverged branch is a downgrade as well', async () => {
    const side = await featureCommit();
    const mainAhead = await repo.commit('main moves on');
    await repo.forcePush('release', mainAhead);

    const err = await failureOf(
      moveBranch(cacheDir, {
        repo: repo.bare,
        branch: 'release',
        expectedTip: mainAhead,
        targetSha: side,
        sourceBranch: 'feature',
        allowDowngrade: false,
      }),
    );

    expect(err.type).toBe('DowngradeRefused');
    expect(await repo.tip('release')).toBe(mainAhead);
  });

  test('allowDowngrade moves the branch back and says it was a downgrade', async () => {
    const older = await repo.commit('older');
    const newer = await repo.commit('newer');
    await repo.forcePush('release', newer);

    const result = await moveBranch(cacheDir, {
      repo: repo.bare,
      branch: 'release',
      expectedTip: newer,
      targetSha: older,
      sourceBranch: 'main',
      allowDowngrade: true,
    });

    expect(result).toEqual({ pushed: true, downgrade: true });
    expect(await repo.tip('release')).toBe(older);
  });
});

describe('canonicalRepo', () => {
  test('a bare repo spelled as a path, a file:// URL, with a ".." and through a symlink is one canonical path', async () => {
    const alias = path.join(tmp, 'alias.git');
    await symlink(repo.bare, alias);
    const spellings = [
      repo.bare,
      `file://${repo.bare}`,
      `${repo.bare}/../${path.basename(repo.bare)}`,
      `${repo.bare}/`,
      alias,
      `file://${alias}`,
    ];
    const canonical = await Promise.all(
      spellings.map((spelling) => canonicalRepo(spelling, 'InvalidPromotionRequest')),
    );
    expect(new Set(canonical)).toEqual(new Set([repo.bare]));
  });

  test('the canonical path is what git is given: resolving through an alias leaves one cache clone', async () => {
    const alias = path.join(tmp, 'alias.git');
    await symlink(repo.bare, alias);
    // "alias.git/.." is the symlink target's parent, as the file system (and git) read it.
    for (const spelling of [repo.bare, `file://${alias}`, `${alias}/../${path.basename(repo.bare)}`]) {
      const canonical = await canonicalRepo(spelling, 'InvalidPromotionRequest');
      await expect(
        resolveCommit(cacheDir, { repo: canonical, fromBranch: 'main', commitSha: repo.base }),
      ).resolves.toBe(repo.base);
    }
    expect((await readdir(cacheDir)).filter((name) => name.endsWith('.git'))).toHaveLength(1);
  });

  test('remote URLs are normalized: scheme and host lowercased, default port and trailing slash dropped, ssh:// and scp-style with an absolute path alike', async () => {
    const cases: Array<[string, string]> = [
      ['HTTPS://Git.Example.COM:443/Acme/chat.git/', 'https://git.example.com/Acme/chat.git'],
      ['https://git.example.com:8443/acme/chat.git', 'https://git.example.com:8443/acme/chat.git'],
      ['ssh://git@Git.Example.com:22/srv//git/chat.git', 'ssh://git@git.example.com/srv/git/chat.git'],
      ['git@GIT.example.com:/srv/git/chat.git', 'ssh://git@git.example.com/srv/git/chat.git'],
      ['ssh://git@git.example.com:2222/srv/chat.git', 'ssh://git@git.example.com:2222/srv/chat.git'],
      ['git@git.example.com:~/chat.git', 'ssh://git@git.example.com/~/chat.git'],
      // Relative to the login directory: no ssh:// spelling every server accepts, so kept scp-style.
      ['git@GitHub.com:acme/chat.git', 'git@github.com:acme/chat.git'],
      // Kept as given: whether "chat" and "chat.git" are one repo is the server's business.
      ['https://git.example.com/acme/chat', 'https://git.example.com/acme/chat'],
    ];
    for (const [given, canonical] of cases)
      await expect(canonicalRepo(given, 'InvalidPromotionRequest')).resolves.toBe(canonical);
  });

  test('a local repo that does not exist is refused naming repo, with the failure type the caller asks for', async () => {
    const missing = path.join(tmp, 'no-such-repo.git');
    const promotion = await failureOf(canonicalRepo(missing, 'InvalidPromotionRequest'));
    expect(promotion.type).toBe('InvalidPromotionRequest');
    expect(promotion.nonRetryable).toBe(true);
    expect(promotion.message).toBe(`repo: ${missing} does not exist on the worker; check the path`);
    expect((await failureOf(canonicalRepo(`file://${missing}`, 'InvalidRollbackRequest'))).type).toBe(
      'InvalidRollbackRequest',
    );
  });

  test('a form validation refuses is refused here too, so no caller can skip the check', async () => {
    const err = await failureOf(canonicalRepo('ext::sh -c id', 'InvalidPromotionRequest'));
    expect(err.type).toBe('InvalidPromotionRequest');
    expect(err.message).toMatch(/^repo: must not/);
  });
});

/** A listening server that counts what reached it; `close` ends it. */
async function listening(server: Server | ReturnType<typeof createHttpServer>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

describe('git runs with only file, https and ssh allowed', () => {
  test('an http:// remote is refused by git itself before any request is sent (validation bypassed)', async () => {
    let requests = 0;
    const server = createHttpServer((_req, res) => {
      requests++;
      res.statusCode = 404;
      res.end();
    });
    const port = await listening(server);
    try {
      const err = await failureOf(readBranchTip({ repo: `http://127.0.0.1:${port}/acme/chat.git`, branch: 'release' }));
      expect(err.type).toBe('RepoUnreachable');
      expect(err.nonRetryable).toBe(true);
      expect(err.message).toContain("transport 'http' not allowed");
      expect(requests).toBe(0);
    } finally {
      server.close();
    }
  });

  test('a git:// remote is refused without a connection, and at admission it is an InvalidPromotionRequest about repo', async () => {
    let connections = 0;
    const server = createTcpServer((socket) => {
      connections++;
      socket.destroy();
    });
    const port = await listening(server);
    try {
      const err = await failureOf(
        resolveCommit(cacheDir, { repo: `git://127.0.0.1:${port}/chat.git`, fromBranch: 'main', commitSha: repo.base }),
      );
      expect(err.type).toBe('InvalidPromotionRequest');
      expect(err.nonRetryable).toBe(true);
      expect(err.message).toMatch(/^repo: git refused the transport/);
      expect(connections).toBe(0);
    } finally {
      server.close();
    }
  });

  test('an ext:: remote never runs its command', async () => {
    const marker = path.join(tmp, 'pwned');
    const err = await failureOf(readBranchTip({ repo: `ext::touch ${marker}`, branch: 'release' }));
    expect(err.type).toBe('RepoUnreachable');
    expect(err.nonRetryable).toBe(true);
    expect(existsSync(marker)).toBe(false);
  });
});

describe('git failures are typed and carry no credential', () => {
  const SECRET = 'tok3n-s3cr3t-value';

  test('an unreachable https remote is a retryable RepoUnreachable whose message masks the user info and the query', async () => {
    const server = createTcpServer((socket) => socket.destroy());
    const port = await listening(server);
    server.close(); // a port nobody listens on: connection refused
    const repoUrl = `https://x-access-token:${SECRET}@127.0.0.1:${port}/acme/chat.git?access_token=${SECRET}`;
    const err = await failureOf(readBranchTip({ repo: repoUrl, branch: 'release' }));
    expect(err.type).toBe('RepoUnreachable');
    expect(err.nonRetryable).toBe(false);
    expect(err.message).toContain(`127.0.0.1:${port}`);
    expect(err.message).not.toContain(SECRET);
    expect(JSON.stringify(err.details ?? [])).not.toContain(SECRET);
    expect(err.cause).toBeUndefined();
  });

  test('a missing remote repo under the lock is a retryable RepoUnreachable (it was there at admission: an outage), not a request error', async () => {
    const missing = path.join(tmp, 'gone.git');
    const err = await failureOf(
      moveBranch(cacheDir, {
        repo: missing,
        branch: 'release',
        expectedTip: null,
        targetSha: repo.base,
        sourceBranch: 'main',
        allowDowngrade: false,
      }),
    );
    expect(err.type).toBe('RepoUnreachable');
    expect(err.nonRetryable).toBe(false);
    expect(err.message).toContain(missing);
    expect(err.message).toContain('readable when the promotion was admitted');
  });
});
