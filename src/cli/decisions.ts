// `approve` and `reject`: decisions on a waiting promotion, through the decide update. The
// approver is who the caller claims to be (--as or RELEASE_PROMOTER_IDENTITY, never the OS user;
// SPEC §1): Temporal's authorization decides who may send it, the approvers list whether it counts.
import { Command } from '@commander-js/extra-typings';
import type { WorkflowHandle } from '@temporalio/client';
import pc from 'picocolors';
import { ConfigError } from '../config';
import type { DecideResult } from '../domain';
import { identity, withClient } from './client';
import { EXIT, ExitCode } from './exit-codes';
import { approvalLine, print } from './render';

const AS_HELP = 'decide as this name (default: RELEASE_PROMOTER_IDENTITY; one of the two is required)';

export function addDecisionCommands(program: Command): void {
  program
    .command('approve')
    .description(
      'approve a waiting promotion as --as or RELEASE_PROMOTER_IDENTITY (the decide update: you learn at once whether it counted)',
    )
    .argument('<workflowId>')
    .option('--as <name>', AS_HELP)
    .option('--comment <text>')
    .option('--commit <sha>', 'only if the promotion is of this commit')
    .option('--json')
    .action(async (workflowId, o) => {
      process.exitCode = await decide(workflowId, 'approve', o);
    });

  program
    .command('reject')
    .description(
      "reject a waiting promotion as --as or RELEASE_PROMOTER_IDENTITY (the operator's own reject withdraws it)",
    )
    .argument('<workflowId>')
    .requiredOption('--reason <text>', 'why')
    .option('--as <name>', AS_HELP)
    .option('--commit <sha>', 'only if the promotion is of this commit')
    .option('--json')
    .action(async (workflowId, o) => {
      process.exitCode = await decide(workflowId, 'reject', o);
    });
}

async function decide(
  workflowId: string,
  decision: 'approve' | 'reject',
  o: { as?: string; comment?: string; reason?: string; commit?: string; json?: boolean },
): Promise<ExitCode> {
  // Refused before connecting: nothing is sent without a name.
  const approver = identity({ as: o.as, allowOsUser: false, command: decision });
  const [{ WorkflowUpdateFailedError }, { decideUpdate }] = await Promise.all([
    import('@temporalio/client'),
    import('../workflows/messages'),
  ]);
  return withClient(async (client) => {
    const handle = client.workflow.getHandle(workflowId);
    let answer: DecideResult;
    try {
      answer = await handle.executeUpdate(decideUpdate, {
        args: [{ decision, approver, comment: o.comment, reason: o.reason, commitSha: o.commit }],
      });
    } catch (err) {
      // The validator's reason ("commitSha: must be 7–40 hex…") is in the cause, not the message.
      if (err instanceof WorkflowUpdateFailedError)
        throw new ConfigError(`decision refused: ${err.cause?.message ?? err.message}`);
      // A closed promotion takes no decision: say how it ended instead of the server's words.
      const closed = await closedState(handle);
      if (!closed) throw err;
      const when = closed.closedAt ? ` at ${closed.closedAt}` : '';
      // A terminated or timed-out workflow's stage is the one it was in, not an ending.
      const how =
        closed.status === 'COMPLETED' || closed.status === 'FAILED'
          ? `it ended ${closed.stage ?? 'without a stage'} (${closed.status}${when})`
          : `it was ${closed.status.toLowerCase().replace(/_/g, ' ')}${when}, in stage ${closed.stage ?? '(none)'}`;
      const why = `${workflowId} is closed: ${how}; a decision no longer changes it`;
      print(!!o.json, { counted: false, why, closed }, () => console.log(`${pc.yellow('not counted')}: ${why}`));
      return EXIT.notOk;
    }
    print(!!o.json, answer, () => {
      if (answer.counted)
        console.log(
          `${pc.green('counted')}: ${approver} ${decision === 'approve' ? 'approved' : 'rejected'}; ${approvalLine(answer.approval)}`,
        );
      else console.log(`${pc.yellow('not counted')}: ${answer.why}`);
    });
    return answer.counted ? EXIT.ok : EXIT.notOk;
  });
}

/** How a workflow that no longer takes decisions ended; undefined while it runs (or when it does not exist: the caller rethrows). */
async function closedState(
  handle: WorkflowHandle,
): Promise<{ status: string; stage?: string; closedAt?: string } | undefined> {
  const description = await handle.describe().catch(() => undefined);
  if (!description || description.status.name === 'RUNNING') return undefined;
  const { ReleaseStageKey } = await import('../workflows/messages');
  return {
    status: description.status.name,
    stage: description.typedSearchAttributes.get(ReleaseStageKey),
    closedAt: description.closeTime?.toISOString(),
  };
}
