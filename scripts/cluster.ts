// A real Temporal cluster on this machine: PostgreSQL on 127.0.0.1, temporal-server (the version
// docker-compose.yml pins, built into .tools/) on our config file, the `default` namespace and
// the search attributes the worker needs. `npm run cluster` runs it in the foreground until
// Ctrl-C; test/cluster/global-setup.ts starts and stops it through the same startCluster.
//
//   npm run cluster                         data in .data/cluster/ (kept between runs)
//   npm run cluster -- --data-dir <dir>     data elsewhere
import { execFile } from 'node:child_process';
import { mkdir, chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { resolveTemporalCli } from '../src/temporal-cli';
import { SEARCH_ATTRIBUTE_KEYS } from '../src/workflows/messages';
import { freePortsBelowEphemeral } from './cluster/ports';
import { POSTGRES_PASSWORD, POSTGRES_USER, Postgres, startPostgres } from './cluster/postgres';
import { SERVER_PORT_NAMES, ServerPorts, startTemporalServer, tail, TemporalServer } from './cluster/server';
import { ensureClusterTools } from './cluster/tools';
import { stopStaleServer } from './cluster/stale';

const execFileAsync = promisify(execFile);
const ROOT = path.resolve(__dirname, '..');
const SCRIPTS = path.join(ROOT, 'scripts', 'cluster');
export const DEFAULT_DATA_DIR = path.join(ROOT, '.data', 'cluster');
export const CLUSTER_NAMESPACE = 'default';

export interface Cluster {
  /** host:port of the frontend. */
  address: string;
  namespace: string;
  /** The server version (docker-compose.yml's pin). */
  version: string;
  dataDir: string;
  serverLog: string;
  serverPid: number;
  /** Resolves when temporal-server exits, saying how. */
  serverExited: Promise<string>;
  postgresPort: number;
  /** The postmaster's pid while PostgreSQL runs. */
  postgresPid(): number | undefined;
  /** Server, then PostgreSQL; removes the data directory when startCluster made it. */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** Where PostgreSQL's data and the server log live; kept. Default: a temp dir, removed by stop(). */
  dataDir?: string;
  /** The server's log level (its log goes to <dataDir>/temporal-server.log). */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Progress lines (default: none). */
  progress?: (line: string) => void;
}

async function runScript(
  script: string,
  env: Record<string, string>,
  what: string,
  signal?: AbortSignal,
): Promise<void> {
  try {
    await execFileAsync('sh', [path.join(SCRIPTS, script)], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.homedir(), ...env },
      encoding: 'utf8',
      signal,
    });
  } catch (err) {
    const failed = err as Error & { stdout?: string; stderr?: string };
    throw new Error(
      `${what} failed (scripts/cluster/${script}):\n${failed.stderr || failed.stdout || failed.message}`,
      {
        cause: err,
      },
    );
  }
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const progress = options.progress ?? (() => undefined);
  const tools = ensureClusterTools();
  const cli = resolveTemporalCli();
  const temporary = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'release-promoter-cluster-')));
  await mkdir(dataDir, { recursive: true });
  // The postgres user must get through to <dataDir>/pg (mkdtemp makes 0700 directories).
  await chmod(dataDir, 0o711);
  const serverPidFile = path.join(dataDir, 'temporal-server.pid');
  await stopStaleServer(serverPidFile);

  const [postgresPort, ...serverPortList] = await freePortsBelowEphemeral(1 + SERVER_PORT_NAMES.length);
  const ports = Object.fromEntries(SERVER_PORT_NAMES.map((name, i) => [name, serverPortList[i]])) as ServerPorts;
  let postgres: Postgres | undefined;
  let server: TemporalServer | undefined;
  const stop = async () => {
    await server?.stop();
    await rm(serverPidFile, { force: true });
    await postgres?.stop();
    if (temporary) await rm(dataDir, { recursive: true, force: true });
  };
  try {
    postgres = await startPostgres(dataDir, postgresPort as number);
    progress(`PostgreSQL on 127.0.0.1:${postgres.port} (data in ${postgres.dataDir})`);
    const connection = {
      POSTGRES_SEEDS: '127.0.0.1',
      DB_PORT: String(postgres.port),
      POSTGRES_USER,
      POSTGRES_PWD: POSTGRES_PASSWORD,
    };
    await runScript(
      'setup-schema.sh',
      { ...connection, TEMPORAL_SQL_TOOL: tools.sqlTool, TEMPORAL_SCHEMA_DIR: tools.schemaDir },
      'creating the temporal and temporal_visibility schemas',
    );
    progress('schemas of temporal and temporal_visibility up to date');

    const serverLog = path.join(dataDir, 'temporal-server.log');
    server = startTemporalServer({
      binary: tools.server,
      postgres: { port: postgres.port, user: POSTGRES_USER, password: POSTGRES_PASSWORD },
      ports,
      log: serverLog,
      logLevel: options.logLevel ?? 'warn',
    });
    await writeFile(serverPidFile, `${server.pid}\n`);
    const registering = new AbortController();
    const registered = runScript(
      'register-namespace.sh',
      {
        TEMPORAL_ADDRESS: server.address,
        TEMPORAL_NAMESPACE: CLUSTER_NAMESPACE,
        TEMPORAL_CLI: cli,
        SEARCH_ATTRIBUTES: SEARCH_ATTRIBUTE_KEYS.map((key) => key.name).join(' '),
      },
      `registering namespace ${CLUSTER_NAMESPACE} and the search attributes`,
      registering.signal,
    );
    // A server that dies while it starts ends the wait at once, with its log.
    const died = server.exited.then((how) => {
      throw new Error(`temporal-server ${tools.version} ${how} while starting:\n${tail(serverLog)}`);
    });
    died.catch(() => undefined);
    try {
      await Promise.race([registered, died]);
    } finally {
      registering.abort();
    }
    progress(`temporal-server ${tools.version} on ${server.address}, namespace ${CLUSTER_NAMESPACE} ready`);
    const running = { postgres, server };
    return {
      address: server.address,
      namespace: CLUSTER_NAMESPACE,
      version: tools.version,
      dataDir,
      serverLog,
      serverPid: server.pid,
      serverExited: server.exited,
      postgresPort: postgres.port,
      postgresPid: () => running.postgres.pid(),
      stop,
    };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

function dataDirArgument(argv: string[]): string {
  const at = argv.indexOf('--data-dir');
  if (at === -1) return DEFAULT_DATA_DIR;
  const value = argv[at + 1];
  if (!value || value.startsWith('--')) throw new Error('--data-dir needs a directory');
  return path.resolve(value);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const unknown = argv.filter((arg, i) => arg !== '--data-dir' && argv[i - 1] !== '--data-dir');
  if (unknown.length > 0) {
    console.error(`cluster: unknown argument ${unknown[0]}; usage: npm run cluster [-- --data-dir <dir>]`);
    process.exit(2);
  }
  const dataDir = dataDirArgument(argv);
  const cluster = await startCluster({ dataDir, logLevel: 'info', progress: (line) => console.error(line) });
  console.log(`Temporal cluster ${cluster.version} at ${cluster.address} (namespace ${cluster.namespace})`);
  console.log(`  TEMPORAL_ADDRESS=${cluster.address} npm run worker`);
  console.log(`  temporal workflow list --address ${cluster.address}`);
  console.log(`  server log: ${cluster.serverLog}`);
  console.log('Ctrl-C stops it (the data stays).');
  let stopping = false;
  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    console.error(`${why}: stopping temporal-server, then PostgreSQL`);
    await cluster.stop();
    console.error('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  void cluster.serverExited.then(async (how) => {
    if (stopping) return;
    stopping = true;
    console.error(`temporal-server ${how}:\n${tail(cluster.serverLog)}\nstopping PostgreSQL`);
    await cluster.stop();
    process.exit(1);
  });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`cluster: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
