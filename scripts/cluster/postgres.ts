// PostgreSQL for the cluster tier: Debian's server binaries (postgresql-15), a data directory of
// ours, TCP on 127.0.0.1 only (no Unix socket). PostgreSQL refuses to run as root, so as root
// every PostgreSQL program runs as the `postgres` user (runuser), who owns the data directory.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The role Temporal connects as; compose's postgres service has the same (a loopback-only database). */
export const POSTGRES_USER = 'temporal';
export const POSTGRES_PASSWORD = 'temporal';

const asRoot = process.getuid?.() === 0;

/** PG_BINDIR, else the newest /usr/lib/postgresql/<major>/bin that has initdb. */
export function postgresBinDir(): string {
  if (process.env.PG_BINDIR) return process.env.PG_BINDIR;
  const base = '/usr/lib/postgresql';
  const majors = existsSync(base)
    ? readdirSync(base)
        .filter((major) => /^\d+$/.test(major) && existsSync(path.join(base, major, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (!majors[0])
    throw new Error(
      'no PostgreSQL server under /usr/lib/postgresql/<major>/bin: apt-get install postgresql-15, or set PG_BINDIR to the directory with initdb and pg_ctl',
    );
  return path.join(base, majors[0], 'bin');
}

/** Runs a PostgreSQL program (as the postgres user when we are root); its output in the error. */
async function runPostgresProgram(program: string, args: string[]): Promise<string> {
  const [command, argv] = asRoot
    ? ['runuser', ['-u', 'postgres', '--', path.join(postgresBinDir(), program), ...args]]
    : [path.join(postgresBinDir(), program), args];
  try {
    const { stdout } = await execFileAsync(command, argv, { encoding: 'utf8' });
    return stdout;
  } catch (err) {
    const failed = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`${program} ${args.join(' ')} failed: ${failed.stderr || failed.stdout || failed.message}`, {
      cause: err,
    });
  }
}

async function giveToPostgresUser(file: string): Promise<void> {
  if (asRoot) await execFileAsync('chown', ['postgres:postgres', file]);
}

export interface Postgres {
  port: number;
  dataDir: string;
  log: string;
  /** The postmaster's pid while it runs (from postmaster.pid). */
  pid(): number | undefined;
  stop(): Promise<void>;
}

function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts PostgreSQL on 127.0.0.1:`port` with its data in `<dir>/pg` (created by initdb on first
 * use; kept otherwise). `dir` must be traversable by the postgres user when we are root. A server
 * left running on that data directory by a run that was killed is stopped first.
 */
export async function startPostgres(dir: string, port: number): Promise<Postgres> {
  const dataDir = path.join(dir, 'pg');
  const log = path.join(dataDir, 'server.log');
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    await rm(dataDir, { recursive: true, force: true });
    await mkdir(dataDir, { mode: 0o700 });
    await giveToPostgresUser(dataDir);
    const passwordFile = path.join(dir, 'pg-password');
    await writeFile(passwordFile, `${POSTGRES_PASSWORD}\n`, { mode: 0o600 });
    await giveToPostgresUser(passwordFile);
    try {
      await runPostgresProgram('initdb', [
        '--pgdata',
        dataDir,
        '--username',
        POSTGRES_USER,
        '--pwfile',
        passwordFile,
        '--auth-host',
        'scram-sha-256',
        '--auth-local',
        'trust',
        '--encoding',
        'UTF8',
        '--locale',
        'C',
      ]);
    } finally {
      await rm(passwordFile, { force: true });
    }
    // All four Temporal services of one process open pools of their own (up to 30 connections each).
    const settings = ["listen_addresses = '127.0.0.1'", "unix_socket_directories = ''", 'max_connections = 200'];
    await writeFile(
      path.join(dataDir, 'postgresql.conf'),
      `\n# release-promoter cluster tier\n${settings.join('\n')}\n`,
      {
        flag: 'a',
      },
    );
  } else if (postmasterPid(dataDir) !== undefined) {
    await runPostgresProgram('pg_ctl', ['--pgdata', dataDir, '--mode', 'fast', '--wait', 'stop']).catch(
      () => undefined,
    );
  }
  await runPostgresProgram('pg_ctl', [
    '--pgdata',
    dataDir,
    '--log',
    log,
    '--wait',
    '--timeout',
    '60',
    // pg_ctl hands these to the postgres command line: only our own number goes in.
    '-o',
    `-p ${port}`,
    'start',
  ]);
  return {
    port,
    dataDir,
    log,
    pid: () => postmasterPid(dataDir),
    stop: async () => {
      if (postmasterPid(dataDir) === undefined) return;
      await runPostgresProgram('pg_ctl', ['--pgdata', dataDir, '--mode', 'fast', '--wait', '--timeout', '60', 'stop']);
    },
  };
}
