// `release-promoter <command>`: the project's CLI over the Temporal client, the gate runner and
// the ledger. This file builds the program from the command groups, its global options
// (--profile, --config-file, --address, --namespace, --version) and maps errors to the exit-code
// table (exit-codes.ts); the commands are in start.ts, decisions.ts, promotions.ts, rollback.ts,
// gates.ts and ledger.ts, what they print in render.ts. Identity: client.ts.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError } from '@commander-js/extra-typings';
import pc from 'picocolors';
import type { z } from 'zod';
import { ConfigError, HostPort, NamespaceName } from '../config';
import { connectionTarget, setConnectionFlags, TemporalUnavailableError } from './client';
import { addGatesCommand } from './gates';
import { addDecisionCommands } from './decisions';
import { addHistoryCommand } from './history';
import { EXIT, EXIT_CODE_TABLE, ExitCode } from './exit-codes';
import { addLedgerCommands } from './ledger';
import { addPromotionCommands } from './promotions';
import { addRollbackCommand } from './rollback';
import { addStartCommand } from './start';

/** package.json's version (beside dist/ and src/ alike). */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** A commander argument parser from a zod schema: a bad value is a usage error naming the flag. */
function checked(schema: z.ZodType<string>): (value: string) => string {
  return (value) => {
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw new InvalidArgumentError(parsed.error.issues[0]?.message ?? 'invalid value');
    return parsed.data;
  };
}

export function cliProgram() {
  const program = new Command()
    .name('release-promoter')
    .description('Promote releases with staging gates, approval, verification and automatic rollback on Temporal.')
    .version(packageVersion(), '-V, --version', 'print the version')
    // The connection is Temporal's own configuration, as the temporal CLI reads it: these
    // options mirror its --profile / --config-file, and --address / --namespace override the profile.
    .option('--profile <name>', 'the profile of the Temporal config file (default: TEMPORAL_PROFILE, else default)')
    .option(
      '--config-file <path>',
      'the Temporal config file (default: TEMPORAL_CONFIG_FILE, else ~/.config/temporalio/temporal.toml)',
    )
    .option(
      '--address <host:port>',
      "the Temporal frontend (default: TEMPORAL_ADDRESS, else the profile's address, else localhost:7233)",
      checked(HostPort),
    )
    .option(
      '--namespace <ns>',
      "the Temporal namespace (default: TEMPORAL_NAMESPACE, else the profile's namespace, else default)",
      checked(NamespaceName),
    )
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(pc.red(text)) })
    .addHelpText('after', `\nExit codes (every command):\n${EXIT_CODE_TABLE}\n`);
  // The one way the connection flags reach the commands: withClient reads them (client.ts).
  program.hook('preAction', (self) => setConnectionFlags(self.opts()));
  addStartCommand(program);
  addDecisionCommands(program);
  addPromotionCommands(program);
  addRollbackCommand(program);
  addGatesCommand(program);
  addLedgerCommands(program);
  addHistoryCommand(program);
  return program;
}

/** The exit code for an error a command threw, and what to say (undefined: commander said it). */
export async function exitFor(err: unknown): Promise<{ code: ExitCode; message?: string }> {
  // --help and --version end here too, with exit code 0; commander already printed the rest.
  if (err instanceof CommanderError) return { code: err.exitCode === 0 ? EXIT.ok : EXIT.usage };
  if (err instanceof ConfigError) return { code: EXIT.usage, message: err.message };
  if (err instanceof TemporalUnavailableError) return { code: EXIT.unavailable, message: err.message };
  // Only a command that reached Temporal can fail this way; a usage error never loads the SDK.
  const { NamespaceNotFoundError, WorkflowNotFoundError } = await import('@temporalio/common');
  const target = connectionTarget();
  const at = target ? ` in namespace ${target.namespace} at ${target.address}` : '';
  if (err instanceof WorkflowNotFoundError)
    return { code: EXIT.unavailable, message: `no workflow ${err.workflowId || '(unknown id)'}${at}: ${err.message}` };
  if (err instanceof NamespaceNotFoundError)
    return {
      code: EXIT.unavailable,
      message: `no namespace ${err.namespace}${target ? ` at ${target.address}` : ''}; set TEMPORAL_NAMESPACE or --namespace`,
    };
  const code = grpcCode(err);
  if (code !== undefined && UNAVAILABLE_CODES.has(code))
    return {
      code: EXIT.unavailable,
      message: `Temporal${target ? ` at ${target.address} (namespace ${target.namespace})` : ''} did not answer: ${errorText(err)}; is the server running, and is it Temporal?`,
    };
  // Anything else stopped the command before it could act on the release.
  return { code: EXIT.usage, message: errorText(err) };
}

/** gRPC codes that mean Temporal is not there to answer: DEADLINE_EXCEEDED, UNIMPLEMENTED (not a Temporal frontend), UNAVAILABLE. */
const UNAVAILABLE_CODES = new Set([4, 12, 14]);

/** The gRPC status code of the error or its causes (a ServiceError wraps the gRPC error). */
function grpcCode(err: unknown): number | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 3; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'number') return code;
  }
  return undefined;
}

/** The message, with its cause's when that says more ("Failed to query Workflow: 14 UNAVAILABLE: …"). */
function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error && cause.message && !err.message.includes(cause.message)
    ? `${err.message}: ${cause.message}`
    : err.message;
}

export async function main(argv = process.argv): Promise<void> {
  try {
    await cliProgram().parseAsync(argv);
  } catch (err) {
    const { code, message } = await exitFor(err);
    if (message) console.error(pc.red(`release-promoter: ${message}`));
    process.exitCode = code;
  }
}

if (require.main === module) void main();
