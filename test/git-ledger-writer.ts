// A process that writes to a git ledger as a worker does, for the git ledger's tests: its own cache
// clone, reserving and appending `count` entries at once (each a promotion's reserve + append), or
// appending one given entry. Prints one JSON line per entry: { releaseId, workflowId, chainHead, appended }.
import { GitLedger } from '../src/ledger/git-ledger';
import type { GitLedgerLocation } from '../src/ledger/location';
import { promotion } from './records';

async function main(): Promise<void> {
  const [locationJson, gitCacheDir, prefix, countText, releaseId] = process.argv.slice(2) as [
    string,
    string,
    string,
    string,
    string | undefined,
  ];
  const ledger = new GitLedger(JSON.parse(locationJson) as GitLedgerLocation, gitCacheDir);
  const sha = 'c'.repeat(40);
  const write = async (workflowId: string, id?: string) => {
    const reserved = id ?? (await ledger.reserve({ workflowId, kind: 'rc', at: new Date().toISOString() }));
    const result = await ledger.append(promotion(reserved, workflowId, { commitSha: sha }), async () => sha);
    process.stdout.write(`${JSON.stringify({ releaseId: reserved, workflowId, ...result })}\n`);
  };
  if (releaseId) await write(prefix, releaseId);
  else await Promise.all(Array.from({ length: Number(countText) }, (_, i) => write(`${prefix}-${i}`)));
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? String(err)}\n`);
  process.exit(1);
});
