// `start`: a promotion of a commit (promotionWorkflow), checked here first so a typo never becomes a workflow.
import { Command, Option } from '@commander-js/extra-typings';
import { WorkflowHandle } from '@temporalio/client';
import { ConfigError } from '../config';
import type { PromotionStatus } from '../domain';
import { failureMessageOf } from '../failures';
// Type only: the workflows are started by name, so the CLI never loads workflow code.
import type { promotionWorkflow } from '../workflows';
import { statusQuery } from '../workflows/messages';
import { parsePromotionRequest } from '../workflows/request';
import { identity, withClient } from './client';
import { follow } from './follow';
import { print } from './render';

/** How long `start` (without --wait) waits for the worker to admit or refuse the promotion. */
const ADMISSION_WAIT_MS = 15_000;

export function addStartCommand(program: Command): void {
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
