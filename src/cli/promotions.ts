// The commands that look at promotions and rollbacks: status, watch, list.
import { Command } from '@commander-js/extra-typings';
import { statusQuery } from '../workflows/messages';
import { withClient } from './client';
import { follow } from './follow';
import { describeStatus, print, workflowTable, type WorkflowRow } from './render';

export function addPromotionCommands(program: Command): void {
  program
    .command('status')
    .description("a promotion's or rollback's status")
    .argument('<workflowId>')
    .option('--json')
    .action(async (workflowId, o) => {
      await withClient(async (client) => {
        const status = await client.workflow.getHandle(workflowId).query(statusQuery);
        print(!!o.json, status, () => console.log(describeStatus(status)));
      });
    });

  program
    .command('watch')
    .description('follow a promotion or rollback until it ends')
    .argument('<workflowId>')
    .option('--json')
    .action(async (workflowId, o) => {
      process.exitCode = await withClient((client) => follow(client.workflow.getHandle(workflowId), !!o.json));
    });

  program
    .command('list')
    .description('promotions and rollbacks, newest first')
    .option('--stage <stage>', 'only this stage (e.g. awaiting_approval)')
    .option('--limit <n>', 'at most n', '20')
    .option('--json')
    .action(async (o) => {
      await withClient(async (client) => {
        // The stage is spliced into a visibility query: only its a-z and _ are kept.
        const query = [
          `WorkflowType IN ('promotionWorkflow','rollbackWorkflow')`,
          o.stage ? `ReleaseStage = '${o.stage.replace(/[^a-z_]/g, '')}'` : '',
        ]
          .filter(Boolean)
          .join(' AND ');
        const rows: WorkflowRow[] = [];
        for await (const wf of client.workflow.list({ query })) {
          const sa = wf.searchAttributes as Record<string, unknown[] | undefined>;
          rows.push({
            workflowId: wf.workflowId,
            type: wf.type,
            status: wf.status.name,
            releaseId: sa.ReleaseId?.[0],
            stage: sa.ReleaseStage?.[0],
            commit: sa.CommitSha?.[0],
            started: wf.startTime.toISOString(),
          });
          if (rows.length >= Number(o.limit)) break;
        }
        print(!!o.json, rows, () => console.log(workflowTable(rows)));
      });
    });
}
