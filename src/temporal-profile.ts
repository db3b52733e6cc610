// Where to connect to Temporal (SPEC §7): Temporal's own client configuration, read with
// @temporalio/envconfig the way the `temporal` CLI reads it. A profile of the config file
// (TEMPORAL_CONFIG_FILE, else the user's temporalio/temporal.toml; TEMPORAL_PROFILE, else
// "default"), under the CLI's environment variables (TEMPORAL_ADDRESS, TEMPORAL_API_KEY,
// TEMPORAL_TLS_*…), under the command line's --address / --namespace. The worker, the CLI, the
// demo and the bench all resolve it here. Messages name files, profiles and variables, never a
// key, a header or a certificate's contents.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Metadata } from '@temporalio/client';
import type { TLSConfig } from '@temporalio/common/lib/internal-non-workflow';
import {
  clientConfigToToml,
  fromTomlConfig,
  loadClientConfigProfile,
  toClientOptions,
  type ClientConfigProfile,
  type ConfigDataSource,
} from '@temporalio/envconfig';
// The file's TOML parser, the one envconfig uses (the package's index exports only the conversions).
import { loadFromTomlData } from '@temporalio/envconfig/lib/envconfig-toml';
import { z } from 'zod';
import { ConfigError, HostPort, NamespaceName } from './config';

/** What the command line sets over the configuration (the project's CLI flags; the demo's own server). */
export interface ConnectionOverrides {
  address?: string;
  namespace?: string;
  profile?: string;
  configFile?: string;
}

/** A resolved connection: what Connection and NativeConnection take, the namespace, and where it came from. */
export interface TemporalConnection {
  options: { address: string; tls?: TLSConfig | boolean; apiKey?: string; metadata?: Metadata };
  namespace: string;
  /** Where the address came from: the flag, the variable, the profile (`profile` says which), or the SDK's default. */
  addressFrom: '--address' | 'TEMPORAL_ADDRESS' | 'profile' | 'default';
  /** The profile read and its file; undefined when no config file was read. */
  profile?: { name: string; file: string };
}

/** Our names from before envconfig, refused so a worker never connects without the TLS it was told to use. */
export const RETIRED_VARIABLES = {
  TEMPORAL_TLS_CERT_PATH: 'TEMPORAL_TLS_CLIENT_CERT_PATH',
  TEMPORAL_TLS_KEY_PATH: 'TEMPORAL_TLS_CLIENT_KEY_PATH',
  TEMPORAL_TLS_CA_PATH: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
} as const;

const DEFAULT_ADDRESS = 'localhost:7233';
const DEFAULT_PROFILE = 'default';

/** The certificate settings: envconfig's field, its TOML key and the CLI's variable. */
const TLS_FILES = [
  { field: 'clientCert', key: 'client_cert', variable: 'TEMPORAL_TLS_CLIENT_CERT' },
  { field: 'clientKey', key: 'client_key', variable: 'TEMPORAL_TLS_CLIENT_KEY' },
  { field: 'serverCACert', key: 'server_ca_cert', variable: 'TEMPORAL_TLS_SERVER_CA_CERT' },
] as const;

/**
 * Resolves the connection from `env` (and `overrides`) once. Throws ConfigError naming the file,
 * profile, variable or flag at fault and what to do: a retired variable, a config file named
 * but missing or unreadable, malformed TOML, an unknown profile, an unreadable certificate.
 */
