// What status, watch and list do (their flags are in promotions.ts): they read Temporal's own
// record of a workflow (describe, the history's closing event, visibility) beside its status query.
import {
  Client,
  WorkflowFailedError,
  WorkflowNotFoundError,
  type WorkflowExecutionDescription,
  type WorkflowExecutionInfo,
} from '@temporalio/client';
import { defaultPayloadConverter, fromPayloadsAtIndex } from '@temporalio/common';
import { optionalTsToDate } from '@temporalio/common/lib/time';
import type { temporal } from '@temporalio/proto';
import pc from 'picocolors';
import type { PromotionStatus, RollbackStatus } from '../domain';
import { statusQuery } from '../workflows/messages';
import { EXIT } from './exit-codes';
import { follow } from './follow';
import { noSuchWorkflow } from './promotions';
import { closedLine, describeStatus, endedMidway, print, type ClosedExecution, type WorkflowRow } from './render';

type AnyStatus = PromotionStatus | RollbackStatus;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** How long `status` waits for a worker to answer the query of a closed workflow (it replays the history). */
const CLOSED_QUERY_WAIT_MS = 5_000;
/** How far back `status` looks for who asked a cancelled workflow to cancel. */
const CANCEL_REQUEST_SEARCH_EVENTS = 1_000;
/** How many rows' start input `list` reads at once (for the operator: not a search attribute). */
const LIST_READ_CONCURRENCY = 8;

/** `watch`: follow the workflow to its end; an unknown id, or one closed from outside, says what `status` says. */
export async function watchCommand(
  client: Client,
  namespace: string,
  workflowId: string,
  json: boolean,
): Promise<number> {
  const handle = client.workflow.getHandle(workflowId);
  // follow() waits on the result: for an unknown id that is a raw Temporal error, and for a
  // workflow closed from outside (terminated, timed out, cancelled) it knows no who or why.
  const description = await handle.describe().catch((err: unknown) => {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  });
  if (!description) return noSuchWorkflow(workflowId);
  if (['TERMINATED', 'TIMED_OUT', 'CANCELLED'].includes(description.status.name))
    return printStatus(client, namespace, description, json);
  return follow(handle, json);
}

// ---------------------------------------------------------------------------------------------
// status

/** `status --json`: the status as the workflow last set it, and how its execution stands. */
type StatusAnswer = Partial<AnyStatus> & { execution: ClosedExecution | { how: 'running' } };

export async function statusCommand(
  client: Client,
  namespace: string,
  workflowId: string,
  json: boolean,
): Promise<number> {
  const handle = client.workflow.getHandle(workflowId);
  let description: WorkflowExecutionDescription;
  try {
    description = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return noSuchWorkflow(workflowId);
    throw err;
  }
  return printStatus(client, namespace, description, json);
}

/** The status of a described workflow: its query while it runs, its closed record once closed. */
async function printStatus(
  client: Client,
  namespace: string,
  description: WorkflowExecutionDescription,
  json: boolean,
): Promise<number> {
  if (description.status.name === 'RUNNING') {
    const status = await client.workflow.getHandle(description.workflowId).query(statusQuery);
    const answer: StatusAnswer = { ...status, execution: { how: 'running' } };
    print(json, answer, () => console.log(describeStatus(status)));
    return EXIT.ok;
  }
  const { status, closed } = await closedStatus(client, namespace, description);
  const answer: StatusAnswer = { ...status, execution: closed };
  print(json, answer, () =>
    console.log(status ? describeStatus(status, false, closed) : bareStatus(description, closed)),
  );
  const done = closed.how === 'completed' && (status?.stage === 'promoted' || status?.stage === 'rolled_back');
  return done ? EXIT.ok : EXIT.notOk;
}

/** A closed workflow's last status (its result, its failure's details, else a query) and how it closed. */
export async function closedStatus(
  client: Client,
  namespace: string,
  description: WorkflowExecutionDescription,
): Promise<{ status?: AnyStatus; closed: ClosedExecution }> {
  const handle = client.workflow.getHandle(description.workflowId, description.runId);
  const at = description.closeTime?.toISOString();
  const name = description.status.name;
  if (name === 'COMPLETED') {
    const status = (await handle.result()) as AnyStatus;
    return { status, closed: { how: 'completed', at } };
  }
  if (name === 'FAILED') {
    const status = await handle.result().then(
      () => undefined,
      (err: unknown) =>
        err instanceof WorkflowFailedError
          ? ((err.cause as { details?: unknown[] } | undefined)?.details?.[0] as AnyStatus | undefined)
          : undefined,
    );
    const closed: ClosedExecution = { how: 'failed', at };
    // A promotion that was cancelled ends its own way (stage cancelled); who asked is in the history.
    if (status?.stage === 'cancelled') Object.assign(closed, await cancelRequest(client, namespace, description));
    return { status: status ?? (await lastStatus(client, description)), closed };
  }
  const how =
    name === 'TERMINATED'
      ? 'terminated'
      : name === 'TIMED_OUT'
        ? 'timed out'
        : name === 'CANCELLED'
          ? 'cancelled'
          : 'failed';
  const closed: ClosedExecution = { how, at, ...(await closingEvent(client, namespace, description)) };
  return { status: await lastStatus(client, description), closed };
}

