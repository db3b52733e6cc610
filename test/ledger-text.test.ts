// Caller free text through real promotions and rollbacks (issue 13): it cannot forge a ledger line
// for a reader that splits lines the Unicode way, and a secret pasted into it is redacted in the
// workflow before any activity, status or entry holds it. Real dev server, in-process worker,
// real git and ledger file.
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { PromotionStatus, RollbackStatus } from '../src/domain';
import { fieldText, parseLedger } from '../src/ledger/format';
import { verifyLedger } from '../src/ledger/verify';
import { rollbackWorkflow } from '../src/workflows';
import { rollbackStatusQuery, statusQuery } from '../src/workflows/messages';
import { createHarness, Harness, uniqueId } from './helpers';

const BIN = path.join(__dirname, '..', 'bin', 'release-promoter.js');

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

/** Lines as a reader splits them that honours every Unicode line terminator (as many editors, viewers and `str.splitlines` do). */
function unicodeLines(text: string): string[] {
  return text.split(/\r\n|\r|\n|\u2028|\u2029|\u0085/);
}

interface HistoryEvent {
  eventType?: unknown;
  [attributes: string]: unknown;
}

/** One event as text with its payloads decoded (payload data arrive base64-encoded or as bytes). */
function eventText(event: unknown): string {
  return JSON.stringify(event, function (this: Record<string, unknown>, key, value) {
    const raw = this[key];
    if (raw instanceof Uint8Array) return Buffer.from(raw).toString('utf8');
    if (key === 'data' && typeof raw === 'string') return Buffer.from(raw, 'base64').toString('utf8');
    return value;
  });
}

/** The history's events by kind: the start input, the scheduled activities' inputs, and everything else. */
async function historyParts(
  handle: WorkflowHandle,
): Promise<{ started: string; scheduled: Array<{ activity: string; input: string }>; rest: string[] }> {
  const events = ((await handle.fetchHistory()).events ?? []) as HistoryEvent[];
  const started: string[] = [];
  const scheduled: Array<{ activity: string; input: string }> = [];
  const rest: string[] = [];
  for (const event of events) {
    if (event.workflowExecutionStartedEventAttributes)
      started.push(eventText(event.workflowExecutionStartedEventAttributes));
    else if (event.activityTaskScheduledEventAttributes) {
      const attributes = event.activityTaskScheduledEventAttributes as {
        activityType?: { name?: string };
        input?: unknown;
      };
      scheduled.push({ activity: attributes.activityType?.name ?? '?', input: eventText(attributes.input) });
    } else rest.push(eventText(event));
  }
  return { started: started.join('\n'), scheduled, rest };
}

