// Bad input at scale (issue 18): generated malformed promotion requests, approve/reject signals and
// decide updates, sent through the real client to real workflows on the shared dev server. Each
// must end as a typed failure, an ignored decision or a refused update that names exactly the
// field the generator broke (worked out here from what it broke, never read back from the
// output), with no ledger entry or reservation, no move of the release branch (its tip and the
// bare repo's reflog) and a worker that still answers; at the end the same worker still promotes.
// Every generator has a fixed seed (FAULT_INPUT_SEED overrides it), printed in each check's name.
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowHandle, WorkflowUpdateFailedError } from '@temporalio/client';
import fc from 'fast-check';
import { readFile } from 'node:fs/promises';
import type { DecideResult, PromotionStatus } from '../../src/domain';
import { fieldText, parseLedger } from '../../src/ledger/format';
import { promotionWorkflow } from '../../src/workflows';
import { decideUpdate, rejectSignal, statusQuery } from '../../src/workflows/messages';
import { createHarness, failureOf, Harness, historyText, releaseIds, uniqueId, waitFor } from '../helpers';
import { FaultRun, injected } from './report';

const SEED = Number(process.env.FAULT_INPUT_SEED ?? 20_261_118);
/** Workflows started at once: enough to overlap on the worker, few enough for a shared 2-core machine. */
const BATCH = 15;
const RUNS = 20;

let h: Harness;
/** A real commit on main: every request is right about it unless the generator broke commitSha. */
let sha: string;
let baseline: { tip: string | null; reflog: string[] };

beforeAll(async () => {
  h = await createHarness();
  sha = await h.repo.commit('feature: the commit bad input is about');
  baseline = { tip: await h.repo.tip('release'), reflog: await h.repo.reflog('release') };
});
afterAll(async () => {
  await h?.close();
});

// ---- what the generators produce ------------------------------------------------------------

type RequestFailure = 'InvalidPromotionRequest' | 'ChangeClassForbidden';

interface BadRequest {
  /** What the generator broke, in words. */
  broke: string;
  input: unknown;
  type: RequestFailure;
  /** The fields the failure must name (dotted paths); null: the input is no object at all. */
  fields: string[] | null;
}

/** The request for `sha` with `overrides`, naming `fields` as the ones broken. */
function breaking(
  good: Record<string, unknown>,
  broke: string,
  overrides: Record<string, unknown>,
  fields: string[],
  type: RequestFailure = 'InvalidPromotionRequest',
): BadRequest {
  return { broke, input: { ...good, ...overrides }, type, fields };
}

const TOP_LEVEL: Record<string, Kind> = {
  commitSha: 'string',
  changeClass: 'string',
  operator: 'string',
  environment: 'string',
  repo: 'string',
  fromBranch: 'string',
  toBranch: 'string',
  stagingBase: 'string',
  productionBase: 'string',
  releaseId: 'string',
  notes: 'string',
  rollbackPlan: 'string',
  evidenceRefs: 'string',
  expectBudgetBlock: 'boolean',
  acceptDrift: 'boolean',
  allowDowngrade: 'boolean',
  optionalGates: 'array',
  approval: 'object',
  deployWait: 'object',
};
const APPROVAL_KEYS = ['required', 'approvers', 'minApprovals', 'timeout'];
const DEPLOY_WAIT_KEYS = ['path', 'field', 'timeout'];
/** Settings SPEC §3 names for later sections: not used as "unknown", whichever way they go. */
const SPEC_LATER = ['stagingDeployWait', 'soak', 'soakInterval', 'breakGlass', 'dryRun'];
const GOOD_DEPLOY_WAIT = { path: '/health', field: 'version', timeout: '30s' };

type Kind = 'string' | 'number' | 'boolean' | 'null' | 'array' | 'object' | 'undefined';
function kindOf(value: unknown): Kind {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value as Kind;
}

/** Any JSON value a careless caller might put in a field. */
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  fc.string({ maxLength: 12 }),
  fc.constantFrom('', 'true', '1', 'A'),
  fc.array(fc.string({ maxLength: 6 }), { maxLength: 3 }),
  fc.record({ value: fc.string({ maxLength: 6 }) }),
);

/** A key that no schema level knows: typos of real settings and generated names. */
function unknownKey(known: string[]): fc.Arbitrary<string> {
  return fc
    .oneof(
      fc.constantFrom(
        'commitsha',
        'commit_sha',
        'sha',
        'changeclass',
        'class',
        'operatorName',
        'env',
        'stagingURL',
        'productionUrl',
        'approvers',
        'minApprovals',
        'required',
        'timeout',
        'force',
        'skipGates',
        'continued',
        'constructor',
        'path',
        'reason',
        'comment',
        'decision',
      ),
      fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,24}$/),
    )
    .filter((key) => !known.includes(key) && !SPEC_LATER.includes(key) && key !== '__proto__');
}

const HEX = '0123456789abcdef';
const hex = (min: number, max: number) =>
  fc.string({ unit: fc.constantFrom(...HEX.split('')), minLength: min, maxLength: max });

// One arbitrary per row, each a function of the good request for `sha`.

function wrongTypes(good: Record<string, unknown>): fc.Arbitrary<BadRequest> {
  return fc
    .constantFrom(...Object.keys(TOP_LEVEL))
    .chain((field) =>
      anyValue
        .filter((value) => kindOf(value) !== TOP_LEVEL[field])
        .map((value) => breaking(good, `${field} as ${kindOf(value)}`, { [field]: value }, [field])),
    );
}

