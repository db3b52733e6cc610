// The Temporal client connection, on the settings resolveConnection found (temporal-profile.ts),
// shared by the CLI, the worker, the demo and the bench. It needs only @temporalio/client: a CLI
// command that imports it does not load the worker's native runtime (@temporalio/worker), which
// costs start-up time for nothing.
import { Connection } from '@temporalio/client';
import { ConfigError } from './config';
import type { TemporalConnection } from './temporal-profile';

/**
 * Connects and checks the server answers (Connection.connect), within `connectTimeoutMs` (default:
 * the SDK's 10 s, what the worker uses). A connection that failed is closed, so its channel's
 * reconnect attempts do not keep the process alive after the error. Certificates that are not
 * usable PEM are a ConfigError (the settings are wrong, not the server away).
 */
export async function connectClient(
  temporal: TemporalConnection,
  options: { connectTimeoutMs?: number } = {},
): Promise<Connection> {
  let connection: Connection;
  try {
    connection = Connection.lazy({ ...temporal.options, connectTimeout: options.connectTimeoutMs });
  } catch (err) {
    // Node's TLS error ("PEM routines::bad base64 decode") names the fault, never the contents.
    const where = temporal.profile ? ` of profile '${temporal.profile.name}' in ${temporal.profile.file}` : '';
    throw new ConfigError(
      `the TLS certificate or key${where} cannot be used (${(err as Error).message}); check the files are PEM and belong together`,
    );
  }
  try {
    await connection.ensureConnected();
    return connection;
  } catch (err) {
    await connection.close().catch(() => undefined);
    throw err;
  }
}
