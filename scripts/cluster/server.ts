// temporal-server for the cluster tier, started the way the temporalio/server image starts it
// (`temporal-server start`, our config file named by TEMPORAL_SERVER_CONFIG_FILE_PATH), with
// config/temporal/cluster.yaml filled from the environment: 127.0.0.1, the ports given.
import { ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

const ROOT = path.resolve(__dirname, '..', '..');
export const SERVER_CONFIG = path.join(ROOT, 'config', 'temporal', 'cluster.yaml');
export const DYNAMIC_CONFIG = path.join(ROOT, 'config', 'temporal', 'dynamicconfig.yaml');

/** The services' ports: gRPC, and membership (ringpop), each below 32768. */
export const SERVER_PORT_NAMES = [
  'FRONTEND_GRPC_PORT',
  'FRONTEND_HTTP_PORT',
  'FRONTEND_MEMBERSHIP_PORT',
  'HISTORY_GRPC_PORT',
  'HISTORY_MEMBERSHIP_PORT',
  'MATCHING_GRPC_PORT',
  'MATCHING_MEMBERSHIP_PORT',
  'WORKER_GRPC_PORT',
  'WORKER_MEMBERSHIP_PORT',
] as const;
export type ServerPorts = Record<(typeof SERVER_PORT_NAMES)[number], number>;

export interface TemporalServer {
  address: string;
  pid: number;
  log: string;
  /** Resolves when the process exits (with how it ended). */
  exited: Promise<string>;
  stop(): Promise<void>;
}

/** The last lines of a log, for an error message. */
export function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export function startTemporalServer(options: {
  binary: string;
  postgres: { port: number; user: string; password: string };
  ports: ServerPorts;
  log: string;
  logLevel: string;
}): TemporalServer {
  const out = openSync(options.log, 'a');
  let child: ChildProcess;
  try {
    child = spawn(options.binary, ['start'], {
      stdio: ['ignore', out, out],
      // Its own process group: a Ctrl-C at the terminal reaches us, and we stop it before PostgreSQL.
      detached: true,
      // Only what the config reads: none of the caller's TEMPORAL_* settings reach the server.
      env: {
        PATH: process.env.PATH,
        TEMPORAL_SERVER_CONFIG_FILE_PATH: SERVER_CONFIG,
        TEMPORAL_ALLOW_NO_AUTH: 'true',
        DYNAMIC_CONFIG_FILE_PATH: DYNAMIC_CONFIG,
        LOG_LEVEL: options.logLevel,
        POSTGRES_SEEDS: '127.0.0.1',
        DB_PORT: String(options.postgres.port),
        POSTGRES_USER: options.postgres.user,
        POSTGRES_PWD: options.postgres.password,
        BIND_ON_IP: '127.0.0.1',
        TEMPORAL_BROADCAST_ADDRESS: '127.0.0.1',
        ...Object.fromEntries(Object.entries(options.ports).map(([name, port]) => [name, String(port)])),
      },
    });
  } finally {
    closeSync(out);
  }
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ? `killed by ${signal}` : `exit code ${code}`));
    child.once('error', (err) => resolve(`could not start: ${err.message}`));
  });
  return {
    address: `127.0.0.1:${options.ports.FRONTEND_GRPC_PORT}`,
    pid: child.pid ?? -1,
    log: options.log,
    exited,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // SIGTERM: the server leaves the membership ring and closes its connections.
      child.kill('SIGTERM');
      const ended = await Promise.race([exited.then(() => true), delay(30_000).then(() => false)]);
      if (!ended) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}