function missingRequired(good: Record<string, unknown>): fc.Arbitrary<BadRequest> {
  return fc
    .record({
      missing: fc.subarray(['commitSha', 'changeClass', 'operator'], { minLength: 1 }),
      // undefined is dropped by JSON on the way: the same as leaving the key out.
      asUndefined: fc.boolean(),
      // Optional settings left out beside them must not be named.
      alsoLeftOut: fc.subarray(['repo', 'stagingBase', 'productionBase', 'environment']),
    })
    .map(({ missing, asUndefined, alsoLeftOut }) => {
      const input: Record<string, unknown> = { ...good };
      for (const key of [...missing, ...alsoLeftOut]) {
        if (asUndefined) input[key] = undefined;
        else delete input[key];
      }
      return {
        broke: `${missing.join(', ')} ${asUndefined ? 'undefined' : 'left out'}`,
        input,
        type: 'InvalidPromotionRequest' as const,
        fields: missing,
      };
    });
}

function unknownFields(good: Record<string, unknown>): fc.Arbitrary<BadRequest> {
  const known = { top: Object.keys(TOP_LEVEL), approval: APPROVAL_KEYS, deployWait: DEPLOY_WAIT_KEYS };
  return fc
    .constantFrom('top', 'approval', 'deployWait')
    .chain((where) =>
      fc.record({
        where: fc.constant(where),
        keys: fc.uniqueArray(unknownKey(known[where]), { minLength: 1, maxLength: 3 }),
        value: fc.jsonValue({ maxDepth: 2 }),
      }),
    )
    .map(({ where, keys, value }) => {
      const extra = Object.fromEntries(keys.map((key) => [key, value]));
      if (where === 'top') return breaking(good, `unknown ${keys.join(', ')}`, extra, keys);
      const nested = where === 'approval' ? { required: true } : GOOD_DEPLOY_WAIT;
      return breaking(
        good,
        `unknown ${where}.${keys.join(', ')}`,
        { [where]: { ...nested, ...extra } },
        keys.map((key) => `${where}.${key}`),
      );
    });
}

function badShas(good: Record<string, unknown>): fc.Arbitrary<BadRequest> {
  const notHex = fc.constantFrom(...'gzGZ-_ .:/\n\tä٣０'.split(''));
  const shape = fc.oneof(
    hex(0, 6),
    hex(41, 80),
    fc.tuple(hex(7, 40), notHex, fc.nat()).map(([h7, bad, at]) => {
      const i = at % h7.length;
      return `${h7.slice(0, i)}${bad}${h7.slice(i + 1)}`;
    }),
    fc.constantFrom('HEAD', 'main', 'release', 'HEAD~1', 'refs/heads/main', 'undefined', 'null'),
    hex(7, 38).map((s) => `0x${s}`),
    hex(7, 40).chain((s) => fc.constantFrom(` ${s}`, `${s} `, `${s}\n`, `-${s}`, `${s}^{commit}`, `${s}..HEAD`)),
  );
  return shape.map((commitSha) =>
    breaking(good, `commitSha ${JSON.stringify(commitSha)}`, { commitSha }, ['commitSha']),
  );
}

function changeClasses(good: Record<string, unknown>): fc.Arbitrary<BadRequest> {
  const forbidden = fc.boolean().map((alsoBadSha) =>
    // Class C is a policy, checked before the schema: a typo elsewhere does not hide it.
    breaking(
      good,
      `changeClass "C"${alsoBadSha ? ' and a bad commitSha' : ''}`,
      { changeClass: 'C', ...(alsoBadSha ? { commitSha: 'not-a-sha' } : {}) },
      ['changeClass'],
      'ChangeClassForbidden',
    ),
  );
  const other = fc
    .oneof(
      fc.constantFrom('c', 'a', 'b', 'AB', 'A ', ' A', 'B\n', '', ' C', 'C ', 'CC', 'class A', 'D', 'Α', 'А', 'Ｂ'),
      fc.string({ maxLength: 8 }),
    )
    .filter((s) => !['A', 'B', 'C'].includes(s))
    .map((changeClass) =>
      breaking(good, `changeClass ${JSON.stringify(changeClass)}`, { changeClass }, ['changeClass']),
    );
  return fc.oneof({ arbitrary: forbidden, weight: 1 }, { arbitrary: other, weight: 2 });
}