/** The status a closed workflow last had, by the query (a worker replays its history), or undefined. */
async function lastStatus(client: Client, description: WorkflowExecutionDescription): Promise<AnyStatus | undefined> {
  const handle = client.workflow.getHandle(description.workflowId, description.runId);
  try {
    return await client.withDeadline(Date.now() + CLOSED_QUERY_WAIT_MS, () => handle.query(statusQuery));
  } catch {
    return undefined; // no worker to replay it: the search attributes have to do (bareStatus)
  }
}

const execution = (d: { workflowId: string; runId: string }) => ({ workflowId: d.workflowId, runId: d.runId });

/** Who closed it and why, from the closing event (terminate: identity and reason; time-out: the timeout). */
async function closingEvent(
  client: Client,
  namespace: string,
  description: WorkflowExecutionDescription,
): Promise<Partial<ClosedExecution>> {
  const page = await client.workflowService.getWorkflowExecutionHistoryReverse({
    namespace,
    execution: execution(description),
    maximumPageSize: 1,
  });
  const last = page.history?.events?.[0];
  if (!last) return {};
  const at = optionalTsToDate(last.eventTime)?.toISOString();
  const terminated = last.workflowExecutionTerminatedEventAttributes;
  if (terminated)
    return {
      at,
      by: terminated.identity || undefined,
      reason: terminated.reason || undefined,
    };
  if (last.workflowExecutionTimedOutEventAttributes)
    return { at, by: 'Temporal', reason: 'the workflow execution timeout passed' };
  if (last.workflowExecutionCanceledEventAttributes)
    return { at, ...(await cancelRequest(client, namespace, description)) };
  return { at };
}

/** Who asked the workflow to cancel (WorkflowExecutionCancelRequested), searched from the end. */
async function cancelRequest(
  client: Client,
  namespace: string,
  description: WorkflowExecutionDescription,
): Promise<Partial<ClosedExecution>> {
  let nextPageToken: Uint8Array | undefined;
  let seen = 0;
  do {
    const page = await client.workflowService.getWorkflowExecutionHistoryReverse({
      namespace,
      execution: execution(description),
      maximumPageSize: 100,
      nextPageToken,
    });
    const events: HistoryEvent[] = page.history?.events ?? [];
    const request = events.find((e) => e.workflowExecutionCancelRequestedEventAttributes);
    if (request) {
      const attrs = request.workflowExecutionCancelRequestedEventAttributes;
      return {
        by: attrs?.identity || undefined,
        reason: attrs?.cause || undefined,
      };
    }
    seen += events.length;
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken && seen < CANCEL_REQUEST_SEARCH_EVENTS);
  return {};
}

const firstValue = (sa: Record<string, unknown[] | undefined>, key: string): string | undefined => {
  const value = sa[key]?.[0];
  return typeof value === 'string' ? value : undefined;
};

