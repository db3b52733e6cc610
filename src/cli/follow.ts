// Following a promotion or rollback to its outcome (`watch`, `start --wait`, `rollback`).
import type { WorkflowHandle } from '@temporalio/client';
import pc from 'picocolors';
import type { PromotionStatus, RollbackStatus, StageTrack } from '../domain';
import { liveView } from '../live-view';
import { EXIT, ExitCode } from './exit-codes';
import { describeStatus, print } from './render';

/** How often the status is asked for while the workflow runs. */
const POLL_MS = 500;

type Timeline = StageTrack['timeline'];

/** One timeline entry as a line: the time the workflow reached the stage, not when we saw it. */
export function stageLine(entry: Timeline[number]): string {
  return `${entry.at} ${entry.stage}\n`;
}

/**
 * Prints each timeline entry once, in order: the workflow only appends to its timeline, so the
 * entries not yet printed are those past the count already printed.
 */
export function timelinePrinter(write: (text: string) => void): (timeline: Timeline | undefined) => void {
  let printed = 0;
  return (timeline) => {
    if (!timeline || timeline.length <= printed) return;
    write(timeline.slice(printed).map(stageLine).join(''));
    printed = timeline.length;
  };
}

/**
 * Waits for the outcome. Every stage of the timeline is printed to stderr once, in order, with
 * the time the workflow reached it, including stages passed between two polls and the last ones,
 * read from the outcome (the result, or the failure's details[0]). On a terminal the status is
 * also redrawn in place below those lines while it runs. `--json` prints only the outcome.
 * EXIT.ok only when promoted / rolled back.
 */
export async function follow(handle: WorkflowHandle, json: boolean): Promise<ExitCode> {
  // Loaded here, not at the top: the commands that follow are defined before any of them runs.
  const [{ WorkflowFailedError }, { statusQuery }] = await Promise.all([
    import('@temporalio/client'),
    import('../workflows/messages'),
  ]);
  const live = !json && process.stderr.isTTY ? liveView(process.stderr) : undefined;
  let block = '';
  const printTimeline = timelinePrinter((text) => {
    if (json) return;
    // New lines go above the live block: take it down, write them, draw it again.
    live?.clear();
    process.stderr.write(text);
    if (live && block) live.show(block);
  });
  const started = Date.now();
  let done = false;
  const poll = async () => {
    while (!done) {
      const s = (await handle.query(statusQuery).catch(() => undefined)) as
        PromotionStatus | RollbackStatus | undefined;
      // The outcome may have arrived while the query was out: it prints the rest.
      if (done) return;
      if (s) {
        if (live) {
          const seconds = Math.round((Date.now() - started) / 1000);
          block = `${pc.dim(`watching for ${seconds} s; Ctrl-C stops watching, not the ${'commitSha' in s ? 'promotion' : 'rollback'}`)}\n${describeStatus(s, true)}`;
        }
        printTimeline(s.timeline);
        live?.show(block);
      }
      // Unreferenced: once the outcome is in, this wait does not keep the process alive.
      await new Promise((resolve) => setTimeout(resolve, POLL_MS).unref());
    }
  };
  void poll();
  const outcome = await handle.result().then(
    (status: PromotionStatus | RollbackStatus) => ({ status }),
    (err: unknown) => ({ err }),
  );
  done = true;
  // The live block is gone before the last stages and the outcome are printed below it.
  live?.clear();
  block = '';
  if ('status' in outcome) {
    const { status } = outcome;
    printTimeline(status.timeline);
    print(json, status, () => console.log(describeStatus(status)));
    return status.stage === 'promoted' || status.stage === 'rolled_back' ? EXIT.ok : EXIT.notOk;
  }
  const { err } = outcome;
  if (!(err instanceof WorkflowFailedError)) throw err;
  const cause = err.cause as { type?: string; message?: string; details?: unknown[] } | undefined;
  const status = cause?.details?.[0] as PromotionStatus | undefined;
  printTimeline(status?.timeline);
  print(json, { failure: { type: cause?.type, message: cause?.message }, status }, () => {
    if (status) console.log(describeStatus(status));
    else console.log(pc.red(`${cause?.type ?? 'failed'}: ${cause?.message ?? err.message}`));
  });
  return EXIT.notOk;
}