function oversized(good: Record<string, unknown>): fc.Arbitrary<BadRequest> {
  const over = (max: number, limit = 20_000) => fc.integer({ min: max + 1, max: limit });
  const text = (max: number) =>
    over(max).chain((n) =>
      fc.string({ minLength: 1, maxLength: 8 }).map((s) => s.repeat(n).slice(0, n).padEnd(n, 'x')),
    );
  const cases: Array<fc.Arbitrary<BadRequest>> = [
    over(64).map((n) => breaking(good, `operator of ${n}`, { operator: 'a'.repeat(n) }, ['operator'])),
    fc
      .tuple(fc.constantFrom('notes', 'rollbackPlan', 'evidenceRefs'), text(500))
      .map(([field, s]) => breaking(good, `${field} of ${s.length}`, { [field]: s }, [field])),
    over(40, 2_000).map((n) => breaking(good, `environment of ${n}`, { environment: 'e'.repeat(n) }, ['environment'])),
    fc
      .tuple(fc.constantFrom('fromBranch', 'toBranch'), over(200, 5_000))
      .map(([field, n]) => breaking(good, `${field} of ${n}`, { [field]: 'b'.repeat(n) }, [field])),
    over(500, 5_000).map((n) => breaking(good, `repo of ${n}`, { repo: `/${'r'.repeat(n - 1)}` }, ['repo'])),
    fc.tuple(fc.constantFrom('stagingBase', 'productionBase'), over(500, 5_000)).map(([field, n]) => {
      const head = 'https://staging.example.com/';
      return breaking(good, `${field} of ${n}`, { [field]: head + 'p'.repeat(n - head.length) }, [field]);
    }),
    hex(41, 5_000).map((s) => breaking(good, `commitSha of ${s.length} hex`, { commitSha: s }, ['commitSha'])),
    over(6, 1_000).map((n) =>
      breaking(good, `releaseId with ${n} digits`, { releaseId: `20261124-2231-rc${'1'.repeat(n)}` }, ['releaseId']),
    ),
    over(64, 2_000).map((n) =>
      breaking(good, `approver of ${n}`, { approval: { approvers: ['bob', 'c'.repeat(n)] } }, ['approval.approvers.1']),
    ),
    over(100, 300).map((n) =>
      breaking(
        good,
        `${n} approvers`,
        { approval: { approvers: Array.from({ length: n }, (_, i) => `approver${i}`) } },
        ['approval.approvers'],
      ),
    ),
    over(64, 1_000).map((n) =>
      breaking(good, `gate name of ${n}`, { optionalGates: ['g'.repeat(n)] }, ['optionalGates.0']),
    ),
    over(20, 200).map((n) =>
      breaking(good, `${n} optional gates`, { optionalGates: Array.from({ length: n }, (_, i) => `gate_${i}`) }, [
        'optionalGates',
      ]),
    ),
    over(100, 2_000).map((n) =>
      breaking(good, `deployWait.field of ${n}`, { deployWait: { ...GOOD_DEPLOY_WAIT, field: 'f'.repeat(n) } }, [
        'deployWait.field',
      ]),
    ),
  ];
  return fc.oneof(...cases);
}

function notAnObject(input: unknown): BadRequest {
  return {
    broke: `the whole request is ${input === undefined ? 'missing' : `a ${kindOf(input)}`}`,
    input,
    type: 'InvalidPromotionRequest',
    fields: null,
  };
}

function notObjects(good: Record<string, unknown>): fc.Arbitrary<BadRequest> {
  return fc
    .oneof(
      fc.constantFrom<unknown>(true, false, 0, -1, '', '{}'),
      fc.integer(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.string({ maxLength: 30 }),
      fc.constantFrom<unknown>([good, good], [null]),
      fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 4 }),
    )
    .map(notAnObject);
}

/** Drawn every time beside the generated ones: the good request itself, wrapped or spelt as text, must not pass. */
function notObjectsAlways(good: Record<string, unknown>): BadRequest[] {
  return [null, undefined, [], [good], JSON.stringify(good)].map(notAnObject);
}

function badBaseUrls(good: Record<string, unknown>): fc.Arbitrary<BadRequest> {
  const host = fc.constantFrom('staging.example.com', 'prod.example.com', '127.0.0.1:8080', 'localhost:3000');
  const url = fc.oneof(
    fc
      .tuple(fc.constantFrom('ftp', 'file', 'ws', 'javascript', 'gopher', 'data', 'ssh'), host)
      .map(([scheme, at]) => `${scheme}://${at}/`),
    fc
      .tuple(fc.stringMatching(/^[a-z]{1,8}$/), fc.stringMatching(/^[A-Za-z0-9]{1,12}$/), host)
      .map(([user, pass, at]) => `https://${user}:${pass}@${at}`),
    host.map((at) => `https://${at}/a@b`),
    fc.tuple(host, fc.stringMatching(/^[a-z]{1,6}=[a-z0-9]{0,6}$/)).map(([at, q]) => `https://${at}/?${q}`),
    fc.tuple(host, fc.stringMatching(/^[a-z]{0,6}$/)).map(([at, f]) => `https://${at}/#${f}`),
    fc
      .tuple(host, fc.constantFrom(' ', '\t', '\n', '\r', '\u0000', '\u007f', '\u2028'), fc.nat())
      .map(([at, ws, i]) => {
        const u = `https://${at}/health`;
        const cut = 1 + (i % (u.length - 1));
        return `${u.slice(0, cut)}${ws}${u.slice(cut)}`;
      }),
    fc.constantFrom(
      'http://127.0.0.1:1\\@evil.example.com',
      'https://staging.example.com\\path',
      'https://st%61ging.example.com',
      'https://stäging.example.com',
      'http://2130706433/',
      'http://127.1/',
      'http://0x7f.0.0.1/',
      'http://staging.example.com:/',
      '/relative/path',
      'staging.example.com',
      '',
      'http://',
      '//staging.example.com/path',
      'http:/staging.example.com',
      'mailto:ops@example.com',
    ),
  );
  return fc
    .tuple(fc.constantFrom('stagingBase', 'productionBase'), url)
    .map(([field, value]) => breaking(good, `${field} ${JSON.stringify(value)}`, { [field]: value }, [field]));
}

