// `rollback`: a manual rollback (rollbackWorkflow), by default to the target's last known good.
import { Command } from '@commander-js/extra-typings';
import { ConfigError } from '../config';
// Type only: the workflow is started by name, so the CLI never loads workflow code.
import type { rollbackWorkflow } from '../workflows';
import { rollbackStartMetadata } from '../workflows/summaries';
import { cliConfig, identity, withClient } from './client';
import { GIT_LEDGER_FORM, ledgerName, type LedgerLocation } from '../ledger/location';
import { commandLedgerLocation, readLedgerOf } from './ledger';

export function addRollbackCommand(program: Command): void {
  program
    .command('rollback')
    .description('roll an environment back to a known good commit (rollbackWorkflow)')
    .option('--environment <name>', 'environment', 'production')
    .option('--to <sha>', 'commit to go back to (default: the last known good in the ledger)')
    .option('--repo <remote>', 'git remote (without a registry)')
    .option('--to-branch <branch>', 'release branch (without a registry)', 'release')
    .option('--production-base <url>', 'production base URL (without a registry)')
    .option('--trigger <why>', 'why you roll back', 'manual rollback')
    .option('--ledger <ledger>', `the release log: a file or ${GIT_LEDGER_FORM} (default: RELEASE_LEDGER)`)
    .option(
      '--as <name>',
      'roll back as this name (default: RELEASE_PROMOTER_IDENTITY, else the OS user, said on stderr)',
    )
    .option('--json')
    .action(async (o) => {
      // On-call may roll back as the OS user (SPEC §1: like start, and said so), unlike a decision.
      const operator = identity({ as: o.as, allowOsUser: true, command: 'rollback' });
      const cfg = cliConfig();
      const ledger = o.ledger === undefined ? cfg.ledger : commandLedgerLocation(o.ledger, '--ledger');
      const registered = cfg.environments?.[o.environment];
      const repo = o.repo ?? registered?.repo;
      const toBranch = registered?.toBranch ?? o.toBranch;
      if (!repo)
        throw new ConfigError(
          '--repo is required (no environment registry): the git remote holding the release branch',
        );
      // git, the ledger readers and the client load once a rollback runs, not for --help.
      const { readBranchTip } = await import('../activities/git');
      const { follow } = await import('./follow');
      const fromSha = await readBranchTip({ repo, branch: toBranch });
      if (!fromSha) throw new ConfigError(`${toBranch} does not exist in ${repo}`);
      const toSha =
        o.to ?? (await defaultRollbackTarget(ledger, cfg.gitCacheDir, repo, toBranch, o.environment, fromSha));
      const request = {
        environment: o.environment,
        repo: o.repo,
        toBranch: registered ? undefined : toBranch,
        fromSha,
        toSha,
        productionBase: o.productionBase,
        trigger: o.trigger,
        operator,
      };
      process.exitCode = await withClient(async (client, c) => {
        const workflowId = `rollback-${o.environment}-${toSha.slice(0, 7)}-${Date.now().toString(36)}`;
        const handle = await client.workflow.start<typeof rollbackWorkflow>('rollbackWorkflow', {
          taskQueue: c.taskQueue,
          workflowId,
          args: [request],
          ...rollbackStartMetadata(request),
        });
        if (!o.json) console.error(`rolling ${toBranch} back from ${fromSha} to ${toSha} (${handle.workflowId})`);
        return follow(handle, !!o.json);
      });
    });
}

/**
 * A manual rollback's default: the target's last known good (lastKnownGood, the one definition)
 * that differs from where the branch is now. Read only from a ledger that verifies: a torn or
 * edited one could name the wrong commit.
 */
async function defaultRollbackTarget(
  ledger: LedgerLocation,
  gitCacheDir: string,
  repo: string,
  branch: string,
  environment: string,
  currentTip: string,
): Promise<string> {
  const [{ canonicalRepo }, { lastKnownGood }] = await Promise.all([
    import('../activities/git'),
    import('../ledger/target-references'),
  ]);
  const ledgerPath = ledgerName(ledger);
  const { index } = await readLedgerOf(ledger, gitCacheDir, 'pass --ledger, or pass --to <sha>').catch(
    (err: unknown) => {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(`cannot read the ledger ${ledgerPath} (${(err as Error).message}); pass --to <sha>`);
    },
  );
  if (index.problem) {
    throw new ConfigError(
      `the ledger ${ledgerPath} does not verify at line ${index.problem.line}: ${index.problem.message}; its last known good cannot be trusted. Run release-promoter ledger verify ${ledgerPath}, or pass --to <sha>`,
    );
  }
  const good = lastKnownGood(index, await canonicalRepo(repo, 'InvalidRollbackRequest'), branch, environment, {
    unlike: currentTip,
  });
  if (!good)
    throw new ConfigError(
      `no last known good for ${repo} ${branch} (${environment}) in ${ledgerPath}; pass --to <sha>`,
    );
  return good.tip;
}