export function resolveConnection(
  env: NodeJS.ProcessEnv = process.env,
  overrides: ConnectionOverrides = {},
  cwd = process.cwd(),
): TemporalConnection {
  refuseRetiredVariables(env);
  // An empty variable counts as unset, as everywhere in the worker's configuration; except
  // TEMPORAL_GRPC_META_*, where empty means "drop this header" (the CLI's rule).
  const vars: Record<string, string> = Object.fromEntries(
    Object.entries(env).filter(
      (pair): pair is [string, string] =>
        pair[1] !== undefined && (pair[1] !== '' || pair[0].startsWith('TEMPORAL_GRPC_META_')),
    ),
  );
  const source = configSource(vars, overrides, cwd);
  const { name, asked } = profileName(vars, overrides);
  const found = source ? fileProfile(source, name, asked) : undefined;
  const inFile = found?.profile;
  if (!source && asked) {
    const where = defaultConfigFile(vars);
    throw new ConfigError(
      `${asked} ${name}: there is no config file to read it from${where ? ` (none at ${where})` : ''}; set TEMPORAL_CONFIG_FILE to your temporal.toml`,
    );
  }
  // A profile the file lacks (the implicit "default") leaves the environment alone to configure.
  const profileLabel = source && inFile ? `profile '${name}' in ${source.file}` : 'the environment';
  let merged: ClientConfigProfile;
  try {
    merged = loadClientConfigProfile({
      ...(source && inFile ? { profile: name, configSource: { data: source.text } } : { disableFile: true }),
      overrideEnvVars: vars,
    });
  } catch (err) {
    throw new ConfigError(`${profileLabel}: ${(err as Error).message}`);
  }
  if (overrides.address) merged.address = overrides.address;
  if (overrides.namespace) merged.namespace = overrides.namespace;
  readCertificates(merged, vars, profileLabel);
  refuseHostVerificationOff(merged, found?.hostVerificationOff ?? false, vars, profileLabel);

  const { connectionOptions, namespace } = toClientOptions(merged);
  const addressFrom = overrides.address
    ? '--address'
    : vars.TEMPORAL_ADDRESS
      ? 'TEMPORAL_ADDRESS'
      : inFile?.address
        ? 'profile'
        : 'default';
  const namespaceFrom = overrides.namespace
    ? '--namespace'
    : vars.TEMPORAL_NAMESPACE
      ? 'TEMPORAL_NAMESPACE'
      : profileLabel;
  const address = checked(
    HostPort,
    connectionOptions.address ?? DEFAULT_ADDRESS,
    `${addressFrom === 'profile' ? profileLabel : addressFrom}: address`,
  );
  return {
    options: {
      address,
      tls: connectionOptions.tls ?? undefined,
      apiKey: connectionOptions.apiKey,
      metadata: connectionOptions.metadata,
    },
    namespace: checked(NamespaceName, namespace ?? 'default', `${namespaceFrom}: namespace`),
    addressFrom,
    profile: source && inFile ? { name, file: source.file } : undefined,
  };
}

/** Where the address came from, in words: "profile 'cloud' in /home/me/.config/temporalio/temporal.toml". */
export function addressOrigin(connection: TemporalConnection): string {
  const { addressFrom, profile } = connection;
  if (addressFrom === 'profile' && profile) return `profile '${profile.name}' in ${profile.file}`;
  return addressFrom === 'default' ? 'the default' : addressFrom;
}

/** One line for logs: address, namespace, profile, and whether TLS / an API key are on (never their values). */
export function describeConnection(connection: TemporalConnection): string {
  const { address, tls, apiKey } = connection.options;
  const parts = [`namespace ${connection.namespace}`];
  if (connection.profile) parts.push(`profile '${connection.profile.name}' in ${connection.profile.file}`);
  if (tls) parts.push(typeof tls === 'object' && tls.clientCertPair ? 'mTLS' : 'TLS');
  if (apiKey) parts.push('API key');
  return `${address} (${parts.join(', ')})`;
}

function refuseRetiredVariables(env: NodeJS.ProcessEnv): void {
  const set = Object.entries(RETIRED_VARIABLES).filter(([old]) => env[old]);
  if (set.length === 0) return;
  throw new ConfigError(
    `${set.map(([old, now]) => `${old} is no longer read: rename it ${now}`).join('; ')} ` +
      `(the connection uses Temporal's own settings, as the temporal CLI does; see "Connecting to your cluster" in the README)`,
  );
}

interface ConfigText {
  file: string;
  text: string;
}

/**
 * The config file's text: --config-file, else TEMPORAL_CONFIG_FILE (either must exist), else the
 * default location (a missing file there is fine: the environment alone configures then).
 */