function badRepos(good: Record<string, unknown>): fc.Arbitrary<BadRequest> {
  const word = fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/);
  const repo = fc.oneof(
    fc
      .tuple(fc.constantFrom('ext', 'fd', 'https', 'file', 'transport'), fc.stringMatching(/^[a-z /%-]{1,20}$/))
      .map(([helper, rest]) => `${helper}::${rest}`),
    fc.stringMatching(/^-[a-z=-]{1,20}$/),
    word.map((w) => `/srv/git/-${w}.git`),
    word.map((w) => `/srv\\git\\${w}.git`),
    word.map((w) => `https://git.example.com/acme/${w}.git?access_token=abc`),
    word.map((w) => `/srv/git/${w}.git#main`),
    word.map((w) => `/srv/git/%2e%2e/${w}.git`),
    word.chain((w) => fc.constantFrom(`${w}.git`, `./${w}.git`, `../${w}`, `repos/${w}.git`)),
    word.chain((w) => fc.constantFrom(`git://git.example.com/${w}.git`, `http://git.example.com/${w}.git`)),
    fc
      .tuple(word, word)
      .chain(([u, p]) =>
        fc.constantFrom(
          `https://${u}@github.com/acme/chat.git`,
          `https://${u}:${p}@github.com/acme/chat.git`,
          `ssh://${u}:${p}@git.example.com/srv/chat.git`,
        ),
      ),
    word.chain((w) => fc.constantFrom(`file://host/srv/${w}.git`, `ftp://host/${w}.git`, `s3://bucket/${w}`)),
    word.chain((w) =>
      fc.constantFrom(`/srv/git/${w} .git`, `/srv/git/${w}\n`, `https://git.example.com/a/../${w}.git`, `host:-${w}`),
    ),
    fc.constantFrom('', 'host:', 'https:/host/x.git', 'ssh://-oProxyCommand=x/srv', 'https://git.example.com'),
  );
  return repo.map((value) => breaking(good, `repo ${JSON.stringify(value)}`, { repo: value }, ['repo']));
}

function badNested(good: Record<string, unknown>): fc.Arbitrary<BadRequest> {
  const field = (path: string, overrides: fc.Arbitrary<Record<string, unknown>>) =>
    overrides.map((o) => breaking(good, `${path} ${JSON.stringify(o).slice(0, 80)}`, o, [path]));
  return fc.oneof(
    field(
      'approval.timeout',
      fc
        .constantFrom<unknown>('1w', '0s', '90', 's', '1.5h', '366d', '8761h', '-1h', '24 h', '', 90, null)
        .map((timeout) => ({ approval: { timeout } })),
    ),
    field(
      'approval.minApprovals',
      fc.constantFrom<unknown>(0, 21, 1.5, -1, '1', null).map((minApprovals) => ({ approval: { minApprovals } })),
    ),
    field(
      'approval.required',
      fc.constantFrom<unknown>('yes', 1, 'true', null).map((required) => ({ approval: { required } })),
    ),
    field(
      'approval.approvers',
      fc.constantFrom<unknown>('bob', {}, null).map((approvers) => ({ approval: { approvers } })),
    ),
    field(
      'approval.approvers.0',
      fc.constantFrom<unknown>('', 'bob smith', 1, 'bøb').map((a) => ({ approval: { approvers: [a] } })),
    ),
    field(
      'deployWait.path',
      fc.constantFrom('health', '', '/health?x=1', 'https://x/health').map((path) => ({
        deployWait: { ...GOOD_DEPLOY_WAIT, path },
      })),
    ),
    field(
      'deployWait.timeout',
      fc
        .constantFrom<unknown>('10 minutes', 600, '0m')
        .map((timeout) => ({ deployWait: { ...GOOD_DEPLOY_WAIT, timeout } })),
    ),
    fc.subarray(DEPLOY_WAIT_KEYS, { minLength: 1 }).map((gone) =>
      breaking(
        good,
        `deployWait without ${gone.join(', ')}`,
        { deployWait: Object.fromEntries(Object.entries(GOOD_DEPLOY_WAIT).filter(([k]) => !gone.includes(k))) },
        gone.map((k) => `deployWait.${k}`),
      ),
    ),
    fc
      .tuple(
        fc.constantFrom('fromBranch', 'toBranch'),
        fc.constantFrom('main..x', '-x', '.hidden', 'a.lock', 'a//b', 'a/', 'a.', 'a@{1}', 'feature/.x', ''),
      )
      .map(([f, name]) => breaking(good, `${f} ${JSON.stringify(name)}`, { [f]: name }, [f])),
    fc
      .constantFrom('main', 'release', 'hotfix/1')
      .map((b) => breaking(good, `fromBranch = toBranch = ${b}`, { fromBranch: b, toBranch: b }, ['toBranch'])),
    field(
      'releaseId',
      fc
        .constantFrom('tomorrow', '20261124-2231-rc0', '2026-11-24-rc1', '20261124-2231-rb1', '20261124-2231-rc1 ', '')
        .map((releaseId) => ({ releaseId })),
    ),
    field(
      'environment',
      fc.constantFrom('Prod', 'prod uction', '', 'prod_1', 'staging/eu').map((environment) => ({ environment })),
    ),
    field(
      'optionalGates.0',
      fc.constantFrom('Breaker-Drill', '', 'breaker drill').map((g) => ({ optionalGates: [g] })),
    ),
  );
}

// ---- approval messages ------------------------------------------------------------------------

interface BadDecision {
  broke: string;
  kind: 'approve' | 'reject' | 'decide';
  payload: unknown;
  /** Fields the ignored decision's why, or the refusal, must name; "(request)" for a payload that is no object. */
  fields: string[];
  /** The approver the ignored decision shows: the payload's (cut to 64) when a string, else "(unknown)". */
  approver: string;
}

/** A field break that leaves the field out. */
const DROP = Symbol('left out');

/** Approvers who could decide: a well-formed decision from any of them would count. */
const APPROVERS = fc.constantFrom('bob', 'carol', 'dave', 'ops.lead@acme');

/**
 * A payload of `kind` with exactly one thing broken. `good` holds the well-formed fields; each
 * case replaces or drops one of them, adds an unknown key, or is no object at all.
 */
