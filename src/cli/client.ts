// What a command acts with: the identity it claims (SPEC §1), and a Temporal client on the
// connection Temporal's own configuration gives (a temporal.toml profile, the temporal CLI's
// variables; temporal-profile.ts), with the program's --profile / --config-file / --address /
// --namespace over it, closed when the command is done (an open connection keeps node alive).
import net from 'node:net';
import os from 'node:os';
// Types only from the Temporal client: it loads in withClient, so --help and usage errors never pay for it.
import type { Client, Connection } from '@temporalio/client';
import { Config, ConfigError, loadConfig } from '../config';
import { Identity } from '../domain';
// Types only here too: envconfig loads with the client.
import type { ConnectionOverrides, TemporalConnection } from '../temporal-profile';

/** How long a command waits for the server before it says it cannot reach it (the worker waits longer). */
export const CONNECT_TIMEOUT_MS = 2_000;

/** Temporal could not answer (EXIT.unavailable): the message names the address and namespace. */
export class TemporalUnavailableError extends Error {
  override name = 'TemporalUnavailableError';
}

/** The program's global --profile / --config-file / --address / --namespace: set before a command's action runs. */
export type ConnectionFlags = ConnectionOverrides;
let connectionFlags: ConnectionFlags = {};
export function setConnectionFlags(flags: ConnectionFlags): void {
  const { address, namespace, profile, configFile } = flags;
  connectionFlags = { address, namespace, profile, configFile };
}

/** The configuration a command runs with (ours: task queue, ledger, registry…; the connection is not in it). */
export function cliConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return loadConfig(env);
}

/** Where a command connects: for messages about the server, and the namespace its queries name. */
export interface ConnectionTarget {
  address: string;
  namespace: string;
}
/** What withClient hands a command: its configuration and where it connected. */
export type CommandConfig = Config & { temporal: ConnectionTarget };

/** Where the last command connected (or tried to): for messages about the server. */
let lastTarget: ConnectionTarget | undefined;
export function connectionTarget(): ConnectionTarget | undefined {
  return lastTarget;
}

export interface IdentityOptions {
  /** The command's --as. */
  as?: string;
  /** May the OS user stand in when neither --as nor RELEASE_PROMOTER_IDENTITY is given (start, rollback; never a decision). */
  allowOsUser?: boolean;
  /** The command, for the messages ("approve needs an identity"). */
  command?: string;
}

/**
 * Who the command claims to act as (SPEC §1; Temporal's authorization decides who may signal, the
 * registry's approvers whose decision counts): --as, else RELEASE_PROMOTER_IDENTITY, else, only
 * with allowOsUser, the OS user, said on stderr. Without a name the command is refused (ConfigError,
 * EXIT.usage) before anything is sent.
 */
export function identity(options: IdentityOptions = {}): string {
  const command = options.command ?? 'this command';
  const claimed = options.as ?? (process.env.RELEASE_PROMOTER_IDENTITY || undefined);
  const source = options.as !== undefined ? '--as' : 'RELEASE_PROMOTER_IDENTITY';
  if (claimed !== undefined) {
    const parsed = Identity.safeParse(claimed);
    if (!parsed.success) throw new ConfigError(`${source}: ${parsed.error.issues[0]?.message ?? 'not a valid name'}`);
    return parsed.data;
  }
  if (!options.allowOsUser)
    throw new ConfigError(
      `${command} needs to know who you are: pass --as <name> or set RELEASE_PROMOTER_IDENTITY (a decision is never made as the OS user)`,
    );
  const user = os.userInfo().username;
  process.stderr.write(
    `release-promoter: acting as ${user} (the OS user); pass --as <name> or set RELEASE_PROMOTER_IDENTITY to claim another name\n`,
  );
  return user;
}

export async function withClient<T>(work: (client: Client, cfg: CommandConfig) => Promise<T>): Promise<T> {
  const cfg = cliConfig();
  const { addressOrigin, resolveConnection } = await import('../temporal-profile');
  const temporal = resolveConnection(process.env, connectionFlags);
  const connection = await connect(temporal, temporal.addressFrom === 'profile' ? addressOrigin(temporal) : undefined);
  try {
    const { Client } = await import('@temporalio/client');
    const target = { address: temporal.options.address, namespace: temporal.namespace };
    return await work(new Client({ connection, namespace: temporal.namespace }), { ...cfg, temporal: target });
  } finally {
    await connection.close();
  }
}

/**
 * Connects within CONNECT_TIMEOUT_MS, or throws TemporalUnavailableError naming the address, why,
 * and `profileOrigin` when a profile gave the address (the file to fix).
 */
async function connect(temporal: TemporalConnection, profileOrigin: string | undefined): Promise<Connection> {
  const { address } = temporal.options;
  const { namespace } = temporal;
  lastTarget = { address, namespace };
  try {
    const { connectClient } = await import('../connection');
    return await connectClient(temporal, { connectTimeoutMs: CONNECT_TIMEOUT_MS });
  } catch (err) {
    if (err instanceof ConfigError) throw err; // unusable certificates: the settings, not the server
    const reason = await whyUnreachable(address, err);
    const fromProfile = profileOrigin ? ` the address comes from ${profileOrigin}: correct it there, or` : '';
    throw new TemporalUnavailableError(
      `cannot reach Temporal at ${address} (namespace ${namespace}): ${reason}; is the server running?${fromProfile} set TEMPORAL_ADDRESS or --address`,
    );
  }
}

/**
 * gRPC only says the deadline passed; a plain TCP connect says why (refused, no such host, no
 * answer). When the port does answer, the gRPC error is the reason (not a Temporal server, TLS…).
 */
async function whyUnreachable(address: string, err: unknown): Promise<string> {
  const grpcReason = errorText(err);
  const match = /^\[?([^\]]*)\]?:(\d+)$/.exec(address);
  if (!match) return grpcReason;
  const [, host = '', port = ''] = match;
  const tcp = await new Promise<string | undefined>((resolve) => {
    const socket = net.connect({ host, port: Number(port) });
    const done = (reason: string | undefined) => {
      socket.destroy();
      resolve(reason);
    };
    socket.setTimeout(500, () => done(`no answer from ${address} (${grpcReason})`));
    socket.once('connect', () => done(undefined));
    // "connect ECONNREFUSED 127.0.0.1:7233", "getaddrinfo ENOTFOUND temporal.example".
    socket.once('error', (e: NodeJS.ErrnoException) => done(e.message || e.code || 'connection failed'));
  });
  return tcp ?? `${address} accepts connections but did not answer as a Temporal server: ${grpcReason}`;
}

function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error && cause.message && cause.message !== err.message
    ? `${err.message}: ${cause.message}`
    : err.message;
}
