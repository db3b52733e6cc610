// The worker's logger writes JSON lines, filtered by level, with every string redacted.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import pino from 'pino';
import { createLogger } from '../src/logger';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'release-promoter-logger-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function linesOf(file: string): Promise<Array<Record<string, unknown>>> {
  return (await readFile(file, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

test('one JSON line per message at or above the level, with its metadata', async () => {
  const file = path.join(dir, 'worker.log');
  const logger = createLogger('WARN', pino.destination({ dest: file, sync: true }));
  logger.info('not written', { workflowId: 'w-1' });
  logger.debug('not written either');
  logger.warn('Activity failed', { workflowId: 'promote-1', activityType: 'promoteCommit', attempt: 2 });
  logger.log('ERROR', 'Workflow task failed', { workflowId: 'promote-2' });

  const lines = await linesOf(file);
  expect(lines.map((l) => [l.level, l.msg])).toEqual([
    ['warn', 'Activity failed'],
    ['error', 'Workflow task failed'],
  ]);
  expect(lines[0]).toMatchObject({
    workflowId: 'promote-1',
    activityType: 'promoteCommit',
    attempt: 2,
    pid: process.pid,
  });
  expect(typeof lines[0]!.time).toBe('string');
});

test('secrets in messages, errors, causes and headers never reach the line', async () => {
  const file = path.join(dir, 'worker.log');
  const logger = createLogger('TRACE', pino.destination({ dest: file, sync: true }));
  const cause = new Error('fatal: could not read from https://deploy:s3cr3t-pass@git.example.com/acme/chat.git');
  const failure = ApplicationFailure.create({
    type: 'ReleaseBranchMoved',
    message: 'push rejected; Authorization: Bearer abcdef123456ghijkl',
    cause,
  });
  logger.error('Activity failed Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJl', {
    error: failure,
    headers: { authorization: 'Bearer live-token-123456' },
    nested: { probe: { url: 'https://user:hunter22@staging.example.com/health' } },
  });

  const text = await readFile(file, 'utf8');
  for (const secret of ['s3cr3t-pass', 'abcdef123456ghijkl', 'eyJzdWIiOiIxMjM0NSJ9', 'live-token-123456', 'hunter22'])
    expect(text).not.toContain(secret);
  const [line] = await linesOf(file);
  expect(line!.msg).toBe('Activity failed Bearer [REDACTED]');
  expect(line!.headers).toBe('[REDACTED]');
  const error = line!.error as { type: string; message: string; stack: string; cause: { message: string } };
  expect(error.type).toBe('ReleaseBranchMoved');
  expect(error.message).toBe('push rejected; Authorization: [REDACTED]');
  expect(error.stack).toContain('ApplicationFailure: push rejected; Authorization: [REDACTED]');
  expect(error.cause.message).toBe('fatal: could not read from https://[REDACTED]@git.example.com/acme/chat.git');
  expect((line!.nested as { probe: { url: string } }).probe.url).toBe('https://[REDACTED]@staging.example.com/health');
});