function badPayload(
  kind: BadDecision['kind'],
  good: fc.Arbitrary<Record<string, unknown>>,
  known: string[],
  fieldBreaks: Array<fc.Arbitrary<[string, unknown | typeof DROP]>>,
): fc.Arbitrary<BadDecision> {
  const approverOf = (p: Record<string, unknown>) =>
    typeof p.approver === 'string' ? p.approver.slice(0, 64) : '(unknown)';
  const notObject = fc
    .oneof(
      fc.constantFrom<unknown>(null, undefined, 0, true, '', 'approve', [], [{ approver: 'bob' }]),
      fc.integer(),
      fc.string({ maxLength: 20 }),
    )
    .map((payload) => ({
      broke: `payload is ${payload === undefined ? 'missing' : `a ${kindOf(payload)}`}`,
      kind,
      payload,
      fields: ['(request)'],
      approver: '(unknown)',
    }));
  const fieldBroken = fc.tuple(good, fc.oneof(...fieldBreaks)).map(([p, [f, value]]) => {
    const payload: Record<string, unknown> = { ...p };
    if (value === DROP) delete payload[f];
    else payload[f] = value;
    return {
      broke: `${f} ${value === DROP ? 'left out' : JSON.stringify(value)?.slice(0, 60)}`,
      kind,
      payload,
      fields: [f],
      approver: approverOf(payload),
    };
  });
  const extraKey = fc.tuple(good, unknownKey(known), fc.jsonValue({ maxDepth: 1 })).map(([p, key, value]) => {
    const payload = { ...p, [key]: value };
    return { broke: `unknown ${key}`, kind, payload, fields: [key], approver: approverOf(payload) };
  });
  return fc.oneof(
    { arbitrary: notObject, weight: 1 },
    { arbitrary: fieldBroken, weight: 4 },
    { arbitrary: extraKey, weight: 2 },
  );
}

const wrongTypeFor = (kind: Kind) => anyValue.filter((v) => kindOf(v) !== kind);
const badIdentity = fc.oneof(
  fc.constantFrom<unknown>('', 'bob smith', 'bob\n', 'bøb', '<script>', 'bob;rm', 'carol/ops'),
  fc.integer({ min: 65, max: 2_000 }).map((n) => 'a'.repeat(n)),
  wrongTypeFor('string'),
);
const badSha = fc.oneof(
  fc.constantFrom<unknown>('HEAD', 'xyz1234', '', 'abc', `${'a'.repeat(41)}`, 0x1234567),
  wrongTypeFor('string'),
);
const longText = fc.integer({ min: 501, max: 5_000 }).map((n) => 'z'.repeat(n));

function badApproveSignals(commit: string): fc.Arbitrary<BadDecision> {
  const good = fc.record(
    { approver: APPROVERS, comment: fc.constantFrom('ok', 'ship it'), commitSha: fc.constant(commit.slice(0, 7)) },
    { requiredKeys: ['approver'] },
  );
  return badPayload(
    'approve',
    good,
    ['approver', 'comment', 'commitSha'],
    [
      fc.constant<[string, typeof DROP]>(['approver', DROP]),
      badIdentity.map((v): [string, unknown] => ['approver', v]),
      fc.oneof(longText, wrongTypeFor('string')).map((v): [string, unknown] => ['comment', v]),
      badSha.map((v): [string, unknown] => ['commitSha', v]),
    ],
  );
}

function badRejectSignals(commit: string): fc.Arbitrary<BadDecision> {
  const good = fc.record(
    { approver: APPROVERS, reason: fc.constantFrom('not now', 'freeze week'), commitSha: fc.constant(commit) },
    { requiredKeys: ['approver', 'reason'] },
  );
  return badPayload(
    'reject',
    good,
    ['approver', 'reason', 'commitSha'],
    [
      fc.constant<[string, typeof DROP]>(['approver', DROP]),
      badIdentity.map((v): [string, unknown] => ['approver', v]),
      fc.constant<[string, typeof DROP]>(['reason', DROP]),
      fc.oneof(fc.constant(''), longText, wrongTypeFor('string')).map((v): [string, unknown] => ['reason', v]),
      badSha.map((v): [string, unknown] => ['commitSha', v]),
    ],
  );
}

function badDecideUpdates(commit: string): fc.Arbitrary<BadDecision> {
  const good = fc
    .record({ decision: fc.constantFrom('approve', 'reject'), approver: APPROVERS, withSha: fc.boolean() })
    .map(({ decision, approver, withSha }) => ({
      decision,
      approver,
      ...(decision === 'reject' ? { reason: 'not now' } : {}),
      ...(withSha ? { commitSha: commit.slice(0, 12) } : {}),
    }));
  const fieldBroken = badPayload(
    'decide',
    good,
    ['decision', 'approver', 'comment', 'reason', 'commitSha'],
    [
      fc.constant<[string, typeof DROP]>(['decision', DROP]),
      fc
        .oneof(
          fc.constantFrom<unknown>('Approve', 'approved', 'yes', '', ' approve', 'reject ', 'withdraw'),
          wrongTypeFor('string'),
        )
        .map((v): [string, unknown] => ['decision', v]),
      fc.constant<[string, typeof DROP]>(['approver', DROP]),
      badIdentity.map((v): [string, unknown] => ['approver', v]),
      fc.oneof(longText, wrongTypeFor('string')).map((v): [string, unknown] => ['comment', v]),
      fc.oneof(fc.constant(''), longText, wrongTypeFor('string')).map((v): [string, unknown] => ['reason', v]),
      badSha.map((v): [string, unknown] => ['commitSha', v]),
    ],
  );
  // A reject must say why: the schema's one rule across fields.
  const rejectWithoutReason = APPROVERS.map((approver): BadDecision => ({
    broke: 'reject without a reason',
    kind: 'decide',
    payload: { decision: 'reject', approver },
    fields: ['reason'],
    approver,
  }));
  return fc.oneof({ arbitrary: fieldBroken, weight: 6 }, { arbitrary: rejectWithoutReason, weight: 1 });
}

