// A registry secret that a target echoes back, in every encoding a real service uses (issue 13,
// SPEC §7): real promotions on the dev server with an in-process worker, staging and production
// echoing the registry's header values; the secret in any of its spellings is in no history,
// status, outcome, failure or ledger entry.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { GateResult, PromotionStatus } from '../src/domain';
import { freeLoopbackPort } from '../src/free-port';
import { parseLedger } from '../src/ledger/format';
import { rollbackChildId, rollbackStatusQuery, statusQuery } from '../src/workflows/messages';
import { createSampleRepo, SampleRepo } from '../sample/repo';
import type { EchoEncoding } from '../sample/service';
import { createHarness, failureOf, Harness, historyText } from './helpers';

// The second header's name looks like nothing secret, so only the value's own spellings can mask
// it (a key named "authorization" or "…secret" is masked by its name already).
const SECRETS = { authorization: 'Bearer s3cr3t-gate-token-123456', 'x-gate-key': 'plain/secret+value/42' } as const;
const ENV = { SECRET_ECHO_AUTH: SECRETS.authorization, SECRET_ECHO_PLAIN: SECRETS['x-gate-key'] };
const ENCODINGS: EchoEncoding[] = [
  'json',
  'json-escaped-slashes',
  'base64',
  'base64-upper',
  'base64url',
  'base64-json',
  'hex',
  'hex-upper',
  'url',
];

let h: Harness;
let tmp: string;
let repo: SampleRepo;
const previous = Object.fromEntries(Object.keys(ENV).map((name) => [name, process.env[name]]));

beforeAll(async () => {
  Object.assign(process.env, ENV);
  tmp = await mkdtemp(path.join(os.tmpdir(), 'secret-echo-test-'));
  repo = await createSampleRepo(path.join(tmp, 'repo'));
  const [stagingPort, productionPort] = [await freeLoopbackPort(), await freeLoopbackPort()];
  const configFile = path.join(tmp, 'environments.json');
  await writeFile(
    configFile,
    JSON.stringify({
      environments: {
        production: {
          repo: repo.bare,
          stagingBase: `http://127.0.0.1:${stagingPort}`,
          productionBase: `http://127.0.0.1:${productionPort}`,
          headersFromEnv: { Authorization: 'SECRET_ECHO_AUTH', 'X-Gate-Key': 'SECRET_ECHO_PLAIN' },
          approval: { classes: [], approvers: ['bob'], minApprovals: 1 },
        },
      },
    }),
  );
  // Only the secret headers are echoed, first in the body: the gate excerpt (160 characters) holds them.
  const echo = { echoHeaders: true, echoOnly: Object.keys(SECRETS), echoEncoding: 'json' as EchoEncoding };
  h = await createHarness({
    staging: { port: stagingPort, ...echo },
    production: { port: productionPort, ...echo, follow: { gitDir: repo.bare, branch: 'release' } },
    env: { ENVIRONMENTS_CONFIG: configFile, ...ENV },
  });
});

