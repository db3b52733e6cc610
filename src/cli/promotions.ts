// The commands that look at promotions and rollbacks: status, watch, list. What they show of a
// workflow that has closed comes from Temporal, not from its last stage: a terminated, timed-out
// or cancelled workflow never shows the working stage it was in (see ClosedExecution). Here are
// the commands and their flags; what they do is in inspect.ts, loaded when one runs, so `--help`
// and a usage error never load the Temporal client.
import { Command, InvalidArgumentError } from '@commander-js/extra-typings';
import pc from 'picocolors';
import { TERMINAL_STAGES, WORKING_STAGES } from '../domain/status';
import { withClient } from './client';
import { EXIT } from './exit-codes';
import { print, workflowTable } from './render';

export const STAGES: readonly string[] = [...WORKING_STAGES, ...TERMINAL_STAGES];

export function addPromotionCommands(program: Command): void {
  program
    .command('status')
    .description(
      "a promotion's or rollback's status; a closed one says how it ended (exit 0 running, promoted or rolled back; 1 ended otherwise; 3 no such workflow)",
    )
    .argument('<workflowId>')
    .option('--json')
    .action(async (workflowId, o) => {
      const { statusCommand } = await import('./inspect');
      process.exitCode = await withClient((client, cfg) =>
        statusCommand(client, cfg.temporal.namespace, workflowId, !!o.json),
      );
    });

  program
    .command('watch')
    .description('follow a promotion or rollback until it ends')
    .argument('<workflowId>')
    .option('--json')
    .action(async (workflowId, o) => {
      const { watchCommand } = await import('./inspect');
      process.exitCode = await withClient((client, cfg) =>
        watchCommand(client, cfg.temporal.namespace, workflowId, !!o.json),
      );
    });

  program
    .command('list')
    .description(
      'promotions and rollbacks, newest first: stage, execution status when closed, environment, class, operator, commit, age',
    )
    .option(
      '--stage <stage>',
      'only this stage (e.g. awaiting_approval; a working stage lists only running workflows)',
      parseStage,
    )
    .option('--environment <name>', 'only this environment', parseEnvironment)
    .option('--limit <n>', 'at most n (default 20)', parseLimit)
    .option('--json')
    .action(async (o) => {
      const { listRows } = await import('./inspect');
      await withClient(async (client, cfg) => {
        const rows = await listRows(client, cfg.temporal.namespace, {
          stage: o.stage,
          environment: o.environment,
          limit: o.limit ?? 20,
        });
        print(!!o.json, rows, () =>
          console.log(rows.length ? workflowTable(rows) : pc.dim('(no promotions or rollbacks match)')),
        );
      });
    });
}

function parseStage(value: string): string {
  if (STAGES.includes(value)) return value;
  throw new InvalidArgumentError(
    `"${value}" is not a stage. Working stages: ${WORKING_STAGES.join(', ')}. Terminal stages: ${TERMINAL_STAGES.join(', ')}.`,
  );
}

function parseEnvironment(value: string): string {
  if (/^[a-z0-9-]{1,40}$/.test(value)) return value;
  throw new InvalidArgumentError('must be 1–40 characters of a-z 0-9 -');
}

export function parseLimit(value: string): number {
  if (/^[0-9]{1,6}$/.test(value) && Number(value) >= 1) return Number(value);
  throw new InvalidArgumentError(`must be a whole number from 1 to 999999 (got ${JSON.stringify(value)})`);
}

export function noSuchWorkflow(workflowId: string): number {
  console.error(pc.red(`release-promoter: no workflow ${workflowId} (check the id: release-promoter list)`));
  return EXIT.unavailable;
}
