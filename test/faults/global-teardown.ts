// The fault tier's teardown: the table of faults survived (stdout and reports/faults.json), then
// the dev server's teardown.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import devServerTeardown from '../global-teardown';
import type { FaultRow } from './report';

export function faultTable(rows: FaultRow[]): string {
  const header = ['group', 'fault', 'runs', 'invariant checks', 'held'];
  const lines = rows.map((row) => [
    row.group,
    row.fault,
    String(row.runs),
    String(row.checks),
    row.held ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((line) => (line[i] ?? '').length)));
  const format = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  const held = rows.filter((row) => row.held).length;
  return [
    format(header),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...lines.map(format),
    '',
    `${rows.length} faults injected (${rows.reduce((n, row) => n + row.runs, 0)} runs), ` +
      `${rows.reduce((n, row) => n + row.checks, 0)} invariant checks, ${held} held, ${rows.length - held} broke`,
  ].join('\n');
}

/** One line per group: how many faults, runs and checks, and how many held. */
export function groupTable(rows: FaultRow[]): string {
  const groups = [...new Set(rows.map((row) => row.group))];
  return [
    '| group | faults | runs | invariant checks | held |',
    '|---|---|---|---|---|',
    ...groups.map((group) => {
      const of = rows.filter((row) => row.group === group);
      const sum = (pick: (row: FaultRow) => number) => of.reduce((n, row) => n + pick(row), 0);
      return `| ${group} | ${of.length} | ${sum((r) => r.runs)} | ${sum((r) => r.checks)} | ${of.filter((r) => r.held).length} of ${of.length} |`;
    }),
  ].join('\n');
}

export default async function globalTeardown(): Promise<void> {
  const file = process.env.FAULT_REPORT_ROWS;
  if (file && existsSync(file)) {
    const rows = readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as FaultRow);
    const out = path.resolve(__dirname, '../../reports/faults.json');
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify({ at: new Date().toISOString(), rows }, null, 2)}\n`);
    process.stdout.write(
      `\nFaults survived (${path.relative(process.cwd(), out)}):\n${faultTable(rows)}\n\n${groupTable(rows)}\n`,
    );
    rmSync(file, { force: true });
  }
  await devServerTeardown();
}
