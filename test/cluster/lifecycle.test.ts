// `npm run cluster` as a user runs it (tsx scripts/cluster.ts, here with its data in a temp dir):
// it prints the address of a cluster that answers, with the `default` namespace and the worker's
// search attributes registered, and Ctrl-C stops the server and PostgreSQL, leaving no process.
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTE_KEYS } from '../../src/workflows/messages';
import { waitFor } from '../helpers';

const ROOT = path.resolve(__dirname, '..', '..');

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

let dataDir: string;
let child: ChildProcess | undefined;
beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'release-promoter-cluster-cmd-'));
});
afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGINT');
  await rm(dataDir, { recursive: true, force: true });
});

test('npm run cluster starts a cluster with the namespace and search attributes, and Ctrl-C leaves nothing running', async () => {
  child = spawn(path.join(ROOT, 'node_modules', '.bin', 'tsx'), ['scripts/cluster.ts', '--data-dir', dataDir], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
  const address = await waitFor(
    'the cluster command to print its address',
    async () => {
      if (child?.exitCode !== null) throw new Error(`npm run cluster exited early:\n${stderr}`);
      return /^Temporal cluster \S+ at (127\.0\.0\.1:\d+) \(namespace default\)$/m.exec(stdout)?.[1];
    },
    150_000,
    200,
  );
  const port = Number(address.split(':')[1]);
  expect(port).toBeLessThan(32_768);

  const connection = await Connection.connect({ address });
  try {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
    for (const key of SEARCH_ATTRIBUTE_KEYS)
      expect(customAttributes?.[key.name]).toBe(temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD);
  } finally {
    await connection.close();
  }
  const serverPid = Number(readFileSync(path.join(dataDir, 'temporal-server.pid'), 'utf8'));
  const postgresPid = Number(readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
  expect([alive(serverPid), alive(postgresPid)]).toEqual([true, true]);

  child.kill('SIGINT');
  expect(await exited).toBe(0);
  expect(stderr).toContain('stopped');
  expect([alive(serverPid), alive(postgresPid)]).toEqual([false, false]);
  expect(await accepts(port)).toBe(false);
  // The data stays for the next run; the server's pid file does not.
  expect(existsSync(path.join(dataDir, 'pg', 'PG_VERSION'))).toBe(true);
  expect(existsSync(path.join(dataDir, 'temporal-server.pid'))).toBe(false);
});
