// The Temporal client connection the configuration describes (address, TLS, API key), shared by
// the CLI and the worker. It needs only @temporalio/client: a CLI command that imports it does not
// load the worker's native runtime (@temporalio/worker), which costs start-up time for nothing.
import { readFileSync } from 'node:fs';
import { Connection } from '@temporalio/client';
import type { TLSConfig } from '@temporalio/common/lib/internal-non-workflow';
import type { Config } from './config';

export function tlsOptions(config: Config): TLSConfig | boolean | undefined {
  const tls = config.temporal.tls;
  if (!tls) return config.temporal.apiKey ? true : undefined;
  return {
    serverNameOverride: tls.serverName,
    serverRootCACertificate: tls.caPath ? readFileSync(tls.caPath) : undefined,
    clientCertPair:
      tls.certPath && tls.keyPath ? { crt: readFileSync(tls.certPath), key: readFileSync(tls.keyPath) } : undefined,
  };
}

/**
 * Connects and checks the server answers (Connection.connect), within `connectTimeoutMs` (default:
 * the SDK's 10 s, what the worker uses). A connection that failed is closed, so its channel's
 * reconnect attempts do not keep the process alive after the error.
 */
export async function connectClient(config: Config, options: { connectTimeoutMs?: number } = {}): Promise<Connection> {
  const connection = Connection.lazy({
    address: config.temporal.address,
    tls: tlsOptions(config),
    apiKey: config.temporal.apiKey,
    connectTimeout: options.connectTimeoutMs,
  });
  try {
    await connection.ensureConnected();
    return connection;
  } catch (err) {
    await connection.close().catch(() => undefined);
    throw err;
  }
}
