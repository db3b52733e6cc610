// `start`: a promotion of a commit (promotionWorkflow), checked here first so a typo never becomes a
// workflow. Every request field has a flag (start-request.ts: the one flag ↔ field table, which
// also words the errors); `--request file.json` gives a whole request, flags override its fields.
import { Command } from '@commander-js/extra-typings';
import type { WorkflowHandle } from '@temporalio/client';
import { ConfigError, loadConfig } from '../config';
import type { PromotionStatus } from '../domain';
// Type only: the workflows are started by name, so the CLI never loads workflow code.
import type { promotionWorkflow } from '../workflows';
import { withClient } from './client';
import { EXIT_CODE_TABLE } from './exit-codes';
import { promotionStartMetadata } from '../workflows/summaries';
import { print } from './render';
import { addRequestOptions, CommandLineRequest } from './start-request';

/** How long `start` (without --wait) waits for the worker to admit or refuse the promotion. */
const ADMISSION_WAIT_MS = 15_000;

const HELP_AFTER = `
Every field of the promotion request has a flag (README: "Starting a promotion yourself"):
deployWait is --deploy-wait-path, --deploy-wait-field and --deploy-wait-timeout; approval is
--approval-required, --approvers, --min-approvals and --approval-timeout. Durations are 90s, 30m,
24h, 2d. --request <file.json> reads a whole request (the workflow's JSON input); flags override
its fields, and each switch has a --no-<switch> form to turn off a true the file sets.

The operator is --operator, else the file's operator, else RELEASE_PROMOTER_IDENTITY, else the OS
user (said on stderr).

Checked before anything starts (exit 2, nothing started, no server needed): the request's schema,
and the environment registry's rules (ENVIRONMENTS_CONFIG, as the worker reads it): without a
registry --repo, --staging-base and --production-base are required; with one, the environment must
be registered and any repo, branch, base or deploy wait given must equal the registered value;
approvers must be able to reach the minimum. With GATES_CONFIG set, --optional-gates are checked
against its catalog. Whether the repo, branches and commit exist the worker checks: without --wait,
start returns once it has admitted the promotion (or exits 1 with its refusal).

--dry-run waits for the dry run (its staging gates) and prints its report: approval, the target's
lock, drift, downgrade and the first ending a promotion would meet. Nothing is reserved, pushed or
recorded.

Exit codes:
${EXIT_CODE_TABLE}`;

export function addStartCommand(program: Command): void {
  const command = program
    .command('start')
    .description('start a promotion of a commit (promotionWorkflow)')
    .option('--request <file.json>', 'read the request from a JSON file; flags override its fields');
  addRequestOptions(command as unknown as Command);
  command
    .option('--as <name>', 'the same as --operator (the name approve, reject and rollback take as --as)')
    .option('--workflow-id <id>', 'workflow id (default: promotion-<environment>-<sha7>-<time>)')
    .option('--wait', 'follow the promotion until it ends')
    .option('--json', 'print JSON for machines')
    .addHelpText('after', HELP_AFTER)
    .action(async (o, cmd) => {
      if (o.as !== undefined) {
        const operator = cmd.getOptionValue('operator' as never) as string | undefined;
        if (operator !== undefined && operator !== o.as)
          throw new ConfigError(`--as ${o.as} and --operator ${operator} name two people; give one of them`);
        cmd.setOptionValue('operator' as never, o.as as never);
      }
      const request = new CommandLineRequest(cmd as unknown as Command, o.request);
      // The workflow parses the same schema first thing; a typo is cheaper to report here, before
      // a workflow exists, and so is what the registry would refuse. No server is needed for either.
      const { checkLocally } = await import('./start-checks');
      const parsed = checkLocally(request, loadConfig(), { checkGates: !!process.env.GATES_CONFIG });
      if (request.operatorSource === 'os')
        process.stderr.write(
          `operator: ${parsed.operator} (the OS user; set RELEASE_PROMOTER_IDENTITY or --operator to name yourself)\n`,
        );
      const input: unknown = JSON.parse(JSON.stringify(request.input));
      const { follow } = await import('./follow');
      process.exitCode = await withClient(async (client, cfg) => {
        const workflowId =
          o.workflowId ?? `promotion-${parsed.environment}-${parsed.commitSha.slice(0, 7)}-${Date.now().toString(36)}`;
        const handle = await client.workflow.start<typeof promotionWorkflow>('promotionWorkflow', {
          taskQueue: cfg.taskQueue,
          workflowId,
          args: [input as never],
          // What the Temporal UI shows in the list and on the workflow's page.
          ...promotionStartMetadata(parsed),
        });
        if (parsed.dryRun) return printDryRun(handle, !!o.json);
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

/** A dry run's report once it is done; a refusal or failure is followed like any ending. */
async function printDryRun(handle: WorkflowHandle<typeof promotionWorkflow>, json: boolean): Promise<number> {
  let status: PromotionStatus;
  try {
    status = await handle.result();
  } catch {
    const { follow } = await import('./follow');
    return follow(handle, json);
  }
  const report = status.dryRun;
  print(json, report ?? status, () => {
    console.log(`dry run ${handle.workflowId} of ${status.commitSha} to ${report?.target ?? status.environment}:`);
    for (const line of report?.verdicts ?? []) console.log(`  ${line}`);
    console.log(
      report?.wouldEnd
        ? `a promotion would end ${report.wouldEnd.type}`
        : 'a promotion would go ahead' + (report?.approval.required ? ' once approved' : ''),
    );
  });
  return 0;
}

/** The status once the promotion has left `validating`, or undefined when no answer came in time. */
async function pastValidation(handle: WorkflowHandle): Promise<PromotionStatus | undefined> {
  const { statusQuery } = await import('../workflows/messages');
  const deadline = Date.now() + ADMISSION_WAIT_MS;
  while (Date.now() < deadline) {
    const status = (await handle.query(statusQuery).catch(() => undefined)) as PromotionStatus | undefined;
    if (status && status.stage !== 'validating') return status;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return undefined;
}