// ---- evidence from outside the workflows --------------------------------------------------------

/** The field paths a failure or ignored decision names: each "; "-separated part that opens with "<path>: ". */
function fieldsNamed(text: string, prefix: string): string[] {
  const body = text.startsWith(prefix) ? text.slice(prefix.length) : `(no "${prefix}" prefix) ${text}`;
  const named = body.split('; ').flatMap((part) => /^([A-Za-z0-9_.()-]+): /.exec(part)?.[1] ?? []);
  return [...new Set(named)].sort();
}

function preview(value: unknown): string {
  const text = value === undefined ? 'undefined' : JSON.stringify(value);
  return text.length > 160 ? `${text.slice(0, 160)}… (${text.length} chars)` : text;
}

interface Evidence {
  ledger: string;
  reservations: string;
  /** Requests the sample services saw: a refused request never reaches staging or production. */
  serviceRequests: number;
}
async function evidence(): Promise<Evidence> {
  return {
    ledger: await h.ledger(),
    reservations: await readFile(`${h.ledgerPath}.reservations`, 'utf8').catch(() => ''),
    serviceRequests: h.staging.requests.length + h.production.requests.length,
  };
}

async function branchUnchanged(run: FaultRun): Promise<void> {
  await run.check('release branch tip and reflog unchanged', async () => {
    expect(await h.repo.tip('release')).toBe(baseline.tip);
    expect(await h.repo.reflog('release')).toEqual(baseline.reflog);
  });
}

function seedNote(seed: number): string {
  return `seed ${seed}; rerun with FAULT_INPUT_SEED=${SEED}`;
}

// ---- promotion requests -------------------------------------------------------------------------

interface RequestOutcome {
  index: number;
  c: BadRequest;
  workflowId: string;
  type?: string;
  message: string;
  status?: PromotionStatus;
  workflowTaskFailures: number;
}

async function send(c: BadRequest, index: number): Promise<RequestOutcome> {
  // Started without the CLI's start metadata: it is built from a parsed request, and this one is not.
  const handle = await h.env.client.workflow.start(promotionWorkflow, {
    taskQueue: h.taskQueue,
    workflowId: uniqueId('bad-input'),
    args: [c.input],
    // A workflow that never ends (a task failing over and over) fails its case instead of the file's timeout.
    workflowExecutionTimeout: '1m',
  });
  const ended = await failureOf(handle).catch((err: Error) => ({
    type: `(no typed failure: ${err.message})`,
    message: '',
    status: undefined,
  }));
  const history = await handle.fetchHistory();
  const workflowTaskFailures = (history.events ?? []).filter((e) => e.workflowTaskFailedEventAttributes).length;
  return { index, c, workflowId: handle.workflowId, ...ended, workflowTaskFailures };
}

function expectedFields(c: BadRequest): string[] | string {
  return c.fields ? [...c.fields].sort() : 'the request must be one JSON object';
}
function namedBy(o: RequestOutcome): string[] | string {
  if (o.c.fields === null)
    return o.message.startsWith('the promotion request must be one JSON object')
      ? 'the request must be one JSON object'
      : o.message;
  return fieldsNamed(o.message, o.type === 'ChangeClassForbidden' ? '' : 'invalid promotion request: ');
}

/** Sends every case (batches of BATCH at once), then checks each ended as its typed failure and changed nothing. */
async function requestRow(run: FaultRun, seed: number, cases: BadRequest[]): Promise<void> {
  run.ran(cases.length);
  const before = await evidence();
  const outcomes: RequestOutcome[] = [];
  for (let i = 0; i < cases.length; i += BATCH)
    outcomes.push(...(await Promise.all(cases.slice(i, i + BATCH).map((c, j) => send(c, i + j)))));
  const show = (o: RequestOutcome) => ({
    case: o.index,
    broke: o.c.broke,
    input: preview(o.c.input),
    expected: { type: o.c.type, fields: expectedFields(o.c) },
    got: { type: o.type, stage: o.status?.stage, message: o.message.slice(0, 300) },
  });
  const note = seedNote(seed);

  await run.check(`each ends as its typed failure (${note})`, () =>
    expect(outcomes.filter((o) => o.type !== o.c.type).map(show)).toEqual([]),
  );
  await run.check(`each failure names exactly the fields broken (${note})`, () =>
    expect(
      outcomes.filter((o) => JSON.stringify(namedBy(o)) !== JSON.stringify(expectedFields(o.c))).map(show),
    ).toEqual([]),
  );
  await run.check(`each ends in stage invalid with no release id (${note})`, () =>
    expect(outcomes.filter((o) => o.status?.stage !== 'invalid' || o.status.releaseId !== undefined).map(show)).toEqual(
      [],
    ),
  );
  await run.check('the worker ran every workflow task it was given (none failed)', () =>
    expect(outcomes.filter((o) => o.workflowTaskFailures > 0).map(show)).toEqual([]),
  );
  const after = await evidence();
  await run.check('no ledger entry, no reservation, no request to staging or production', () => {
    expect(after.serviceRequests).toBe(before.serviceRequests);
    expect(releaseIds(after.ledger)).toEqual(releaseIds(before.ledger));
    expect(after.ledger).toBe(before.ledger);
    expect(after.reservations).toBe(before.reservations);
    const seen = outcomes.filter((o) => `${after.ledger}\n${after.reservations}`.includes(o.workflowId));
    expect(seen.map(show)).toEqual([]);
  });
  await branchUnchanged(run);
  // The worker is still there after the burst: a fresh request still gets its answer.
  const probe = await send(breaking(h.request(sha), 'probe', { commitSha: 'nope' }, ['commitSha']), -1);
  await run.check('the worker still answers after the burst', () =>
    expect({ type: probe.type, named: namedBy(probe) }).toEqual({
      type: 'InvalidPromotionRequest',
      named: ['commitSha'],
    }),
  );
}

