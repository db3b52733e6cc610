// The worker's git credentials reach only the platform owner's remotes (SPEC §6/§7): real git,
// real ssh, and a stand-in ssh command that records where git sent it. A registered remote gets
// the worker's GIT_SSH_COMMAND, ssh agent and git config; a caller-chosen repo gets none of them.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { createActivities } from '../src/activities';
import { git, gitEnvironment, mayUseCredentials, useCredentialsOnlyFor } from '../src/activities/git-process';
import { loadConfig } from '../src/config';

const REGISTERED = 'ssh://git@127.0.0.1:9/acme/registered.git';
const CALLERS = 'ssh://git@127.0.0.1:9/acme/callers-own.git';

let tmp: string;
let log: string;
const saved = { ...process.env };

beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'git-credentials-'));
  log = path.join(tmp, 'ssh-calls.log');
  // What a credentialed ssh would be: it records the remote git asked for, then fails like a refused key.
  const recorder = path.join(tmp, 'recording-ssh');
  // (git first runs `ssh -G` to learn which ssh it is: answered as OpenSSH, not recorded.)
  await writeFile(recorder, `#!/bin/sh\n[ "$1" = -G ] && exit 0\necho "$*" >> '${log}'\nexit 255\n`);
  await chmod(recorder, 0o755);
  process.env.GIT_SSH_COMMAND = recorder;
  process.env.SSH_AUTH_SOCK = path.join(tmp, 'agent.sock');
  useCredentialsOnlyFor([REGISTERED]);
});

afterEach(async () => {
  for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
  Object.assign(process.env, saved);
  useCredentialsOnlyFor([]);
  await rm(tmp, { recursive: true, force: true });
});

const calls = (): string => (existsSync(log) ? readFileSync(log, 'utf8') : '');

test('a registered remote is reached with the worker GIT_SSH_COMMAND; a caller-chosen repo on the same host is not', async () => {
  await expect(git(['ls-remote', '--', REGISTERED], { remote: REGISTERED })).rejects.toThrow(/ls-remote failed/);
  expect(calls()).toContain('acme/registered.git');

  await expect(git(['ls-remote', '--', CALLERS], { remote: CALLERS })).rejects.toThrow(/ls-remote failed/);
  expect(calls()).not.toContain('callers-own.git');
  // A call that names no remote gets no credentials either (git still runs the plain ssh).
  await expect(git(['ls-remote', '--', CALLERS])).rejects.toThrow(/ls-remote failed/);
  expect(calls()).not.toContain('callers-own.git');
});

test('an ssh command from the worker git config (core.sshCommand) is dropped for a caller-chosen repo', async () => {
  delete process.env.GIT_SSH_COMMAND;
  const gitconfig = path.join(tmp, 'gitconfig');
  await writeFile(gitconfig, `[core]\n\tsshCommand = ${path.join(tmp, 'recording-ssh')}\n`);
  process.env.GIT_CONFIG_GLOBAL = gitconfig;

  await expect(git(['ls-remote', '--', REGISTERED], { remote: REGISTERED })).rejects.toThrow(/ls-remote failed/);
  expect(calls()).toContain('acme/registered.git');
  await expect(git(['ls-remote', '--', CALLERS], { remote: CALLERS })).rejects.toThrow(/ls-remote failed/);
  expect(calls()).not.toContain('callers-own.git');
});

test('the environment of an uncredentialed call holds no agent, ssh command, git config or home, and keeps the transport limits', () => {
  process.env.GIT_CONFIG_COUNT = '1';
  process.env.GIT_CONFIG_KEY_0 = 'credential.helper';
  process.env.GIT_CONFIG_VALUE_0 = 'store';
  const env = gitEnvironment(CALLERS);
  expect(env.SSH_AUTH_SOCK).toBeUndefined();
  expect(env.GIT_CONFIG_COUNT).toBeUndefined();
  expect(env.GIT_CONFIG_KEY_0).toBeUndefined();
  expect(env.GIT_CONFIG_VALUE_0).toBeUndefined();
  expect(env.GIT_SSH_COMMAND).not.toContain('recording-ssh');
  expect(env.GIT_SSH_COMMAND).toContain('IdentityAgent=none');
  expect(env).toMatchObject({ GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', HOME: '/nonexistent' });
  expect(env).toMatchObject({ GIT_ALLOW_PROTOCOL: 'file:https:ssh', GIT_TERMINAL_PROMPT: '0' });

  const registered = gitEnvironment(REGISTERED);
  expect(registered.SSH_AUTH_SOCK).toBe(process.env.SSH_AUTH_SOCK);
  expect(registered.GIT_CONFIG_VALUE_0).toBe('store');
  expect(registered).toMatchObject({ GIT_ALLOW_PROTOCOL: 'file:https:ssh', GIT_TERMINAL_PROMPT: '0' });
});

test('a registered remote keeps its credentials in another spelling of the same URL', () => {
  expect(mayUseCredentials('ssh://git@127.0.0.1:9/acme/registered.git/')).toBe(true);
  expect(mayUseCredentials('SSH://git@127.0.0.1:9/acme/registered.git')).toBe(true);
  expect(mayUseCredentials(CALLERS)).toBe(false);
  expect(mayUseCredentials(undefined)).toBe(false);
});

test("the worker's activities trust exactly the registry's repos and the ledger's remote", () => {
  const registry = path.join(tmp, 'environments.json');
  writeFileSync(
    registry,
    JSON.stringify({
      environments: {
        production: {
          repo: REGISTERED,
          stagingBase: 'http://127.0.0.1:1',
          productionBase: 'http://127.0.0.1:2',
        },
      },
    }),
  );
  const config = loadConfig(
    {
      ENVIRONMENTS_CONFIG: registry,
      RELEASE_LEDGER: 'git:ssh://git@127.0.0.1:9/acme/release-log.git#release-log:RELEASE_LOG.md',
      GIT_CACHE_DIR: path.join(tmp, 'cache'),
    },
    tmp,
  );
  // The client is never used: building the activities reaches no server.
  createActivities(config, {} as Client);
  expect(mayUseCredentials(REGISTERED)).toBe(true);
  expect(mayUseCredentials('ssh://git@127.0.0.1:9/acme/release-log.git')).toBe(true);
  expect(mayUseCredentials(CALLERS)).toBe(false);
});
