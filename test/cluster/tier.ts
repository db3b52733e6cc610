// What the cluster tier's suites share: a harness whose promotions run on the tier's two worker
// processes, and the `temporal` CLI pointed at the cluster.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHarness, Harness } from '../helpers';

const execFileAsync = promisify(execFile);

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is unset: run the cluster tier through npm run test:cluster`);
  return value;
}

export function clusterAddress(): string {
  return required('TEMPORAL_TEST_ADDRESS');
}

/** A target of its own (sample repo, staging and production services) on the tier's workers. */
export function createClusterHarness(): Promise<Harness> {
  return createHarness({
    workers: { taskQueue: required('CLUSTER_TEST_TASK_QUEUE'), ledgerPath: required('CLUSTER_TEST_LEDGER') },
  });
}

/** `temporal <args> --address <the cluster>` as a user types it; its stdout. */
export async function temporalCli(args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(required('TEMPORAL_CLI_RESOLVED'), [...args, '--address', clusterAddress()], {
    encoding: 'utf8',
  });
  return stdout;
}

/** The workflow ids `temporal workflow list --query <query> --output json` prints. */
export async function listedWorkflowIds(query: string): Promise<string[]> {
  const out = (await temporalCli(['workflow', 'list', '--query', query, '--output', 'json'])).trim();
  if (out === '') return [];
  // One JSON array, or one object per line.
  const rows: unknown[] = out.startsWith('[') ? JSON.parse(out) : out.split('\n').map((line) => JSON.parse(line));
  return rows.map((row) => (row as { execution?: { workflowId?: string } }).execution?.workflowId ?? '?');
}
