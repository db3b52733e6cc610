// The fault suite's report: each injected fault is one row (fault, runs, invariant checks, held).
// Suites append rows as JSON lines to one file for the run; the tier's teardown prints the table
// and writes reports/faults.json (README "Faults survived" quotes it).
import { appendFileSync } from 'node:fs';

export interface FaultRow {
  /** What was injected, e.g. `SIGKILL promotionWorkflow.promoteCommit:after`. */
  fault: string;
  /** The suite's group: process, server, remote, disk, contention, input. */
  group: string;
  /** How many times it was injected (a generated input counts once each). */
  runs: number;
  /** How many invariant assertions were checked after it. */
  checks: number;
  /** Every check passed. */
  held: boolean;
}

export function reportFile(): string {
  const file = process.env.FAULT_REPORT_ROWS;
  if (!file) throw new Error('FAULT_REPORT_ROWS is unset: run the fault suite through npm run test:faults');
  return file;
}

/**
 * Counts the invariant checks of one injected fault and writes its row when the test ends, held
 * or not: `check(name, fn)` runs `fn` (jest expectations) and counts it.
 */
export class FaultRun {
  private checks = 0;
  private failed = false;

  constructor(
    readonly group: string,
    readonly fault: string,
    private runs = 1,
  ) {}

  async check(what: string, assertion: () => void | Promise<void>): Promise<void> {
    this.checks++;
    try {
      await assertion();
    } catch (err) {
      this.failed = true;
      (err as Error).message = `${this.fault}: invariant "${what}" broke: ${(err as Error).message}`;
      throw err;
    }
  }

  /** A failure outside a check (the scenario itself broke) also counts against the fault. */
  broke(): void {
    this.failed = true;
  }

  ran(times: number): void {
    this.runs = times;
  }

  write(): void {
    const row: FaultRow = {
      fault: this.fault,
      group: this.group,
      runs: this.runs,
      checks: this.checks,
      held: !this.failed && this.checks > 0,
    };
    appendFileSync(reportFile(), `${JSON.stringify(row)}\n`);
  }
}

/** Runs `scenario` as one reported fault: its row is written whatever happens. */
export async function injected(
  group: string,
  fault: string,
  scenario: (run: FaultRun) => Promise<void>,
): Promise<void> {
  const run = new FaultRun(group, fault);
  try {
    await scenario(run);
  } catch (err) {
    run.broke();
    throw err;
  } finally {
    run.write();
  }
}
