// Bounded histories: anyone who may signal a promotion can grow its history (every signal's
// payload stays in it), and a long deploy wait or approval wait grows it too. Past the server's
// limits (50 MB or ~50K events) the server terminates the workflow, entry unwritten. So every
// long wait of a promotion continues it as new (same workflow id, same release id, its locks
// handed over) once the history is long, well before those limits.
import { condition, continueAsNew, workflowInfo } from '@temporalio/workflow';

const MAX_HISTORY_BYTES = 8 * 1024 * 1024;
const MAX_HISTORY_EVENTS = 8_000;

export function historyTooLong(): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historySize > MAX_HISTORY_BYTES || info.historyLength > MAX_HISTORY_EVENTS;
}

/**
 * `condition` that may end the run: resolves to done() once done or timed out. `summary` names
 * the timeout's timer in the history and the UI (no bare `86400s`).
 */
export type Wait = (done: () => boolean, timeoutMs?: number, summary?: string) => Promise<boolean>;

/**
 * A wait that continues the workflow as new with `next()` as its input when the history grows
 * too long meanwhile. `next` runs only then, so it sees the state at that moment.
 */
export function waitOrContinue(next: () => unknown): Wait {
  return async (done, timeoutMs, summary) => {
    const woken = () => done() || historyTooLong();
    if (timeoutMs === undefined) await condition(woken);
    else await condition(woken, timeoutMs, { summary });
    if (!done() && historyTooLong()) await continueAsNew(next());
    return done();
  };
}
