// The fault tier's setup: the dev server and bundle of npm test's setup, and an empty rows file.
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import devServerSetup from '../global-setup';

export default async function globalSetup(): Promise<void> {
  await devServerSetup();
  const rows = path.join(os.tmpdir(), `release-promoter-faults-${process.pid}.jsonl`);
  writeFileSync(rows, '');
  process.env.FAULT_REPORT_ROWS = rows;
}
