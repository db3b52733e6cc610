// Following a promotion or rollback to its outcome (`watch`, `start --wait`, `rollback`).
import { WorkflowFailedError, WorkflowHandle } from '@temporalio/client';
import pc from 'picocolors';
import type { PromotionStatus, RollbackStatus } from '../domain';
import { liveView } from '../live-view';
import { statusQuery } from '../workflows/messages';
import { describeStatus, print } from './render';

/**
 * Waits for the outcome. On a terminal the status is redrawn in place while it runs;
 * otherwise (a pipe, a CI log) one line per stage change. Exit code 0 only when promoted /
 * rolled back.
 */
export async function follow(handle: WorkflowHandle, json: boolean): Promise<number> {
  let last = '';
  let inFlight: Promise<void> = Promise.resolve();
  const live = !json && process.stderr.isTTY ? liveView(process.stderr) : undefined;
  const started = Date.now();
  const timer = setInterval(() => {
    inFlight = handle
      .query(statusQuery)
      .then((s: PromotionStatus | RollbackStatus) => {
        const seconds = Math.round((Date.now() - started) / 1000);
        if (live)
          live.show(
            `${pc.dim(`watching for ${seconds} s; Ctrl-C stops watching, not the ${'commitSha' in s ? 'promotion' : 'rollback'}`)}\n${describeStatus(s, true)}`,
          );
        else if (s.stage !== last && !json) process.stderr.write(`${new Date().toISOString()} ${s.stage}\n`);
        last = s.stage;
      })
      .catch(() => undefined);
  }, 500);
  // The live block is gone before the outcome is printed below it.
  const outcome = await handle.result().then(
    (status: PromotionStatus | RollbackStatus) => ({ status }),
    (err: unknown) => ({ err }),
  );
  clearInterval(timer);
  await inFlight;
  live?.clear();
  if ('status' in outcome) {
    const { status } = outcome;
    print(json, status, () => console.log(describeStatus(status)));
    return status.stage === 'promoted' || status.stage === 'rolled_back' ? 0 : 1;
  }
  const { err } = outcome;
  if (!(err instanceof WorkflowFailedError)) throw err;
  const cause = err.cause as { type?: string; message?: string; details?: unknown[] } | undefined;
  const status = cause?.details?.[0] as PromotionStatus | undefined;
  print(json, { failure: { type: cause?.type, message: cause?.message }, status }, () => {
    if (status) console.log(describeStatus(status));
    else console.log(pc.red(`${cause?.type ?? 'failed'}: ${cause?.message ?? err.message}`));
  });
  return 1;
}
