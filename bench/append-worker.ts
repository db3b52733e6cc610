// One of the bench's appending processes: reserve + append `count` entries to a shared ledger,
// the way a worker does at the end of each promotion. Prints its own elapsed time.
import type { PromotionRecord } from '../src/ledger/entry';
import { appendLedgerEntry, reserveReleaseId } from '../src/ledger/store';

async function main(): Promise<void> {
  const [file, countText, prefix] = process.argv.slice(2) as [string, string, string];
  const count = Number(countText);
  const sha = 'b'.repeat(40);
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const workflowId = `${prefix}-${i}`;
    const releaseId = await reserveReleaseId({
      ledgerPath: file,
      workflowId,
      kind: 'rc',
      at: new Date().toISOString(),
    });
    const record: PromotionRecord = {
      type: 'promotion',
      releaseId,
      workflowId,
      evidenceRef: `temporal:default/${workflowId}/run`,
      commitSha: sha,
      environment: 'production',
      repo: '/srv/git/chat.git',
      fromBranch: 'main',
      toBranch: 'release',
      stagingBase: 'https://staging.example.com',
      stagingGateCommand: 'release-promoter gates --mode staging --base https://staging.example.com',
      stagingGateResult: 'pass',
      gatesRun: [],
      changeClass: 'A',
      prodVerification: [],
      result: 'pass',
      rollbackPlan: 'rollbackWorkflow',
      notes: `append bench ${i}`,
      operator: 'bench',
      approvals: [],
      extras: [],
    };
    await appendLedgerEntry(file, record, async () => sha);
  }
  process.stdout.write(`elapsedMs=${Math.round(performance.now() - started)}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
