// Determinism: histories recorded from real runs (RECORD_HISTORIES=1 npm test) must replay
// cleanly against today's workflow code, so a change that breaks old promotions fails CI.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from './helpers';

const dir = path.join(__dirname, 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

test('recorded histories are present', () => {
  expect(files.length).toBeGreaterThanOrEqual(4);
});

test.each(files)('%s replays without a determinism error', async (file) => {
  const history = historyFromJSON(JSON.parse(readFileSync(path.join(dir, file), 'utf8')));
  await expect(
    Worker.runReplayHistory({ workflowBundle: workflowBundle() }, history, file.replace(/\.json$/, '').split('__')[1]),
  ).resolves.toBeUndefined();
});