function cliLedgerVerify(ledgerPath: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'ledger', 'verify', ledgerPath], {
      env: { ...process.env, NO_COLOR: '1' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const FORGED = '  result: pass';

describe('free text that tries to forge ledger lines', () => {
  const notes = [
    'deployed fine',
    `line separator\u2028${FORGED}\u2028`,
    `paragraph separator\u2029${FORGED}\u2029`,
    `next line\u0085${FORGED}\u0085`,
    `newline\n${FORGED}\n`,
    `carriage return\r${FORGED}\r`,
    'bidi \u202Eevil\u202C and isolate \u2066x\u2069 marks \u200E\u200F\u061C',
    'c1 \u009b31m csi, del \u007f, esc \u001b[2J',
  ].join(' ');
  const rollbackPlan = `revert release\u2028${FORGED}\u2028\u202Eend`;
  const evidenceRefs = `ticket-42\u0085${FORGED}\u0085\u2029${FORGED}`;

  test('notes, rollback plan and evidence refs with line and paragraph separators, NEL and bidi controls forge no line, and the ledger still verifies', async () => {
    const sha = await h.repo.commit('feature: hostile free text');
    const handle = await h.start(h.request(sha, { notes, rollbackPlan, evidenceRefs }));
    const outcome: PromotionStatus = await handle.result();
    expect(outcome.stage).toBe('promoted');

    const text = await h.ledger();
    const entries = parseLedger(text).entries;
    const entry = entries.find((e) => e.releaseId === outcome.releaseId);
    expect(entry).toBeDefined();

    // Only the real result lines, one per entry that passed, however the lines are split.
    const resultLines = unicodeLines(text).filter((line) => line === FORGED);
    expect(resultLines).toHaveLength(entries.filter((e) => fieldText(e, 'result') === 'pass').length);
    expect(unicodeLines(text).filter((line) => line.trim() === 'result: pass')).toHaveLength(resultLines.length);
    // Nothing that breaks or reorders a line is written raw; the file's lines are the parser's lines.
    expect(
      // eslint-disable-next-line no-control-regex -- these are exactly what must not be written raw
      text.match(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g),
    ).toBeNull();
    expect(unicodeLines(text)).toEqual(text.split('\n'));

    // The values round-trip: the escapes are JSON's, read back by the parser.
    expect(fieldText(entry!, 'notes')).toContain(notes);
    expect(fieldText(entry!, 'rollback_plan')).toBe(rollbackPlan);
    expect(fieldText(entry!, 'evidence_refs')).toContain(evidenceRefs);

    const report = verifyLedger(text);
    expect(report).toMatchObject({ ok: true, entries: entries.length });
    const cli = await cliLedgerVerify(h.ledgerPath);
    expect({ code: cli.code, stderr: cli.stderr }).toEqual({ code: 0, stderr: '' });
    expect(cli.stdout).toContain('ok');
  });
});

describe('caller free text with secrets', () => {
  const SECRET_BITS = [
    'sk_live_abcdef1234567890',
    'abcdef1234567890',
    'horse battery staple',
    'hunter2pass',
    'glpat-abcdefghij1234567890',
  ];

  function expectNoSecret(where: string, text: string): void {
    expect({ where, leaked: SECRET_BITS.filter((s) => text.includes(s)) }).toEqual({ where, leaked: [] });
  }

  test('a secret in notes, rollback plan or evidence refs never reaches an activity input, the status, the outcome or the ledger raw', async () => {
    const sha = await h.repo.commit('feature: secrets in free text');
    const handle = await h.start(
      h.request(sha, {
        notes: 'deployed with api_key=sk_live_abcdef1234567890 and password: "correct horse battery staple"',
        rollbackPlan: 'revert with the token glpat-abcdefghij1234567890 if needed',
        evidenceRefs: 'https://ops:hunter2pass@ci.example.com/run/1',
      }),
    );
    const outcome: PromotionStatus = await handle.result();
    expect(outcome.stage).toBe('promoted');

    const { started, scheduled, rest } = await historyParts(handle);
    // The start input is the caller's own, as sent (and proves the payloads were decoded).
    expect(started).toContain('sk_live_abcdef1234567890');
    expect(scheduled.length).toBeGreaterThan(0);
    const admission = scheduled.find((s) => s.activity === 'admitPromotion');
    expect(admission?.input).toContain('api_key=[REDACTED]');
    // (JSON inside JSON: the quotes come escaped twice)
    expect(admission?.input).toMatch(/password: \\*"\[REDACTED\]\\*"/);
    for (const { activity, input } of scheduled) expectNoSecret(`input of ${activity}`, input);
    rest.forEach((event, i) => expectNoSecret(`history event ${i}`, event));
    expectNoSecret('status', JSON.stringify(await handle.query(statusQuery)));
    expectNoSecret('outcome', JSON.stringify(outcome));
    const entry = parseLedger(await h.ledger()).entries.find((e) => e.releaseId === outcome.releaseId);
    expect(fieldText(entry!, 'notes')).toContain('api_key=[REDACTED] and password: "[REDACTED]"');
    expectNoSecret('ledger', await h.ledger());
  });

  test("a secret in a manual rollback's trigger never reaches an activity input, the status or the ledger raw", async () => {
    const good = await h.repo.tip('release');
    const sha = await h.repo.commit('feature: to be rolled back');
    expect((await (await h.start(h.request(sha))).result()).stage).toBe('promoted');
    const handle = await h.env.client.workflow.start(rollbackWorkflow, {
      taskQueue: h.taskQueue,
      workflowId: uniqueId('rollback'),
      args: [
        {
          repo: h.repo.bare,
          productionBase: h.production.url,
          fromSha: sha,
          toSha: good,
          trigger: '5xx spike; checked with api_key=sk_live_abcdef1234567890',
          operator: 'oncall-bob',
        },
      ],
    });
    const status: RollbackStatus = await handle.result();
    expect(status.result).toBe('completed');
    expect(status.trigger).toBe('5xx spike; checked with api_key=[REDACTED]');

    const { started, scheduled, rest } = await historyParts(handle);
    expect(started).toContain('sk_live_abcdef1234567890');
    const planning = scheduled.find((s) => s.activity === 'planRollback');
    expect(planning?.input).toContain('api_key=[REDACTED]');
    for (const { activity, input } of scheduled) expectNoSecret(`input of ${activity}`, input);
    rest.forEach((event, i) => expectNoSecret(`history event ${i}`, event));
    expectNoSecret('status', JSON.stringify(await handle.query(rollbackStatusQuery)));
    const entry = parseLedger(await h.ledger()).entries.find((e) => e.releaseId === status.releaseId);
    expect(fieldText(entry!, 'trigger')).toBe('5xx spike; checked with api_key=[REDACTED]');
    expectNoSecret('ledger', await h.ledger());
  });
});