function requestTest(
  fault: string,
  offset: number,
  arbitrary: (good: Record<string, unknown>) => fc.Arbitrary<BadRequest>,
  always: (good: Record<string, unknown>) => BadRequest[] = () => [],
) {
  test(`promotionWorkflow input: ${fault}`, () =>
    injected('input', `promotionWorkflow input: ${fault}`, async (run) => {
      const seed = SEED + offset;
      const fixed = always(h.request(sha));
      const drawn = fc.sample(arbitrary(h.request(sha)), { seed, numRuns: RUNS - fixed.length });
      await requestRow(run, seed, [...fixed, ...drawn]);
    }));
}

requestTest('a field of the wrong type', 1, wrongTypes);
requestTest('required fields missing', 2, missingRequired);
requestTest('unknown extra fields', 3, unknownFields);
requestTest('commitSha not a commit sha', 4, badShas);
requestTest('changeClass C and other strings', 5, changeClasses);
requestTest('oversized strings and lists', 6, oversized);
requestTest('not an object (null, array, number, string)', 7, notObjects, notObjectsAlways);
requestTest('bad stagingBase/productionBase URL', 8, badBaseUrls);
requestTest('bad repo string', 9, badRepos);
requestTest('bad nested settings (approval, deployWait, branches, releaseId)', 10, badNested);

// ---- approval messages to a class B promotion awaiting approval ----------------------------------

async function awaitingApproval(): Promise<{
  handle: WorkflowHandle<typeof promotionWorkflow>;
  status: PromotionStatus;
}> {
  const handle = await h.start(h.request(sha, { changeClass: 'B' }), uniqueId('bad-input-approval'));
  const status = await waitFor(
    `${handle.workflowId} to await approval`,
    async () => {
      const s = await handle.query(statusQuery).catch(() => undefined);
      return s?.stage === 'awaiting_approval' && s;
    },
    120_000,
  );
  return { handle, status };
}

/** What a decide update came back with: accepted (it should not be), or the failure it was refused with. */
type UpdateAnswer =
  | { accepted: DecideResult }
  | { type: string | undefined; nonRetryable: boolean | null | undefined; message: string }
  | { notRefused: unknown };

function refusalOf(err: unknown): UpdateAnswer {
  const cause = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
  return cause instanceof ApplicationFailure
    ? { type: cause.type ?? undefined, nonRetryable: cause.nonRetryable, message: cause.message }
    : { notRefused: err instanceof Error ? err.message : err };
}

function showDecision(c: BadDecision, i: number, got: unknown) {
  return { case: i, kind: c.kind, broke: c.broke, payload: preview(c.payload), expected: c.fields, got };
}

/** After the burst and the proper ending: exactly this promotion's one `fail` entry was added, nothing moved. */
async function endedWithItsOwnEntry(
  run: FaultRun,
  before: Evidence,
  handle: WorkflowHandle,
  releaseId: string | undefined,
  rejectedBy: string,
): Promise<void> {
  const ended = await failureOf(handle);
  await run.check('a well-formed reject after the burst still ends it as rejected', () => {
    expect(ended.type).toBe('ApprovalRejected');
    expect(ended.message).toContain(`rejected by ${rejectedBy}`);
    expect(ended.status.stage).toBe('rejected');
    expect(ended.status.approval.decisions.map((d) => d.approver)).toEqual([rejectedBy]);
  });
  const after = await evidence();
  await run.check('the ledger gained exactly its own fail entry', () => {
    expect(releaseId).toEqual(expect.stringMatching(/-rc\d+$/));
    expect(releaseIds(after.ledger)).toEqual([...releaseIds(before.ledger), releaseId]);
    const entry = parseLedger(after.ledger).entries.find((e) => e.releaseId === releaseId);
    expect(entry && fieldText(entry, 'result')).toBe('fail');
    expect(after.ledger.startsWith(before.ledger)).toBe(true);
  });
  await branchUnchanged(run);
}

test('approve/reject signals: malformed payloads while awaiting approval', () =>
  injected('input', 'approve/reject signals: malformed payloads while awaiting approval', async (run) => {
    const seed = SEED + 11;
    const cases = fc.sample(fc.oneof(badApproveSignals(sha), badRejectSignals(sha)), { seed, numRuns: 60 });
    run.ran(cases.length);
    const { handle, status: awaiting } = await awaitingApproval();
    const before = await evidence();
    const wrong: unknown[] = [];
    const note = seedNote(seed);
    // The status keeps the latest IGNORED_KEPT (20) ignored decisions: check each chunk before the next.
    for (let i = 0; i < cases.length; i += 20) {
      const chunk = cases.slice(i, i + 20);
      // One after the other, so they land (and are kept) in this order.
      for (const c of chunk) {
        if (c.payload === undefined) await handle.signal(c.kind);
        else await handle.signal<[unknown]>(c.kind, c.payload);
      }
      const sent = i + chunk.length;
      const s = await waitFor(`${sent} ignored decisions`, async () => {
        const q = await handle.query(statusQuery);
        return (q.approval.ignoredCount ?? 0) >= sent && q;
      });
      const kept = s.approval.ignored.slice(-chunk.length);
      chunk.forEach((c, k) => {
        const got = kept[k];
        const prefix = `malformed ${c.kind} signal: `;
        const named = got ? fieldsNamed(got.why, prefix) : [];
        if (
          !got ||
          got.decision !== c.kind ||
          got.approver !== c.approver ||
          JSON.stringify(named) !== JSON.stringify([...c.fields].sort())
        )
          wrong.push(showDecision(c, i + k, got && { decision: got.decision, approver: got.approver, why: got.why }));
      });
    }
    await run.check(`each malformed signal is an ignored decision naming the field (${note})`, () =>
      expect(wrong).toEqual([]),
    );
    const after = await handle.query(statusQuery);
    await run.check('still awaiting approval with no counted decision', () => {
      expect(after.stage).toBe('awaiting_approval');
      expect(after.approval.state).toBe('pending');
      expect(after.approval.decisions).toEqual([]);
      expect(after.approval.ignoredCount).toBe(cases.length);
      expect(after.releaseId).toBe(awaiting.releaseId);
    });
    await run.check('no ledger entry while it waits', async () => expect(await evidence()).toEqual(before));
    await branchUnchanged(run);
    await handle.signal(rejectSignal, { approver: 'carol', reason: 'bad input burst is over' });
    await endedWithItsOwnEntry(run, before, handle, awaiting.releaseId, 'carol');
  }));

