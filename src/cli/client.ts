// What a command acts with: the identity it decides and starts as, and a Temporal client on the
// configured connection, closed when the command is done (an open connection keeps node alive).
import os from 'node:os';
import { Client } from '@temporalio/client';
import { Config, loadConfig } from '../config';
import { connectClient } from '../connection';

/** RELEASE_PROMOTER_IDENTITY, else the OS user: who starts, approves and rolls back. */
export function identity(): string {
  return process.env.RELEASE_PROMOTER_IDENTITY || os.userInfo().username;
}

export async function withClient<T>(work: (client: Client, cfg: Config) => Promise<T>): Promise<T> {
  const cfg = loadConfig();
  const connection = await connectClient(cfg);
  try {
    return await work(new Client({ connection, namespace: cfg.temporal.namespace }), cfg);
  } finally {
    await connection.close();
  }
}
