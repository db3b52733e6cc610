// Workflow time. The Temporal sandbox replaces Date with the workflow task's recorded time,
// so reading it here is deterministic; the lint rule that bans Date.now() elsewhere in
// workflows funnels every read through this one audited place.

/** ISO-8601 UTC of the current workflow time. */
export function workflowNow(): string {
  // eslint-disable-next-line no-restricted-properties -- deterministic inside the workflow sandbox
  return new Date(Date.now()).toISOString();
}

/** Milliseconds of workflow time, for deadlines that must replay identically. */
export function workflowTimeMs(): number {
  // eslint-disable-next-line no-restricted-properties -- deterministic inside the workflow sandbox
  return Date.now();
}