/** A closed workflow no worker could replay: what its search attributes say, and how it closed. */
function bareStatus(description: WorkflowExecutionDescription, closed: ClosedExecution): string {
  const sa = description.searchAttributes as Record<string, unknown[] | undefined>;
  const stage = firstValue(sa, 'ReleaseStage');
  const lines = [
    `${pc.bold(description.workflowId)}  ${firstValue(sa, 'ReleaseId') ?? '(no release id)'}  stage ${pc.red(endedMidway(stage) ? closed.how : (stage as string))}`,
    pc.red(closedLine(closed)),
  ];
  if (stage && endedMidway(stage))
    lines.push(`its last stage was ${stage}; the workflow no longer runs, so nothing more will happen`);
  lines.push(
    `commit ${firstValue(sa, 'CommitSha') ?? '?'}  class ${firstValue(sa, 'ChangeClass') ?? '?'}  environment ${firstValue(sa, 'ReleaseEnvironment') ?? '?'}`,
  );
  lines.push(pc.dim('(no worker answered the status query, so this is what the search attributes say)'));
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// list

const EXECUTION_STATUS: Record<string, string> = {
  RUNNING: 'running',
  COMPLETED: 'completed',
  FAILED: 'failed',
  TERMINATED: 'terminated',
  TIMED_OUT: 'timed out',
  CANCELLED: 'cancelled',
  CONTINUED_AS_NEW: 'continued as new',
};

/** The visibility query `list` runs (the README quotes its shape). */
export function listQuery(o: { stage?: string; environment?: string }): string {
  return [
    `WorkflowType IN ('promotionWorkflow','rollbackWorkflow')`,
    // A run that continued as new is not a promotion of its own: its successor (same id) is listed.
    `ExecutionStatus != 'ContinuedAsNew'`,
    // Both are checked against the stage list and the environment rule before they get here.
    o.stage ? `ReleaseStage = '${o.stage}'` : '',
    // A working stage is only true of a workflow that still runs: a terminated one keeps its last stage.
    o.stage && endedMidway(o.stage) ? `ExecutionStatus = 'Running'` : '',
    o.environment ? `ReleaseEnvironment = '${o.environment}'` : '',
  ]
    .filter(Boolean)
    .join(' AND ');
}

export async function listRows(
  client: Client,
  namespace: string,
  o: { stage?: string; environment?: string; limit: number },
): Promise<WorkflowRow[]> {
  const found: WorkflowExecutionInfo[] = [];
  for await (const wf of client.workflow.list({ query: listQuery(o) })) {
    found.push(wf);
    if (found.length >= o.limit) break;
  }
  const rows: WorkflowRow[] = new Array<WorkflowRow>(found.length);
  let next = 0;
  const work = async () => {
    for (let i = next++; i < found.length; i = next++)
      rows[i] = await listRow(client, namespace, found[i] as WorkflowExecutionInfo);
  };
  await Promise.all(Array.from({ length: Math.min(LIST_READ_CONCURRENCY, found.length) }, work));
  return rows;
}

async function listRow(client: Client, namespace: string, wf: WorkflowExecutionInfo): Promise<WorkflowRow> {
  const sa = wf.searchAttributes as Record<string, unknown[] | undefined>;
  const input = await startInput(client, namespace, wf);
  const releaseStage = firstValue(sa, 'ReleaseStage');
  const executionStatus = EXECUTION_STATUS[wf.status.name] ?? wf.status.name.toLowerCase();
  const running = wf.status.name === 'RUNNING';
  return {
    workflowId: wf.workflowId,
    runId: wf.runId,
    kind: wf.type === 'rollbackWorkflow' ? 'rollback' : 'promotion',
    releaseId: firstValue(sa, 'ReleaseId'),
    environment: firstValue(sa, 'ReleaseEnvironment') ?? input.environment,
    changeClass: firstValue(sa, 'ChangeClass') ?? input.changeClass,
    operator: input.operator,
    // Closed in a working stage (terminated, timed out, …): how it closed is what it is now.
    stage: !running && endedMidway(releaseStage) ? executionStatus : (releaseStage ?? 'validating'),
    releaseStage,
    executionStatus,
    commit: firstValue(sa, 'CommitSha') ?? input.commitSha,
    startTime: wf.startTime.toISOString(),
    closeTime: wf.closeTime?.toISOString(),
  };
}

/**
 * Fields of the run's start input (its first history event): the operator is no search
 * attribute, and a request refused in validation never set the others. A continued run's input
 * carries the status it continued from.
 */
async function startInput(
  client: Client,
  namespace: string,
  wf: WorkflowExecutionInfo,
): Promise<{ operator?: string; environment?: string; changeClass?: string; commitSha?: string }> {
  try {
    const page = await client.workflowService.getWorkflowExecutionHistory({
      namespace,
      execution: execution(wf),
      maximumPageSize: 1,
    });
    const payloads = page.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads;
    const input = fromPayloadsAtIndex<unknown>(defaultPayloadConverter, 0, payloads);
    const raw = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
    const continued = (raw.continued as { status?: Record<string, unknown> } | undefined)?.status;
    const from = continued ?? raw;
    const text = (key: string) => (typeof from[key] === 'string' ? (from[key] as string).slice(0, 64) : undefined);
    return {
      operator: text('operator'),
      environment: text('environment') ?? (wf.type === 'promotionWorkflow' ? 'production' : undefined),
      changeClass: text('changeClass'),
      commitSha: text('commitSha') ?? text('toSha'),
    };
  } catch {
    return {};
  }
}
