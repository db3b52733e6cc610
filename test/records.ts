// Ledger records and failure catching shared by the unit-level suites (ledger, verify, git).
import { ApplicationFailure } from '@temporalio/common';
import { ConfigError } from '../src/config';
import type { PromotionRecord, RollbackRecord } from '../src/ledger/entry';
import type { GateResult } from '../src/domain';
import type { PromoteArgs, PromoteResult } from '../src/activities/promote';

export function gate(name: string, pass = true, status = 200): GateResult {
  return {
    name,
    target: 'https://staging.example.com',
    pass,
    status,
    latencyMs: 12,
    attempts: 1,
    detail: pass ? 'ok' : `status ${status}`,
  };
}

export function promotion(
  releaseId: string,
  workflowId: string,
  overrides: Partial<PromotionRecord> = {},
): PromotionRecord {
  return {
    type: 'promotion',
    releaseId,
    workflowId,
    evidenceRef: `temporal:default/${workflowId}`,
    commitSha: 'b'.repeat(40),
    environment: 'production',
    repo: '/srv/git/chat.git',
    fromBranch: 'main',
    toBranch: 'release',
    stagingBase: 'https://staging.example.com',
    stagingGateCommand: 'release-promoter gates --mode staging --base https://staging.example.com',
    stagingGateResult: 'pass',
    gatesRun: [gate('health'), gate('cost_gate_chat')],
    changeClass: 'A',
    prodVerification: [gate('health')],
    result: 'pass',
    rollbackPlan: 'move release back to the last known good',
    notes: 'promoted',
    operator: 'alice',
    approvals: [],
    extras: [],
    ...overrides,
  };
}

export function rollback(
  releaseId: string,
  workflowId: string,
  overrides: Partial<RollbackRecord> = {},
): RollbackRecord {
  return {
    type: 'rollback',
    releaseId,
    workflowId,
    evidenceRef: `temporal:default/${workflowId}`,
    trigger: 'production verification failed: db_health 503',
    fromSha: 'b'.repeat(40),
    toSha: 'c'.repeat(40),
    environment: 'production',
    repo: '/srv/git/chat.git',
    actions: ['moved release to cccccccccccccccccccccccccccccccccccccccc'],
    postRollbackVerification: [gate('health'), gate('db_health'), gate('chat_happy'), gate('chat_415', true, 415)],
    result: 'completed',
    notes: 'rolled back',
    operator: 'alice',
    toBranch: 'release',
    extras: [],
    ...overrides,
  };
}

/** Resolves to the ApplicationFailure `promise` rejects with; fails the test when it resolves. */
export async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  let outcome: unknown;
  try {
    await promise;
    outcome = 'resolved';
  } catch (err) {
    outcome = err;
  }
  expect(outcome).toBeInstanceOf(ApplicationFailure);
  return outcome as ApplicationFailure;
}

/** The ConfigError `load` throws; fails the test when it returns or throws something else. */
export function configErrorOf(load: () => unknown): ConfigError {
  let outcome: unknown;
  try {
    load();
    outcome = 'returned';
  } catch (err) {
    outcome = err;
  }
  expect(outcome).toBeInstanceOf(ConfigError);
  return outcome as ConfigError;
}

/** A failed health gate result; `over` sets what a test is about. */
export const gateResult = (over: Partial<GateResult>): GateResult => ({
  name: 'health',
  target: 'GET http://s/health',
  pass: false,
  latencyMs: 3,
  attempts: 1,
  detail: '',
  ...over,
});

/**
 * The promote step as the workflow runs it (promotion-steps.ts pushCommit): a first call that
 * comes back with `pushFrom` (it read the tip) is followed by the push from that tip.
 */
export async function promoteAsTheWorkflowDoes(
  call: (args: PromoteArgs) => Promise<PromoteResult>,
  args: PromoteArgs,
): Promise<PromoteResult> {
  const first = await call(args);
  if (!first.pushFrom) return first;
  const pushed = await call({ ...args, lease: first.pushFrom });
  return first.drift ? { ...pushed, drift: first.drift } : pushed;
}
