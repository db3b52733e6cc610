// The promotion commands: start, approve, reject, status, watch, list.
import { Command, Option } from '@commander-js/extra-typings';
import { WorkflowHandle, WorkflowUpdateFailedError } from '@temporalio/client';
import pc from 'picocolors';
import { ConfigError } from '../config';
import type { PromotionStatus } from '../domain';
import { failureMessageOf } from '../failures';
// Type only: the workflows are started by name, so the CLI never loads workflow code.
import type { promotionWorkflow } from '../workflows';
import { decideUpdate, statusQuery } from '../workflows/messages';
import { parsePromotionRequest } from '../workflows/request';
import { identity, withClient } from './client';
import { follow } from './follow';
import { approvalLine, describeStatus, print, workflowTable, type WorkflowRow } from './render';

/** How long `start` (without --wait) waits for the worker to admit or refuse the promotion. */
const ADMISSION_WAIT_MS = 15_000;

export function addPromotionCommands(program: Command): void {
  program
    .command('start')
    .description('start a promotion of a commit (promotionWorkflow)')
    .requiredOption('--commit <sha>', 'commit to promote (7–40 hex)')
    .addOption(new Option('--class <class>', 'change class').choices(['A', 'B']).makeOptionMandatory())
    .option('--environment <name>', 'environment', 'production')
    .option('--repo <remote>', 'git remote (without a registry)')
    .option('--from-branch <branch>')
    .option('--to-branch <branch>')
    .option('--staging-base <url>')
    .option('--production-base <url>')
    .option('--optional-gates <names>', 'comma-separated optional gates')
    .option('--expect-budget-block', 'the cost gate expects 429 BUDGET_EXCEEDED')
    .option('--approval-required', 'wait for approval even for class A')
    .option('--accept-drift')
    .option('--allow-downgrade')
    .option('--notes <text>')
    .option('--workflow-id <id>')
    .option('--wait', 'follow the promotion until it ends')
    .option('--json')
    .action(async (o) => {
      const request = {
        commitSha: o.commit,
        changeClass: o.class,
        operator: identity(),
        environment: o.environment,
        repo: o.repo,
        fromBranch: o.fromBranch,
        toBranch: o.toBranch,
        stagingBase: o.stagingBase,
        productionBase: o.productionBase,
        optionalGates: o.optionalGates ? o.optionalGates.split(',').filter(Boolean) : undefined,
        expectBudgetBlock: o.expectBudgetBlock,
        approval: o.approvalRequired ? { required: true } : undefined,
        acceptDrift: o.acceptDrift,
        allowDowngrade: o.allowDowngrade,
        notes: o.notes,
      };
      const input: unknown = JSON.parse(JSON.stringify(request));
      // The workflow parses the same schema first thing; a typo is cheaper to report here, before
      // a workflow exists. (Whether the repo, branches and commit exist only the worker can tell.)
      try {
        parsePromotionRequest(input);
      } catch (err) {
        throw new ConfigError(failureMessageOf(err));
      }
      process.exitCode = await withClient(async (client, cfg) => {
        const workflowId =
          o.workflowId ?? `promotion-${o.environment}-${o.commit.slice(0, 7)}-${Date.now().toString(36)}`;
        const handle = await client.workflow.start<typeof promotionWorkflow>('promotionWorkflow', {
          taskQueue: cfg.taskQueue,
          workflowId,
          args: [input as never],
        });
        if (o.wait) return follow(handle, !!o.json);
        // Started is not admitted: wait (briefly) for the worker's verdict on repo, branches and commit.
        const admitted = await pastValidation(handle);
        if (admitted?.stage === 'invalid') return follow(handle, !!o.json);
        print(
          !!o.json,
          { workflowId, runId: handle.firstExecutionRunId, releaseId: admitted?.releaseId, stage: admitted?.stage },
          () =>
            console.log(
              admitted
                ? `started ${workflowId}: ${admitted.releaseId ?? ''} admitted, now ${admitted.stage}`
                : `started ${workflowId}; no worker has checked it yet (see: release-promoter status ${workflowId})`,
            ),
        );
        return 0;
      });
    });

  program
    .command('approve')
    .description(
      'approve a waiting promotion as RELEASE_PROMOTER_IDENTITY (the decide update: you learn at once whether it counted)',
    )
    .argument('<workflowId>')
    .option('--comment <text>')
    .option('--commit <sha>', 'only if the promotion is of this commit')
    .option('--json')
    .action(async (workflowId, o) => {
      process.exitCode = await decide(workflowId, 'approve', o);
    });

  program
    .command('reject')
    .description("reject a waiting promotion (the operator's own reject withdraws it)")
    .argument('<workflowId>')
    .requiredOption('--reason <text>', 'why')
    .option('--commit <sha>', 'only if the promotion is of this commit')
    .option('--json')
    .action(async (workflowId, o) => {
      process.exitCode = await decide(workflowId, 'reject', o);
    });

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

/** The status once the promotion has left `validating`, or undefined when no answer came in time. */
async function pastValidation(handle: WorkflowHandle): Promise<PromotionStatus | undefined> {
  const deadline = Date.now() + ADMISSION_WAIT_MS;
  while (Date.now() < deadline) {
    const status = (await handle.query(statusQuery).catch(() => undefined)) as PromotionStatus | undefined;
    if (status && status.stage !== 'validating') return status;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return undefined;
}

async function decide(
  workflowId: string,
  decision: 'approve' | 'reject',
  o: { comment?: string; reason?: string; commit?: string; json?: boolean },
): Promise<number> {
  return withClient(async (client) => {
    const answer = await client.workflow
      .getHandle(workflowId)
      .executeUpdate(decideUpdate, {
        args: [{ decision, approver: identity(), comment: o.comment, reason: o.reason, commitSha: o.commit }],
      })
      .catch((err: unknown) => {
        // The validator's reason ("commitSha: must be 7–40 hex…") is in the cause, not the message.
        if (err instanceof WorkflowUpdateFailedError)
          throw new Error(`decision refused: ${err.cause?.message ?? err.message}`);
        throw err;
      });
    print(!!o.json, answer, () => {
      if (answer.counted)
        console.log(
          `${pc.green('counted')}: ${identity()} ${decision === 'approve' ? 'approved' : 'rejected'}; ${approvalLine(answer.approval)}`,
        );
      else console.log(`${pc.yellow('not counted')}: ${answer.why}`);
    });
    return answer.counted ? 0 : 1;
  });
}