test('decide update: malformed payloads while awaiting approval', () =>
  injected('input', 'decide update: malformed payloads while awaiting approval', async (run) => {
    const seed = SEED + 12;
    const marker = uniqueId('bad-input-marker');
    // A marker in every object payload (as a comment, where the comment is not what broke) shows
    // whether a refused update reached history.
    const cases = fc.sample(badDecideUpdates(sha), { seed, numRuns: 40 }).map((c, i) => {
      const p = c.payload;
      if (typeof p !== 'object' || p === null || Array.isArray(p) || c.fields.includes('comment')) return c;
      return { ...c, payload: { comment: `${marker}-${i}`, ...p } };
    });
    run.ran(cases.length);
    const { handle, status: awaiting } = await awaitingApproval();
    const before = await evidence();
    const note = seedNote(seed);
    const answers: Array<{ c: BadDecision; i: number; answer: UpdateAnswer }> = [];
    for (let i = 0; i < cases.length; i += 10)
      answers.push(
        ...(await Promise.all(
          cases.slice(i, i + 10).map(async (c, k) => ({
            c,
            i: i + k,
            answer: await handle
              .executeUpdate(decideUpdate, { args: [c.payload as never] })
              .then((accepted): UpdateAnswer => ({ accepted }), refusalOf),
          })),
        )),
      );
    const show = ({ c, i, answer }: (typeof answers)[number]) => showDecision(c, i, answer);
    await run.check(`each is refused as a non-retryable InvalidDecision (${note})`, () =>
      expect(
        answers
          .filter(
            ({ answer }) => !('type' in answer) || answer.type !== 'InvalidDecision' || answer.nonRetryable !== true,
          )
          .map(show),
      ).toEqual([]),
    );
    await run.check(`each refusal names exactly the field broken (${note})`, () =>
      expect(
        answers
          .filter(({ c, answer }) => {
            const named = 'type' in answer ? fieldsNamed(answer.message, 'invalid decision: ') : [];
            return JSON.stringify(named) !== JSON.stringify([...c.fields].sort());
          })
          .map(show),
      ).toEqual([]),
    );
    const after = await handle.query(statusQuery);
    await run.check('still awaiting approval, nothing counted or recorded as ignored', () => {
      expect(after.stage).toBe('awaiting_approval');
      expect(after.approval.state).toBe('pending');
      expect(after.approval.decisions).toEqual([]);
      expect(after.approval.ignored).toEqual([]);
      expect(after.approval.ignoredCount ?? 0).toBe(0);
    });
    const history = await handle.fetchHistory();
    await run.check('a refused update leaves no trace in history', () => {
      const updates = (history.events ?? []).filter(
        (e) =>
          e.workflowExecutionUpdateAdmittedEventAttributes ||
          e.workflowExecutionUpdateAcceptedEventAttributes ||
          e.workflowExecutionUpdateRejectedEventAttributes ||
          e.workflowExecutionUpdateCompletedEventAttributes,
      );
      expect(updates).toEqual([]);
      expect(historyText(history)).not.toContain(marker);
      expect((history.events ?? []).filter((e) => e.workflowTaskFailedEventAttributes)).toEqual([]);
    });
    await run.check('no ledger entry while it waits', async () => expect(await evidence()).toEqual(before));
    await branchUnchanged(run);
    const counted = await handle.executeUpdate(decideUpdate, {
      args: [{ decision: 'reject', approver: 'dave', reason: 'bad input burst is over' }],
    });
    await run.check('a well-formed decide after the burst counts', () => expect(counted.counted).toBe(true));
    await endedWithItsOwnEntry(run, before, handle, awaiting.releaseId, 'dave');
  }));

// ---- and the worker still works ---------------------------------------------------------------------

test('after all of that bad input, the same worker promotes a good request: one pass entry, one push', async () => {
  const before = await evidence();
  const handle = await h.start(h.request(sha), uniqueId('bad-input-good'));
  const status: PromotionStatus = await handle.result();
  expect(status.stage).toBe('promoted');
  const after = await evidence();
  expect(releaseIds(after.ledger)).toEqual([...releaseIds(before.ledger), status.releaseId]);
  const entries = parseLedger(after.ledger).entries;
  expect(entries.filter((e) => fieldText(e, 'result') === 'pass').map((e) => e.releaseId)).toEqual([status.releaseId]);
  expect(await h.repo.tip('release')).toBe(sha);
  expect(await h.repo.reflog('release')).toEqual([expect.stringMatching(new RegExp(`^${sha} `)), ...baseline.reflog]);
});
