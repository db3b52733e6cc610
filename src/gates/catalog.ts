// The gate catalog as data: what each gate sends, what a pass looks like, when it runs.
// The built-ins reproduce the seed's shell gates (promotion_gate.sh, cost_gate_chat.sh, drills).
import { z } from 'zod';

export const HttpProbe = z.strictObject({
  method: z.enum(['GET', 'POST', 'PUT', 'HEAD']).default('GET'),
  path: z.string().regex(/^\/[^\s?#]*$/, 'must be a path starting with "/" (no query or fragment)'),
  contentType: z.string().max(100).optional(),
  body: z.string().max(1_000_000).optional(),
});
export type HttpProbe = z.infer<typeof HttpProbe>;

export const HttpExpectation = z.strictObject({
  status: z.number().int().min(100).max(599),
  jsonObject: z.boolean().optional(),
  bodyIncludes: z.string().max(200).optional(),
});
export type HttpExpectation = z.infer<typeof HttpExpectation>;

const Common = {
  /**
   * Staging always runs `required` gates; `optional` ones only when the request names them.
   * A new gate is optional unless its owner says otherwise.
   */
  staging: z.enum(['required', 'optional']).default('optional'),
  /** Whether production verification (after a push, after a rollback) runs it too. */
  production: z.boolean().default(false),
  timeoutMs: z.number().int().min(100).max(3_600_000).optional(),
};

export const GateKind = z.enum(['http', 'burst', 'command']);
export type GateKind = z.infer<typeof GateKind>;

export const GateDefinition = z
  .discriminatedUnion('kind', [
    z.strictObject({
      kind: z.literal('http'),
      ...Common,
      request: HttpProbe,
      expect: HttpExpectation,
      /** What passes instead when the request sets expectBudgetBlock (the cost gate). */
      expectWhenBudgetBlocked: HttpExpectation.optional(),
      /** Gates that spend budget run after the rest (SPEC §5 waves). */
      wave: z.union([z.literal(1), z.literal(2), z.literal(3)]).default(1),
    }),
    z.strictObject({
      kind: z.literal('burst'),
      ...Common,
      request: HttpProbe,
      size: z.number().int().min(1).max(1000).optional(),
      wave: z.literal(3).default(3),
    }),
    z.strictObject({
      kind: z.literal('command'),
      ...Common,
      /** Optional: the built-in drills have none until a worker's GATES_CONFIG gives one. */
      command: z.array(z.string().min(1)).min(1).optional(),
      wave: z.literal(1).default(1),
    }),
  ])
  .superRefine((gate, ctx) => {
    // Without a command it can only fail, so required would fail every promotion.
    if (gate.kind === 'command' && gate.staging === 'required' && !gate.command) {
      ctx.addIssue({ code: 'custom', path: ['command'], message: 'a required command gate needs a command' });
    }
  });
export type GateDefinition = z.infer<typeof GateDefinition>;

export const GateDefaults = z.strictObject({
  timeoutMs: z.number().int().min(100).max(600_000).default(5_000),
  burstSize: z.number().int().min(1).max(1_000).default(30),
  costMessageChars: z.number().int().min(1).max(1_000_000).default(4_000),
  /** Connection errors are retried inside a probe this many times in all; HTTP answers never are. */
  connectAttempts: z.number().int().min(1).max(10).default(3),
  /**
   * How long one probe may wait out a target that throttles it (429 that is not a budget
   * block) before the gate fails saying the target kept throttling.
   */
  rateLimitWaitMs: z.number().int().min(0).max(600_000).default(10_000),
  /** After a staging run's burst, how long the next run on that service waits when the 429s named no reset time. */
  burstCooldownMs: z.number().int().min(0).max(600_000).default(1_000),
});
export type GateDefaults = z.infer<typeof GateDefaults>;

export interface GateCatalog {
  defaults: GateDefaults;
  gates: Record<string, GateDefinition>;
}

const chat = (body: string, contentType = 'application/json'): HttpProbe => ({
  method: 'POST',
  path: '/api/chat',
  contentType,
  body,
});

/** The seed's gates with the given defaults. */
export function builtinGates(defaults: GateDefaults): Record<string, GateDefinition> {
  return {
    health: {
      kind: 'http',
      staging: 'required',
      production: true,
      wave: 1,
      request: { method: 'GET', path: '/health' },
      expect: { status: 200 },
    },
    db_health: {
      kind: 'http',
      staging: 'required',
      production: true,
      wave: 1,
      request: { method: 'GET', path: '/db/health' },
      expect: { status: 200 },
    },
    chat_happy: {
      kind: 'http',
      staging: 'required',
      production: true,
      wave: 1,
      request: chat(JSON.stringify({ message: 'hi' })),
      expect: { status: 200, jsonObject: true },
    },
    chat_415: {
      kind: 'http',
      staging: 'required',
      production: true,
      wave: 1,
      request: chat('hi', 'text/plain'),
      expect: { status: 415 },
    },
    cost_gate_chat: {
      kind: 'http',
      staging: 'required',
      production: false,
      wave: 2,
      // Long enough that lowered per-request token limits block it while chat_happy passes.
      request: chat(
        JSON.stringify({
          message: 'cost gate probe. '
            .repeat(Math.ceil(defaults.costMessageChars / 17))
            .slice(0, defaults.costMessageChars),
        }),
      ),
      expect: { status: 200, jsonObject: true },
      expectWhenBudgetBlocked: { status: 429, bodyIncludes: 'BUDGET_EXCEEDED' },
    },
    burst_429: {
      kind: 'burst',
      staging: 'required',
      production: false,
      wave: 3,
      request: chat(JSON.stringify({ message: 'burst' })),
      size: defaults.burstSize,
    },
    release_drills_subset: { kind: 'command', staging: 'optional', production: false, wave: 1 },
    certify_phase15_subset: { kind: 'command', staging: 'optional', production: false, wave: 1 },
    breaker_drill: { kind: 'command', staging: 'optional', production: false, wave: 1 },
  };
}

export function builtinCatalog(): GateCatalog {
  const defaults = GateDefaults.parse({});
  return { defaults, gates: builtinGates(defaults) };
}

/** Staging gate names for a request: every required gate plus the named optional ones, catalog order. */
export function stagingGateNames(catalog: GateCatalog, optional: readonly string[]): string[] {
  return Object.entries(catalog.gates)
    .filter(([name, gate]) => gate.staging === 'required' || optional.includes(name))
    .map(([name]) => name);
}

export function productionGateNames(catalog: GateCatalog): string[] {
  return Object.entries(catalog.gates)
    .filter(([, gate]) => gate.production)
    .map(([name]) => name);
}
