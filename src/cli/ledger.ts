// `ledger verify` and `ledger show`: the release log read straight from its file or git branch (no Temporal).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Command } from '@commander-js/extra-typings';
import pc from 'picocolors';
import { ConfigError, loadConfig } from '../config';
import { fieldText, parseLedger, type ParsedEntry } from '../ledger/format';
import { GIT_LEDGER_FORM, ledgerName, parseLedgerLocation, type LedgerLocation } from '../ledger/location';
import type { LedgerReading } from '../ledger/sink';
import { verifyLedger, type VerifyReport } from '../ledger/verify';
import { ledgerTable, print, type LedgerRow } from './render';

export function addLedgerCommands(program: Command): void {
  const ledger = program.command('ledger').description('the release log');

  ledger
    .command('verify')
    .description(
      "check every entry, unique ids and the hash chain (and a git ledger's history, commit by commit); exit 1 at the first problem",
    )
    .argument(
      '[ledger]',
      `ledger file or ${GIT_LEDGER_FORM} (default: RELEASE_LEDGER, RELEASE_LEDGER_PATH or RELEASE_LOG.md)`,
    )
    .option('--head <hex>', 'the chain head the file must end at (a git ledger: must still contain)')
    .option('--json')
    .action(async (given, o) => {
      const { location, gitCacheDir } = ledgerOfCommand(given);
      const head = o.head?.replace(/^sha256:/, '');
      const name = ledgerName(location);
      let report: VerifyReport & { problem?: { commit?: string } };
      if (location.kind === 'git') {
        const { verifyGitLedger } = await import('../ledger/git-verify');
        const checked = await verifyGitLedger(location, gitCacheDir, head);
        if (!checked) throw noLedgerAt(location, 'pass the ledger');
        report = checked;
      } else report = verifyLedger(await readLedgerText(location.path, 'pass the path'), head);
      print(!!o.json, { path: name, ...report }, () => {
        if (report.ok)
          console.log(
            `${pc.green('ok')} ${name}: ${report.entries} entries, ${report.chained} chained, head ${report.head}${'commits' in report ? `, ${String(report.commits)} commits` : ''}`,
          );
        else
          console.log(
            `${pc.red('FAIL')} ${name}${report.problem?.commit ? `@${report.problem.commit}` : `:${report.problem?.line}`}: ${report.problem?.message}`,
          );
      });
      process.exitCode = report.ok ? 0 : 1;
    });

  ledger
    .command('show')
    .description('the entries as a table')
    .argument(
      '[ledger]',
      `ledger file or ${GIT_LEDGER_FORM} (default: RELEASE_LEDGER, RELEASE_LEDGER_PATH or RELEASE_LOG.md)`,
    )
    .option('--environment <name>')
    .option('--last <n>', 'only the last n entries')
    .option('--json')
    .action(async (given, o) => {
      const { location, gitCacheDir } = ledgerOfCommand(given);
      let entries = parseLedger(await ledgerTextOf(location, gitCacheDir, 'pass the path')).entries.filter(
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

/**
 * "no ledger at …: set RELEASE_LEDGER or <how>" (exit 2), for a location that names no ledger
 * (no file; for a git ledger no branch, or no file in it): which setting to fix.
 */
export function noLedgerAt(location: string | LedgerLocation, how: string): ConfigError {
  if (typeof location !== 'string' && location.kind === 'git')
    return new ConfigError(
      `no ledger at ${ledgerName(location)}: the remote has no branch ${location.branch} or no ${location.path} in it; set RELEASE_LEDGER or ${how}`,
    );
  const file = typeof location === 'string' ? location : location.path;
  return new ConfigError(`no ledger at ${path.resolve(file)}: set RELEASE_LEDGER or ${how}`);
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

/** The ledger as a command reads it (readLedger: a file, or a git branch's tip); none there is noLedgerAt. */
export async function readLedgerOf(location: LedgerLocation, gitCacheDir: string, how: string): Promise<LedgerReading> {
  if (location.kind === 'file') {
    // Read first: a missing file says which setting names it, before the index tries.
    await readLedgerText(location.path, how);
  }
  // Loaded when a command reads, not for --help: the git ledger brings git's machinery.
  const { readLedger } = await import('../ledger/sink');
  const reading = await readLedger(location, gitCacheDir);
  if (!reading) throw noLedgerAt(location, how);
  return reading;
}

async function ledgerTextOf(location: LedgerLocation, gitCacheDir: string, how: string): Promise<string> {
  if (location.kind === 'file') return readLedgerText(location.path, how);
  return (await readLedgerOf(location, gitCacheDir, how)).text;
}

/** A ledger named on the command line (a path or the git form); a bad one is a ConfigError naming `what` and the expected form. */
export function commandLedgerLocation(given: string, what: string): LedgerLocation {
  return parseLedgerLocation(given, what, process.cwd(), (message) => new ConfigError(message));
}

/**
 * The ledger a command reads: `given` (its argument), else the worker's RELEASE_LEDGER /
 * RELEASE_LEDGER_PATH; and where a git ledger's cache clone lives (GIT_CACHE_DIR).
 */
function ledgerOfCommand(given: string | undefined): { location: LedgerLocation; gitCacheDir: string } {
  if (given === undefined) {
    const config = loadConfig();
    return { location: config.ledger, gitCacheDir: config.gitCacheDir };
  }
  const location = commandLedgerLocation(given, 'the ledger argument');
  // Only a git ledger needs the worker's settings; a file is read as it is.
  return { location, gitCacheDir: location.kind === 'git' ? loadConfig().gitCacheDir : '' };
}