function configSource(
  vars: Record<string, string>,
  overrides: ConnectionOverrides,
  cwd: string,
): ConfigText | undefined {
  const named = overrides.configFile
    ? { file: overrides.configFile, by: '--config-file' }
    : vars.TEMPORAL_CONFIG_FILE
      ? { file: vars.TEMPORAL_CONFIG_FILE, by: 'TEMPORAL_CONFIG_FILE' }
      : undefined;
  const file = named ? path.resolve(cwd, named.file) : defaultConfigFile(vars);
  if (!file) return undefined;
  try {
    return { file, text: readFileSync(file, 'utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!named && code === 'ENOENT') return undefined;
    const what = named ? `${named.by} ${file}` : `the config file ${file}`;
    throw new ConfigError(
      code === 'ENOENT'
        ? `${what}: no such file; create it (a temporal.toml with [profile.<name>] tables) or point ${named?.by} at one`
        : `${what}: cannot be read (${code ?? (err as Error).message}); make it a readable file`,
    );
  }
}

/** --profile, else TEMPORAL_PROFILE, else "default"; `asked` says who named it (then it must exist). */
function profileName(
  vars: Record<string, string>,
  overrides: ConnectionOverrides,
): { name: string; asked?: '--profile' | 'TEMPORAL_PROFILE' } {
  if (overrides.profile) return { name: overrides.profile, asked: '--profile' };
  if (vars.TEMPORAL_PROFILE) return { name: vars.TEMPORAL_PROFILE, asked: 'TEMPORAL_PROFILE' };
  return { name: DEFAULT_PROFILE };
}

/**
 * The file's profiles as the temporal CLI reads them: unknown keys are let through (the CLI
 * accepts them), a known key of the wrong type is refused naming it.
 */
const TomlProfile = z.looseObject({
  address: z.string().optional(),
  namespace: z.string().optional(),
  api_key: z.string().optional(),
  tls: z
    .looseObject({
      disabled: z.boolean().optional(),
      server_name: z.string().optional(),
      disable_host_verification: z.boolean().optional(),
      client_cert_path: z.string().optional(),
      client_cert_data: z.string().optional(),
      client_key_path: z.string().optional(),
      client_key_data: z.string().optional(),
      server_ca_cert_path: z.string().optional(),
      server_ca_cert_data: z.string().optional(),
    })
    .optional(),
  codec: z.looseObject({ endpoint: z.string().optional(), auth: z.string().optional() }).optional(),
  grpc_meta: z.record(z.string(), z.string()).optional(),
});
const TomlConfigFile = z.looseObject({ profile: z.record(z.string(), TomlProfile).default({}) });

/**
 * The profile as the file has it (no environment), checking the file and that a named profile
 * exists; and its tls.disable_host_verification, which envconfig's profile does not carry.
 */
function fileProfile(
  source: ConfigText,
  name: string,
  asked: string | undefined,
): { profile: ClientConfigProfile; hostVerificationOff: boolean } | undefined {
  const fault = (what: string) =>
    new ConfigError(`the config file ${source.file}: ${what}; fix it, or point TEMPORAL_CONFIG_FILE at another file`);
  let raw: unknown;
  try {
    raw = loadFromTomlData(source.text, false);
  } catch (err) {
    // smol-toml's message quotes the offending line, which may hold an api_key: its position only.
    const { line, column } = err as { line?: number; column?: number };
    const reason = ((err as Error).message.split('\n')[0] ?? '').replace(/^Invalid TOML document: /, '');
    throw fault(`not valid TOML${line ? ` at line ${line}, column ${column ?? 0}` : ''} (${reason})`);
  }
  const parsed = TomlConfigFile.safeParse(raw);
  if (!parsed.success)
    throw fault(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '));
  let profiles: Record<string, ClientConfigProfile>;
  try {
    profiles = fromTomlConfig(parsed.data).profiles;
  } catch (err) {
    throw fault((err as Error).message); // "Cannot specify both client_cert_path and client_cert_data"
  }
  if (asked && !Object.hasOwn(profiles, name)) {
    const known = Object.keys(profiles);
    throw new ConfigError(
      `${asked} ${name}: ${source.file} has no [profile.${name}]` +
        (known.length ? ` (it has ${known.join(', ')})` : ' (it has no profiles)') +
        '; add it there, or name one it has',
    );
  }
  const profile = Object.hasOwn(profiles, name) ? profiles[name] : undefined;
  if (!profile) return undefined;
  return { profile, hostVerificationOff: parsed.data.profile[name]?.tls?.disable_host_verification === true };
}

/**
 * The temporal CLI can skip checking the server's name; the TypeScript SDK cannot, so such a
 * profile would fail at the TLS handshake with nothing said. Refused here, with the way that works.
 */
function refuseHostVerificationOff(
  profile: ClientConfigProfile,
  inFile: boolean,
  vars: Record<string, string>,
  profileLabel: string,
): void {
  const fromEnv = vars.TEMPORAL_TLS_DISABLE_HOST_VERIFICATION;
  const off = fromEnv !== undefined ? ['1', 'true'].includes(fromEnv.toLowerCase()) : inFile;
  if (!off || !profile.tls || profile.tls.disabled) return;
  throw new ConfigError(
    `${fromEnv !== undefined ? 'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION' : `${profileLabel}: tls.disable_host_verification`}: ` +
      "the worker's TypeScript SDK always verifies the server's name; set tls.server_name (or TEMPORAL_TLS_SERVER_NAME) to the name in the server's certificate instead",
  );
}

/**
 * Reads the certificate files once, here, so a missing or unreadable one stops start-up naming the
 * setting that gave its path (the SDK would say only "ENOENT"); a client certificate needs its key.
 */
function readCertificates(profile: ClientConfigProfile, vars: Record<string, string>, profileLabel: string): void {
  const tls = profile.tls;
  if (!tls || tls.disabled) return;
  // The setting that gave a file's path or contents: the CLI's variable when set, else the profile's key.
  const setting = (file: (typeof TLS_FILES)[number]) => {
    const kind = tls[file.field] && 'path' in (tls[file.field] as ConfigDataSource) ? 'PATH' : 'DATA';
    return vars[`${file.variable}_${kind}`] !== undefined
      ? `${file.variable}_${kind}`
      : `${profileLabel}: tls.${file.key}_${kind.toLowerCase()}`;
  };
  const [cert, key] = TLS_FILES;
  if (Boolean(tls.clientCert) !== Boolean(tls.clientKey)) {
    const [has, lacks] = tls.clientCert ? [cert, key] : [key, cert];
    throw new ConfigError(
      `${setting(has)} is set without the other half of the client certificate pair: set ${lacks.variable}_PATH (or tls.${lacks.key}_path in the profile) too`,
    );
  }
  for (const file of TLS_FILES) {
    const given = tls[file.field];
    if (!given || !('path' in given)) continue;
    try {
      tls[file.field] = { data: readFileSync(given.path) };
    } catch (err) {
      throw new ConfigError(
        `${setting(file)} ${given.path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); point it at the PEM file`,
      );
    }
  }
}

function checked(schema: z.ZodType<string>, value: string, what: string): string {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ConfigError(`${what} '${value}' ${parsed.error.issues[0]?.message ?? 'is not valid'}`);
  return parsed.data;
}

/** The temporal CLI's default config file: <user config dir>/temporalio/temporal.toml. */
export function defaultConfigFile(vars: Record<string, string | undefined>): string | undefined {
  let dir: string | undefined;
  if (process.platform === 'win32') dir = vars.APPDATA;
  else if (process.platform === 'darwin') dir = vars.HOME && path.join(vars.HOME, 'Library', 'Application Support');
  else if (vars.XDG_CONFIG_HOME) dir = path.isAbsolute(vars.XDG_CONFIG_HOME) ? vars.XDG_CONFIG_HOME : undefined;
  else dir = vars.HOME && path.join(vars.HOME, '.config');
  return dir ? path.join(dir, 'temporalio', 'temporal.toml') : undefined;
}

/**
 * The environment for processes that must reach a local dev server (the demo's, the bench's): a
 * config file of their own with one profile for it, so the caller's temporal.toml (a Cloud
 * default profile with TLS and an API key, say) does not reach it; TEMPORAL_ADDRESS and
 * TEMPORAL_NAMESPACE repeat the profile because a caller's own variables would outrank it.
 */
export async function localServerEnv(file: string, profile: string, address: string): Promise<Record<string, string>> {
  await writeFile(file, clientConfigToToml({ profiles: { [profile]: { address, namespace: 'default' } } }));
  return {
    TEMPORAL_CONFIG_FILE: file,
    TEMPORAL_PROFILE: profile,
    TEMPORAL_ADDRESS: address,
    TEMPORAL_NAMESPACE: 'default',
  };
}
