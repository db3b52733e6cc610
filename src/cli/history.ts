// `history --environment E`: what is deployed in E now and every release before it. The command
// and its flags; reading the ledger and git is history-read.ts, loaded when the command runs.
import { Command, InvalidArgumentError } from '@commander-js/extra-typings';
import pc from 'picocolors';
import { loadConfig } from '../config';
import { GIT_LEDGER_FORM } from '../ledger/location';
import { commandLedgerLocation } from './ledger';
import { parseLimit } from './promotions';
import { print } from './render';

export function addHistoryCommand(program: Command): void {
  program
    .command('history')
    .description(
      'what is deployed in an environment now and every release before it, newest first, with the commits each added',
    )
    .requiredOption('--environment <name>', 'the environment (e.g. production)', (value: string) => {
      if (/^[a-z0-9-]{1,40}$/.test(value)) return value;
      throw new InvalidArgumentError('must be 1–40 characters of a-z 0-9 -');
    })
    .option(
      '--ledger <ledger>',
      `ledger file or ${GIT_LEDGER_FORM} (default: RELEASE_LEDGER, RELEASE_LEDGER_PATH or RELEASE_LOG.md)`,
    )
    .option('--limit <n>', 'at most n releases (default 20)', parseLimit)
    .option('--json')
    .action(async (o) => {
      const { readHistory, historyText } = await import('./history-read');
      const cfg = loadConfig();
      const location = o.ledger === undefined ? cfg.ledger : commandLedgerLocation(o.ledger, '--ledger');
      const history = await readHistory(location, o.environment, o.limit ?? 20, cfg.gitCacheDir);
      if (history.problem)
        console.error(
          pc.yellow(
            `warning: ${history.ledger} does not verify at line ${history.problem.line}: ${history.problem.message} (release-promoter ledger verify ${history.ledger})`,
          ),
        );
      print(!!o.json, history, () => console.log(historyText(history)));
    });
}
