// GATES_CONFIG (SPEC §5): the worker's gate file, and how its entries merge over the built-in
// catalog. There is one gate schema, GateDefinition: an entry is checked by it once merged, so an
// override of a built-in changes only the fields it gives and keeps the rest (staging, production).
import { z } from 'zod';
import { builtinGates, GateCatalog, GateDefaults, GateDefinition, GateKind } from './catalog';

const GateName = z.string().regex(/^[a-z0-9_]{1,64}$/, 'gate names are 1–64 characters of a-z 0-9 _');

/**
 * One `gates.<name>` entry: any fields of a GateDefinition, `kind` included or left out. Only what
 * decides the merge is checked here (an object, a known kind); every field is checked by
 * GateDefinition on the merged gate, so the catalog's schema stays the single source.
 */
const GateOverride = z.looseObject({ kind: GateKind.optional() });
type GateOverride = z.infer<typeof GateOverride>;

/** The field an entry gives that implies its kind (`command` → command; `request` / `expect` → http). */
function kindField(entry: GateOverride): { field: string; kind: GateKind } | undefined {
  if ('command' in entry) return { field: 'command', kind: 'command' };
  if ('request' in entry) return { field: 'request', kind: 'http' };
  if ('expect' in entry) return { field: 'expect', kind: 'http' };
  return undefined;
}

type Issue = { path: PropertyKey[]; message: string };

/**
 * The gate `entry` makes: merged over `builtin` (its kind kept, each field given replacing that
 * field whole), or a new gate of the kind it says or implies. Issues carry paths inside the entry.
 */
function mergeGate(
  builtin: GateDefinition | undefined,
  entry: GateOverride,
): { gate: GateDefinition } | { issues: Issue[] } {
  const implied = kindField(entry);
  if (builtin) {
    // A kind the entry says, or one its fields imply; `request` suits a burst gate too, so only
    // command against HTTP is implied.
    const said = entry.kind !== undefined ? { field: 'kind', kind: entry.kind } : undefined;
    const change =
      said ?? (implied && (implied.kind === 'command') !== (builtin.kind === 'command') ? implied : undefined);
    if (change && change.kind !== builtin.kind) {
      return {
        issues: [
          { path: [change.field], message: `cannot change a built-in ${builtin.kind} gate into ${change.kind}` },
        ],
      };
    }
  }
  const kind = builtin?.kind ?? entry.kind ?? implied?.kind;
  if (!kind) {
    return {
      issues: [
        {
          path: ['kind'],
          message: 'unknown for a new gate: give request and expect (an http gate), command (a command gate), or kind',
        },
      ],
    };
  }
  const parsed = GateDefinition.safeParse({ ...builtin, ...entry, kind });
  if (!parsed.success)
    return { issues: parsed.error.issues.map((issue) => ({ path: issue.path, message: issue.message })) };
  return { gate: parsed.data };
}

/** GATES_CONFIG, parsed into the catalog the worker runs: the built-ins with the file's defaults, entries merged in. */
export const GatesFile = z
  .strictObject({
    defaults: GateDefaults.prefault({}),
    gates: z.record(GateName, GateOverride).default({}),
  })
  .transform((file, ctx): GateCatalog => {
    // Built from the file's defaults: the cost gate's body and the burst's size depend on them.
    const gates: Record<string, GateDefinition> = builtinGates(file.defaults);
    for (const [name, entry] of Object.entries(file.gates)) {
      const merged = mergeGate(Object.hasOwn(gates, name) ? gates[name] : undefined, entry);
      if ('gate' in merged) gates[name] = merged.gate;
      else
        for (const { path, message } of merged.issues)
          ctx.addIssue({ code: 'custom', input: entry, path: ['gates', name, ...path], message });
    }
    return { defaults: file.defaults, gates };
  });
