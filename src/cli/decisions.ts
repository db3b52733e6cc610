// `approve` and `reject`: decisions on a waiting promotion, through the decide update.
import { Command } from '@commander-js/extra-typings';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import pc from 'picocolors';
import { decideUpdate } from '../workflows/messages';
import { identity, withClient } from './client';
import { approvalLine, print } from './render';

export function addDecisionCommands(program: Command): void {
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
