// Crash points for the fault suite (test/faults/): RELEASE_PROMOTER_TEST_CRASH_AT names one place
// in one activity where the worker SIGKILLs itself, so a test kills a real worker at an exact
// step instead of guessing with timers. Only the tests set it; the worker says so loudly.
import { writeSync } from 'node:fs';
import { z } from 'zod';

export const CRASH_POINT_VARIABLE = 'RELEASE_PROMOTER_TEST_CRASH_AT';

const CRASH_POINT = /^([A-Za-z]+)\.([A-Za-z]+):(before|after)(?:#([1-9][0-9]{0,2}))?$/;

/**
 * `<workflowType>.<activity>:<before|after>[#n]`: the n-th call (default the first) in this
 * process of that activity from that workflow type, before it runs or after it returned and
 * before its result reaches the server.
 */
export const CrashPointText = z
  .string()
  .regex(
    CRASH_POINT,
    'must be <workflowType>.<activity>:<before|after>[#n], e.g. promotionWorkflow.promoteCommit:after',
  )
  .transform((text) => {
    const [, workflowType, activity, when, nth] = CRASH_POINT.exec(text) as RegExpExecArray;
    return { text, workflowType, activity, when: when as 'before' | 'after', nth: Number(nth ?? 1) };
  });
export type CrashPoint = z.infer<typeof CrashPointText>;

/** Called by the activity wrapper at both ends of every call; dies at the configured point. */
export function crashPointTrap(point: CrashPoint | undefined): (
  workflowType: string,
  activity: string,
) => {
  before(): void;
  after(): void;
} {
  let calls = 0;
  const idle = { before: () => undefined, after: () => undefined };
  if (!point) return () => idle;
  return (workflowType, activity) => {
    if (workflowType !== point.workflowType || activity !== point.activity) return idle;
    const call = ++calls;
    const die = (when: 'before' | 'after') => {
      if (when !== point.when || call !== point.nth) return;
      // Synchronous: the line must be out before the signal lands.
      writeSync(2, `release-promoter worker: crash point ${point.text} reached: SIGKILL\n`);
      process.kill(process.pid, 'SIGKILL');
      // Nothing more of this process may run while the signal lands.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000);
    };
    return { before: () => die('before'), after: () => die('after') };
  };
}
