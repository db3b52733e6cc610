// The rules that decide whether an approval decision counts, one by one. The promotion-level
// tests (approval.test.ts) show the same rules through the dev server; these pin each one.
import type { ApprovalDecision, PromotionStatus } from '../src/domain';
import { countDecision, whyDecisionIgnored } from '../src/workflows/approval-rules';

type Approval = PromotionStatus['approval'];
const SHA = '3f9c1a2b4d5e6f708192a3b4c5d6e7f809112233';
const plan = { commitSha: SHA, operator: 'olivia' };

function pending(overrides: Partial<Approval> = {}): Approval {
  return { required: true, state: 'pending', minApprovals: 1, decisions: [], ignored: [], ...overrides };
}
function approve(approver: string, extra: Partial<ApprovalDecision> = {}): ApprovalDecision {
  return { decision: 'approve', approver, at: '2026-12-01T00:00:00.000Z', ...extra };
}
function reject(approver: string): ApprovalDecision {
  return { decision: 'reject', approver, at: '2026-12-01T00:00:00.000Z', reason: 'not today' };
}

describe('whether a decision counts', () => {
  test('a decision on a request that was refused before approval does not count', () => {
    expect(whyDecisionIgnored(pending(), undefined, approve('ann'))).toBe(
      'the promotion request was refused before approval',
    );
  });

  test('a decision on a promotion that needs no approval does not count', () => {
    expect(whyDecisionIgnored(pending({ required: false, state: 'not_required' }), plan, approve('ann'))).toBe(
      'this promotion does not need approval',
    );
  });

  test.each(['approved', 'rejected', 'expired'] as const)(
    'a decision after the approval was %s does not count',
    (state) => {
      expect(whyDecisionIgnored(pending({ state }), plan, approve('ann'))).toBe(`approval is already ${state}`);
    },
  );

  test('a decision naming another commit does not count; a prefix of this one, in any case, does', () => {
    expect(whyDecisionIgnored(pending(), plan, approve('ann', { commitSha: 'abcdef1' }))).toBe(
      `commitSha abcdef1 is not this promotion's commit ${SHA}`,
    );
    expect(whyDecisionIgnored(pending(), plan, approve('ann', { commitSha: '3F9C1A2' }))).toBeUndefined();
    expect(whyDecisionIgnored(pending(), plan, approve('ann', { commitSha: SHA }))).toBeUndefined();
  });

  test('the operator cannot approve their own promotion but may withdraw it, even when not an approver', () => {
    const approval = pending({ approvers: ['ann', 'bob'] });
    expect(whyDecisionIgnored(approval, plan, approve('olivia'))).toBe(
      'olivia started this promotion and cannot approve it',
    );
    expect(whyDecisionIgnored(approval, plan, reject('olivia'))).toBeUndefined();
  });

  test('with an approver list, only listed people decide; without one, anyone but the operator may approve', () => {
    const listed = pending({ approvers: ['ann', 'bob'] });
    expect(whyDecisionIgnored(listed, plan, approve('mallory'))).toBe(
      'mallory is not an approver here (approvers: ann, bob)',
    );
    expect(whyDecisionIgnored(listed, plan, reject('mallory'))).toBe(
      'mallory is not an approver here (approvers: ann, bob)',
    );
    expect(whyDecisionIgnored(listed, plan, approve('bob'))).toBeUndefined();
    expect(whyDecisionIgnored(pending(), plan, approve('mallory'))).toBeUndefined();
  });

  test('each approver decides once', () => {
    const approval = pending({ minApprovals: 2, decisions: [approve('ann')] });
    expect(whyDecisionIgnored(approval, plan, approve('ann'))).toBe('ann already decided');
    expect(whyDecisionIgnored(approval, plan, reject('ann'))).toBe('ann already decided');
    expect(whyDecisionIgnored(approval, plan, approve('bob'))).toBeUndefined();
  });
});

describe('counting a decision', () => {
  test('one approval approves when one is needed', () => {
    const approval = pending();
    countDecision(approval, approve('ann'));
    expect(approval.state).toBe('approved');
    expect(approval.decisions.map((d) => d.approver)).toEqual(['ann']);
  });

  test('two are needed: the first keeps it pending, a second approver approves it', () => {
    const approval = pending({ minApprovals: 2 });
    countDecision(approval, approve('ann'));
    expect(approval.state).toBe('pending');
    countDecision(approval, approve('bob'));
    expect(approval.state).toBe('approved');
  });

  test('the same approver twice is one approval (distinct approvers are counted)', () => {
    const approval = pending({ minApprovals: 2 });
    countDecision(approval, approve('ann'));
    countDecision(approval, approve('ann'));
    expect(approval.state).toBe('pending');
  });

  test('one rejection rejects, whatever approvals came before', () => {
    const approval = pending({ minApprovals: 2 });
    countDecision(approval, approve('ann'));
    countDecision(approval, reject('bob'));
    expect(approval.state).toBe('rejected');
    expect(approval.decisions.map((d) => d.decision)).toEqual(['approve', 'reject']);
  });

  test('a rejection never counts toward the approvals', () => {
    // Not reachable through the desk (a rejection ends it), but the count must not lean on that.
    const approval = pending({ minApprovals: 2, decisions: [reject('bob')] });
    countDecision(approval, approve('ann'));
    expect(approval.state).toBe('pending');
  });
});
