// The workflow's current details (the Temporal UI's "Current Details", `temporal workflow
// metadata`): re-rendered whenever what they show changes (a stage, a place in line, a decision).
// Not a command: setting them writes nothing to history, so replay is unaffected.
import { setCurrentDetails } from '@temporalio/workflow';

// Keyed by the workflow's status object, so no state is shared between workflows even if the
// module were (the key is each workflow's own object).
const renderers = new WeakMap<object, () => string>();

/** From now on `track`'s details are `render()`; shown at once. */
export function showDetails(track: object, render: () => string): void {
  renderers.set(track, render);
  refreshDetails(track);
}

/** Re-renders `track`'s details after a change (a no-op before showDetails). */
export function refreshDetails(track: object): void {
  const render = renderers.get(track);
  if (render) setCurrentDetails(render());
}
