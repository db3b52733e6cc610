// `ledger verify` and `ledger show`: the release log read straight from its file (no Temporal).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Command } from '@commander-js/extra-typings';
import pc from 'picocolors';
import { ConfigError, loadConfig } from '../config';
import { fieldText, parseLedger, type ParsedEntry } from '../ledger/format';
import { verifyLedger } from '../ledger/verify';
import { ledgerTable, print, type LedgerRow } from './render';

export function addLedgerCommands(program: Command): void {
  const ledger = program.command('ledger').description('the release log');

  ledger
    .command('verify')
    .description('check every entry, unique ids and the hash chain; exit 1 at the first problem')
    .argument('[path]', 'ledger file (default: RELEASE_LEDGER_PATH or RELEASE_LOG.md)')
    .option('--head <hex>', 'the chain head the file must end at (catches truncation)')
    .option('--json')
    .action(async (file, o) => {
      const ledgerPath = file ?? loadConfig().ledgerPath;
      const report = verifyLedger(await readLedgerText(ledgerPath, 'pass the path'), o.head?.replace(/^sha256:/, ''));
      print(!!o.json, { path: ledgerPath, ...report }, () => {
        if (report.ok)
          console.log(
            `${pc.green('ok')} ${ledgerPath}: ${report.entries} entries, ${report.chained} chained, head ${report.head}`,
          );
        else console.log(`${pc.red('FAIL')} ${ledgerPath}:${report.problem?.line}: ${report.problem?.message}`);
      });
      process.exitCode = report.ok ? 0 : 1;
    });

  ledger
    .command('show')
    .description('the entries as a table')
    .argument('[path]', 'ledger file (default: RELEASE_LEDGER_PATH or RELEASE_LOG.md)')
    .option('--environment <name>')
    .option('--last <n>', 'only the last n entries')
    .option('--json')
    .action(async (file, o) => {
      const ledgerPath = file ?? loadConfig().ledgerPath;
      let entries = parseLedger(await readLedgerText(ledgerPath, 'pass the path')).entries.filter(
        (e) => !o.environment || fieldText(e, 'environment') === o.environment,
      );
      if (o.last !== undefined) {
        const n = Number(o.last);
        if (!Number.isInteger(n) || n < 1)
          throw new ConfigError(`--last: must be a whole number of at least 1 (got ${JSON.stringify(o.last)})`);
        entries = entries.slice(-n);
      }
      const rows: LedgerRow[] = entries.map((e) => ({
        releaseId: e.releaseId,
        type: fieldText(e, 'type'),
        environment: fieldText(e, 'environment'),
        // A rollback has no commit_sha: its from → to says what it moved.
        commit:
          fieldText(e, 'commit_sha') ??
          (fieldText(e, 'from_sha')
            ? `${fieldText(e, 'from_sha')?.slice(0, 7)} → ${fieldText(e, 'to_sha')?.slice(0, 7) ?? '?'}`
            : ''),
        result: fieldText(e, 'result'),
        operator: fieldText(e, 'operator'),
        approvals: fieldList(e, 'approvals'),
        notes: fieldText(e, 'notes'),
      }));
      print(!!o.json, rows, () => console.log(ledgerTable(rows)));
    });
}

/** A list field's items (`approvals: []` and a missing key are both none; a plain value is one item). */
export function fieldList(entry: ParsedEntry, key: string): string[] {
  const value = entry.fields.get(key)?.value;
  return value === undefined ? [] : Array.isArray(value) ? [...value] : [value];
}

/** "no ledger at …: set RELEASE_LEDGER_PATH or <how>" (exit 2), for a path that names no file: which setting to fix. */
export function noLedgerAt(ledgerPath: string, how: string): ConfigError {
  return new ConfigError(`no ledger at ${path.resolve(ledgerPath)}: set RELEASE_LEDGER_PATH or ${how}`);
}

/** The ledger's text; a missing file is a usage error naming the setting (`how`: the command's own way to name it). */
export async function readLedgerText(ledgerPath: string, how: string): Promise<string> {
  try {
    return await readFile(ledgerPath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw noLedgerAt(ledgerPath, how);
    throw err;
  }
}
