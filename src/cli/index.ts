// `release-promoter <command>`: the project's CLI over the Temporal client, the gate runner and
// the ledger. This file builds the program from the command groups and maps errors to exit codes;
// the commands are in start.ts, decisions.ts, promotions.ts, rollback.ts, gates.ts and ledger.ts, what they print in
// render.ts. Identity comes from RELEASE_PROMOTER_IDENTITY (default: the OS user).
import { Command, CommanderError } from '@commander-js/extra-typings';
import pc from 'picocolors';
import { ConfigError } from '../config';
import { addGatesCommand } from './gates';
import { addDecisionCommands } from './decisions';
import { addLedgerCommands } from './ledger';
import { addPromotionCommands } from './promotions';
import { addRollbackCommand } from './rollback';
import { addStartCommand } from './start';

export function cliProgram(): Command {
  // Usage errors exit 2, so a script can tell a bad command line from a failed check (exit 1).
  const program = new Command()
    .name('release-promoter')
    .description('Promote releases with staging gates, approval, verification and automatic rollback on Temporal.')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(pc.red(text)) });
  addStartCommand(program);
  addDecisionCommands(program);
  addPromotionCommands(program);
  addRollbackCommand(program);
  addGatesCommand(program);
  addLedgerCommands(program);
  return program;
}

export async function main(argv = process.argv): Promise<void> {
  try {
    await cliProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exit code 0; commander already printed the rest.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    const message = err instanceof ConfigError ? err.message : err instanceof Error ? err.message : String(err);
    console.error(pc.red(`release-promoter: ${message}`));
    process.exitCode = 2;
  }
}

if (require.main === module) void main();