afterAll(async () => {
  await h?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
  for (const [name, value] of Object.entries(previous)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

const b64 = (text: string) => Buffer.from(text).toString('base64');

/**
 * Every spelling of the secrets that must not survive, lower-cased (the base64 and hex checks are
 * case-blind, as a target's upper-casing is): the raw value, JSON-escaped (also with `\/`),
 * URL-encoded, base64 and base64url, hex, and the base64 characters that encode only the value's
 * bytes when it sits 0, 1 or 2 bytes into a longer encoded text (the whole echoed object).
 */
function forbiddenSpellings(): string[] {
  const forms: string[] = [];
  for (const value of Object.values(SECRETS)) {
    const json = JSON.stringify(value).slice(1, -1);
    forms.push(
      value,
      json,
      json.replace(/\//g, '\\/'),
      encodeURIComponent(value),
      b64(value).replace(/=+$/, ''),
      Buffer.from(value).toString('base64url'),
      Buffer.from(value).toString('hex'),
    );
    for (const offset of [0, 1, 2])
      forms.push(
        b64(`${'x'.repeat(offset)}${json}`).slice(
          Math.ceil((offset * 8) / 6),
          Math.floor(((offset + json.length) * 8) / 6),
        ),
      );
  }
  return forms.map((f) => f.toLowerCase());
}

/** 12-character pieces of every forbidden spelling: a cut-off piece of a secret is a leak too. */
const PIECES = [
  ...new Set(
    forbiddenSpellings().flatMap((form) =>
      Array.from({ length: Math.max(1, form.length - 11) }, (_, i) => form.slice(i, i + 12)),
    ),
  ),
];

function leaksIn(where: string, text: string): { where: string; leaked: string[] } {
  const lower = text.toLowerCase();
  return { where, leaked: PIECES.filter((piece) => lower.includes(piece)) };
}

function expectNoLeak(records: Array<[string, string]>): void {
  for (const [where, text] of records) expect(leaksIn(where, text)).toEqual({ where, leaked: [] });
}

/** The target really sent the secrets back and the evidence kept the echo, masked. */
function expectEchoMasked(gates: GateResult[]): void {
  const details = gates.map((g) => g.detail).join('\n');
  expect(details).toContain('"echo":');
  expect(details).toContain('[REDACTED]');
}

function minimal(commitSha: string): Record<string, unknown> {
  return { commitSha, changeClass: 'A', operator: 'alice', environment: 'production' };
}

function echoing(encoding: EchoEncoding, productionDown: boolean): void {
  h.staging.configure({ echoEncoding: encoding });
  h.production.configure({ echoEncoding: encoding, dbDown: productionDown });
}

test('the sample service echoes the secrets in the chosen encoding (the leak tests below are real)', async () => {
  for (const encoding of ENCODINGS) {
    h.staging.configure({ echoEncoding: encoding });
    const answer = await fetch(`${h.staging.url}/health`, {
      headers: { authorization: SECRETS.authorization, 'x-gate-key': SECRETS['x-gate-key'] },
    });
    const text = await answer.text();
    expect(text.startsWith('{"echo":')).toBe(true);
    const spelled = (value: string) =>
      ({
        json: value,
        'json-escaped-slashes': value.replace(/\//g, '\\/'),
        base64: b64(value),
        'base64-upper': b64(value).toUpperCase(),
        base64url: Buffer.from(value).toString('base64url'),
        'base64-json': b64(JSON.stringify(SECRETS)),
        hex: Buffer.from(value).toString('hex'),
        'hex-upper': Buffer.from(value).toString('hex').toUpperCase(),
        url: encodeURIComponent(value),
      })[encoding];
    // Both within the first 160 characters, the part of a body a gate keeps as its excerpt.
    for (const value of Object.values(SECRETS))
      expect({ encoding, echoed: text.slice(0, 160).includes(spelled(value)) }).toEqual({ encoding, echoed: true });
  }
});

test('a promotion whose targets echo the secrets with escaped slashes is promoted and the secrets are in no history, status, outcome or ledger', async () => {
  echoing('json-escaped-slashes', false);
  const sha = await repo.commit('feature: echo with escaped slashes');
  const handle = await h.start(minimal(sha));
  const outcome: PromotionStatus = await handle.result();
  expect(outcome.stage).toBe('promoted');
  expect(h.staging.requests.at(-1)?.headers['x-gate-key']).toBe(SECRETS['x-gate-key']);
  expectEchoMasked(outcome.gates);
  expectEchoMasked(outcome.prodVerification);
  const history = historyText(await handle.fetchHistory());
  expect(history).toContain(sha); // payloads were decoded
  expectNoLeak([
    ['history', history],
    ['status', JSON.stringify(await handle.query(statusQuery))],
    ['outcome', JSON.stringify(outcome)],
    ['ledger', await h.ledger()],
  ]);
});

describe('a promotion failing production verification while both targets echo the secrets', () => {
  test.each(ENCODINGS)(
    'echoed as %s: the secrets are in no history, status, failure or ledger entry, of the promotion or its rollback',
    async (encoding) => {
      echoing(encoding, true);
      try {
        const sha = await repo.commit(`feature: echo as ${encoding}`);
        const handle: WorkflowHandle = await h.start(minimal(sha));
        const failure = await failureOf(handle);
        expect(failure.type).toBe('ProductionVerificationFailed');
        expect(failure.status.rollback?.workflowId).toBe(rollbackChildId(handle.workflowId));
        expectEchoMasked(failure.status.gates);
        // The failing check quotes the echoing body, masked.
        const dbCheck = failure.status.prodVerification.find((g) => g.name === 'db_health');
        expect(dbCheck?.pass).toBe(false);
        expect(dbCheck?.detail).toContain('[REDACTED]');

        const child = h.env.client.workflow.getHandle(rollbackChildId(handle.workflowId));
        const rollbackStatus = await child.query(rollbackStatusQuery);
        expectEchoMasked(rollbackStatus.verification);
        const ledger = await h.ledger();
        const ids = parseLedger(ledger).entries.map((e) => e.releaseId);
        expect(ids).toContain(failure.status.releaseId);
        expect(ids).toContain(rollbackStatus.releaseId);
        expectNoLeak([
          ['promotion history', historyText(await handle.fetchHistory())],
          ['rollback history', historyText(await child.fetchHistory())],
          ['promotion status', JSON.stringify(await handle.query(statusQuery))],
          ['rollback status', JSON.stringify(rollbackStatus)],
          ['failure message', failure.message],
          ['failure details', JSON.stringify(failure.status)],
          ['ledger', ledger],
        ]);
      } finally {
        h.production.configure({ dbDown: false });
      }
    },
  );
});
