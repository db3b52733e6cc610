// The connection is Temporal's own configuration (SPEC §7): a temporal.toml profile, the temporal
// CLI's variables over it, our --address / --namespace over those. First resolveConnection itself
// (real files in a temp dir), then a real worker process and the real CLI on the dev server with
// nothing but a profile file, and what they refuse.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { EXIT } from '../src/cli/exit-codes';
import { freeLoopbackPort } from '../src/free-port';
import { describeConnection, resolveConnection, RETIRED_VARIABLES } from '../src/temporal-profile';
import { runCli } from './cli-process';
import { harnessCliEnv, useCliHarness } from './cli-harness';
import { Harness, uniqueId } from './helpers';
import { configErrorOf } from './records';
import { killWorker, runningWorkers, startWorker } from './worker-process';

// What must never show in a log line or an error: the contents of keys and certificates, the API key.
const CERT = '-----BEGIN CERTIFICATE-----\nclient-cert-sentinel-7f3a\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nclient-key-sentinel-91c2\n-----END PRIVATE KEY-----\n';
const CA = '-----BEGIN CERTIFICATE-----\nserver-ca-sentinel-44d0\n-----END CERTIFICATE-----\n';
const API_KEY = 'api-key-sentinel-5be8';
const SECRETS = ['client-cert-sentinel-7f3a', 'client-key-sentinel-91c2', 'server-ca-sentinel-44d0', API_KEY];

let dir: string;
let closed: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'release-promoter-profile-'));
  closed = `127.0.0.1:${await freeLoopbackPort()}`;
  await writeFile(path.join(dir, 'client.pem'), CERT);
  await writeFile(path.join(dir, 'client.key'), KEY);
  await writeFile(path.join(dir, 'ca.pem'), CA);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function configFile(name: string, toml: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, toml);
  return file;
}

/** A cloud-like config file: an mTLS profile, an API-key profile, and a local one. */
async function cloudConfig(): Promise<string> {
  return configFile(
    'cloud.toml',
    `[profile.default]
address = "localhost:7233"

[profile.mtls]
address = "acme.a1b2c.tmprl.cloud:7233"
namespace = "acme.a1b2c"
[profile.mtls.tls]
client_cert_path = "${path.join(dir, 'client.pem')}"
client_key_path = "${path.join(dir, 'client.key')}"
server_ca_cert_path = "${path.join(dir, 'ca.pem')}"
server_name = "acme.a1b2c.tmprl.cloud"

[profile.apikey]
address = "us-east-1.aws.api.temporal.io:7233"
namespace = "acme.a1b2c"
api_key = "${API_KEY}"
`,
  );
}

describe('resolveConnection', () => {
  test('a profile gives the address, the namespace and where they came from', async () => {
    const file = await cloudConfig();
    const c = resolveConnection({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'apikey' });
    expect(c.options.address).toBe('us-east-1.aws.api.temporal.io:7233');
    expect(c.namespace).toBe('acme.a1b2c');
    expect(c.addressFrom).toBe('profile');
    expect(c.profile).toEqual({ name: 'apikey', file });
  });

  test('an API key profile turns TLS on and sends the key', async () => {
    const file = await cloudConfig();
    const c = resolveConnection({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'apikey' });
    expect(c.options.apiKey).toBe(API_KEY);
    expect(c.options.tls).toBe(true);
    // tls.disabled wins over the key's default (a local proxy that terminates TLS).
    const plain = await configFile(
      'plain.toml',
      `[profile.default]\napi_key = "k"\n[profile.default.tls]\ndisabled = true\n`,
    );
    expect(resolveConnection({ TEMPORAL_CONFIG_FILE: plain }).options.tls).toBe(false);
  });

  test('an mTLS profile gives the SDK the certificate pair, the CA and the server name, read from the files', async () => {
    const file = await cloudConfig();
    const c = resolveConnection({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'mtls' });
    expect(c.options.apiKey).toBeUndefined();
    const tls = c.options.tls as {
      serverNameOverride?: string;
      serverRootCACertificate?: Uint8Array;
      clientCertPair?: { crt: Uint8Array; key: Uint8Array };
    };
    expect(tls.serverNameOverride).toBe('acme.a1b2c.tmprl.cloud');
    expect(Buffer.from(tls.serverRootCACertificate as Uint8Array).toString()).toBe(CA);
    expect(Buffer.from(tls.clientCertPair?.crt as Uint8Array).toString()).toBe(CERT);
    expect(Buffer.from(tls.clientCertPair?.key as Uint8Array).toString()).toBe(KEY);
  });

  test("the CLI's variables override the profile, and --address / --namespace override both", async () => {
    const file = await cloudConfig();
    const env = { TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'apikey' };
    const fromEnv = resolveConnection({ ...env, TEMPORAL_ADDRESS: 'proxy.internal:7233', TEMPORAL_NAMESPACE: 'other' });
    expect([fromEnv.options.address, fromEnv.namespace, fromEnv.addressFrom]).toEqual([
      'proxy.internal:7233',
      'other',
      'TEMPORAL_ADDRESS',
    ]);
    expect(fromEnv.options.apiKey).toBe(API_KEY); // the rest of the profile still applies
    const fromFlags = resolveConnection(
      { ...env, TEMPORAL_ADDRESS: 'proxy.internal:7233', TEMPORAL_NAMESPACE: 'other' },
      { address: 'flag.internal:7233', namespace: 'flagged' },
    );
    expect([fromFlags.options.address, fromFlags.namespace, fromFlags.addressFrom]).toEqual([
      'flag.internal:7233',
      'flagged',
      '--address',
    ]);
    // --profile over TEMPORAL_PROFILE, --config-file over TEMPORAL_CONFIG_FILE.
    const other = await configFile('other.toml', '[profile.mtls]\naddress = "other.internal:7233"\n');
    expect(resolveConnection(env, { profile: 'mtls' }).options.address).toBe('acme.a1b2c.tmprl.cloud:7233');
    expect(resolveConnection(env, { profile: 'mtls', configFile: other }).options.address).toBe('other.internal:7233');
    // A certificate variable replaces the profile's path.
    const cert2 = path.join(dir, 'client2.pem');
    await writeFile(cert2, 'second certificate');
    const mtls = resolveConnection({
      TEMPORAL_CONFIG_FILE: file,
      TEMPORAL_PROFILE: 'mtls',
      TEMPORAL_TLS_CLIENT_CERT_PATH: cert2,
    });
    const pair = (mtls.options.tls as { clientCertPair?: { crt: Uint8Array } }).clientCertPair;
    expect(Buffer.from(pair?.crt as Uint8Array).toString()).toBe('second certificate');
  });

  test('without TEMPORAL_CONFIG_FILE the default profile of ~/.config/temporalio/temporal.toml is read', async () => {
    const home = path.join(dir, 'home');
    await mkdir(path.join(home, '.config', 'temporalio'), { recursive: true });
    const file = path.join(home, '.config', 'temporalio', 'temporal.toml');
    await writeFile(file, '[profile.default]\naddress = "home.internal:7233"\nnamespace = "home"\n');
    const c = resolveConnection({ HOME: home });
    expect([c.options.address, c.namespace, c.profile]).toEqual([
      'home.internal:7233',
      'home',
      { name: 'default', file },
    ]);
    // XDG_CONFIG_HOME moves it, as for the temporal CLI; none there: the SDK's defaults, no profile.
    const bare = resolveConnection({ HOME: home, XDG_CONFIG_HOME: path.join(dir, 'no-such-dir') });
    expect([bare.options.address, bare.namespace, bare.profile, bare.addressFrom]).toEqual([
      'localhost:7233',
      'default',
      undefined,
      'default',
    ]);
    // Empty variables count as unset (TEMPORAL_NAMESPACE='' is the default profile's namespace, not '').
    expect(resolveConnection({ HOME: home, TEMPORAL_NAMESPACE: '', TEMPORAL_CONFIG_FILE: '' }).namespace).toBe('home');
  });

  test('our old TLS variable names are refused, each naming its replacement', () => {
    for (const [old, replacement] of Object.entries(RETIRED_VARIABLES)) {
      const err = configErrorOf(() => resolveConnection({ HOME: dir, [old]: path.join(dir, 'client.pem') }));
      expect(err.message).toContain(`${old} is no longer read: rename it ${replacement}`);
    }
  });

  test('a bad profile stops with the file, the profile or the variable at fault, and what to do', async () => {
    const file = await cloudConfig();
    const unknown = configErrorOf(() => resolveConnection({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'prod' }));
    expect(unknown.message).toBe(
      `TEMPORAL_PROFILE prod: ${file} has no [profile.prod] (it has default, mtls, apikey); add it there, or name one it has`,
    );
    expect(configErrorOf(() => resolveConnection({ TEMPORAL_CONFIG_FILE: file }, { profile: 'prod' })).message).toMatch(
      /^--profile prod: /,
    );
    const missing = path.join(dir, 'missing.toml');
    expect(configErrorOf(() => resolveConnection({ TEMPORAL_CONFIG_FILE: missing })).message).toBe(
      `TEMPORAL_CONFIG_FILE ${missing}: no such file; create it (a temporal.toml with [profile.<name>] tables) or point TEMPORAL_CONFIG_FILE at one`,
    );
    expect(configErrorOf(() => resolveConnection({ HOME: dir, TEMPORAL_PROFILE: 'prod' })).message).toContain(
      'TEMPORAL_PROFILE prod: there is no config file to read it from (none at ',
    );
    const badAddress = await configFile('bad-address.toml', '[profile.default]\naddress = "https://acme:7233"\n');
    expect(configErrorOf(() => resolveConnection({ TEMPORAL_CONFIG_FILE: badAddress })).message).toBe(
      `profile 'default' in ${badAddress}: address 'https://acme:7233' must be host:port, e.g. localhost:7233`,
    );
    // The temporal CLI can skip host verification; the TypeScript SDK cannot: said, not a TLS failure later.
    const noVerify = await configFile(
      'no-verify.toml',
      '[profile.default]\naddress = "a.internal:7233"\n[profile.default.tls]\ndisable_host_verification = true\n',
    );
    expect(configErrorOf(() => resolveConnection({ TEMPORAL_CONFIG_FILE: noVerify })).message).toContain(
      `profile 'default' in ${noVerify}: tls.disable_host_verification: the worker's TypeScript SDK always verifies`,
    );
    const badType = await configFile('bad-type.toml', '[profile.default]\naddress = 7233\n');
    expect(configErrorOf(() => resolveConnection({ TEMPORAL_CONFIG_FILE: badType })).message).toContain(
      `the config file ${badType}: profile.default.address: `,
    );
  });

  test('malformed TOML names the file and the position, never the line (it may hold an api_key)', async () => {
    const file = await configFile(
      'broken.toml',
      `[profile.default]\naddress = "localhost:7233"\napi_key = "${API_KEY}\n`,
    );
    const err = configErrorOf(() => resolveConnection({ TEMPORAL_CONFIG_FILE: file }));
    expect(err.message).toMatch(new RegExp(`^the config file ${file}: not valid TOML at line 3, column \\d+ \\(`));
    expect(err.message).toContain('fix it, or point TEMPORAL_CONFIG_FILE at another file');
    expect(err.message).not.toContain(API_KEY);
  });

  test('an unreadable certificate names the setting that gave its path; a certificate needs its key', async () => {
    const file = await configFile(
      'no-cert.toml',
      `[profile.default.tls]\nclient_cert_path = "${path.join(dir, 'gone.pem')}"\nclient_key_path = "${path.join(dir, 'client.key')}"\n`,
    );
    expect(configErrorOf(() => resolveConnection({ TEMPORAL_CONFIG_FILE: file })).message).toBe(
      `profile 'default' in ${file}: tls.client_cert_path ${path.join(dir, 'gone.pem')}: cannot be read (ENOENT); point it at the PEM file`,
    );
    const half = configErrorOf(() =>
      resolveConnection({ HOME: dir, TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(dir, 'client.pem') }),
    );
    expect(half.message).toBe(
      'TEMPORAL_TLS_CLIENT_CERT_PATH is set without the other half of the client certificate pair: set TEMPORAL_TLS_CLIENT_KEY_PATH (or tls.client_key_path in the profile) too',
    );
  });

  test('the description logged says TLS, mTLS and API key without their contents', async () => {
    const file = await cloudConfig();
    const mtls = describeConnection(resolveConnection({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'mtls' }));
    expect(mtls).toBe(`acme.a1b2c.tmprl.cloud:7233 (namespace acme.a1b2c, profile 'mtls' in ${file}, mTLS)`);
    const key = describeConnection(resolveConnection({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'apikey' }));
    expect(key).toBe(
      `us-east-1.aws.api.temporal.io:7233 (namespace acme.a1b2c, profile 'apikey' in ${file}, TLS, API key)`,
    );
    for (const secret of SECRETS) expect(`${mtls}\n${key}`).not.toContain(secret);
  });
});

describe('a worker process and the CLI on nothing but a profile', () => {
  let h: Harness;
  let file: string;
  // The worker process polls a queue of its own: only it can run these promotions.
  const taskQueue = uniqueId('profile-tq');
  let ledgerPath: string;
  // Declared before the harness's afterAll so it runs first (jest runs after-hooks in declaration order).
  afterAll(async () => {
    for await (const wf of h.env.client.workflow.list({
      query: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'`,
    }))
      await h.env.client.workflow
        .getHandle(wf.workflowId)
        .terminate('test done')
        .catch(() => undefined);
    for (const worker of runningWorkers()) await killWorker(worker).catch(() => undefined);
  });
  const suite = useCliHarness();
  beforeAll(async () => {
    h = suite.current();
    ledgerPath = path.join(dir, 'RELEASE_LOG.md');
    file = await configFile(
      'temporal.toml',
      `[profile.default]\naddress = "${closed}"\n\n[profile.ci]\naddress = "${process.env.TEMPORAL_TEST_ADDRESS}"\nnamespace = "default"\n\n[profile.closed]\naddress = "${closed}"\n`,
    );
  });
  /** No TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE: the profile file and its name only, plus `over`. */
  const profileEnv = (over: NodeJS.ProcessEnv = {}) =>
    harnessCliEnv(h, {
      TEMPORAL_ADDRESS: undefined,
      TEMPORAL_NAMESPACE: undefined,
      TEMPORAL_CONFIG_FILE: file,
      TEMPORAL_PROFILE: 'ci',
      TEMPORAL_TASK_QUEUE: taskQueue,
      RELEASE_LEDGER_PATH: ledgerPath,
      ...over,
    });

  test('the worker polls and the CLI starts, waits for and lists a promotion it ran', async () => {
    const worker = await startWorker(
      { taskQueue, ledgerPath, gitCacheDir: path.join(dir, 'worker-cache') },
      {
        TEMPORAL_ADDRESS: undefined,
        TEMPORAL_NAMESPACE: undefined,
        TEMPORAL_CONFIG_FILE: file,
        TEMPORAL_PROFILE: 'ci',
      },
    );
    expect(worker.stderr()).toContain(
      `polling ${taskQueue} on ${process.env.TEMPORAL_TEST_ADDRESS} (namespace default, profile 'ci' in ${file})`,
    );
    const sha = await h.repo.commit('feature: promoted through a profile');
    const workflowId = uniqueId('profile-promotion');
    const start = await runCli(
      [
        'start',
        '--commit',
        sha,
        '--class',
        'A',
        '--repo',
        h.repo.bare,
        '--staging-base',
        h.staging.url,
        '--production-base',
        h.production.url,
        '--workflow-id',
        workflowId,
        '--wait',
      ],
      profileEnv(),
    );
    expect(start.stderr).not.toContain('cannot reach');
    expect(start.code).toBe(EXIT.ok);
    expect(start.stdout).toMatch(/stage promoted/);
    // The worker process wrote the entry: the ledger it was given, not the harness's.
    expect(await readFile(ledgerPath, 'utf8')).toContain(sha);
    const list = await runCli(['list', '--json'], profileEnv());
    expect(list.code).toBe(EXIT.ok);
    expect(list.stdout).toContain(workflowId);
  }, 120_000);

  test('TEMPORAL_ADDRESS overrides the profile, --address overrides both; a profile address that fails says so', async () => {
    const sha = await h.repo.commit('feature: precedence');
    const handle = await h.start(h.request(sha));
    await handle.result();
    const status = ['status', handle.workflowId];
    // The profile alone, unreachable: the message names the profile and its file.
    const fromProfile = await runCli(status, profileEnv({ TEMPORAL_PROFILE: 'closed' }));
    expect(fromProfile.code).toBe(EXIT.unavailable);
    expect(fromProfile.stderr).toContain(`cannot reach Temporal at ${closed} (namespace default): `);
    expect(fromProfile.stderr).toContain(
      `is the server running? the address comes from profile 'closed' in ${file}: correct it there, or set TEMPORAL_ADDRESS or --address`,
    );
    // The variable over that profile reaches the server.
    const env = await runCli(
      status,
      profileEnv({ TEMPORAL_PROFILE: 'closed', TEMPORAL_ADDRESS: process.env.TEMPORAL_TEST_ADDRESS }),
    );
    expect(env.stderr).toBe('');
    expect(env.code).toBe(EXIT.ok);
    // The variable over a good profile, unreachable: it is the variable that is named.
    const badEnv = await runCli(status, profileEnv({ TEMPORAL_ADDRESS: closed }));
    expect(badEnv.code).toBe(EXIT.unavailable);
    expect(badEnv.stderr).toContain('is the server running? set TEMPORAL_ADDRESS or --address');
    expect(badEnv.stderr).not.toContain('comes from profile');
    // --address over both.
    const flag = await runCli(
      ['--address', process.env.TEMPORAL_TEST_ADDRESS as string, ...status],
      profileEnv({ TEMPORAL_PROFILE: 'closed', TEMPORAL_ADDRESS: closed }),
    );
    expect(flag.stderr).toBe('');
    expect(flag.code).toBe(EXIT.ok);
    // --profile over TEMPORAL_PROFILE.
    const named = await runCli(['--profile', 'closed', ...status], profileEnv());
    expect(named.code).toBe(EXIT.unavailable);
    expect(named.stderr).toContain(`profile 'closed' in ${file}`);
  }, 60_000);

  test('old variable names and a bad profile stop the CLI (exit 2) and the worker before they connect', async () => {
    const retired = await runCli(
      ['status', 'anything'],
      profileEnv({ TEMPORAL_TLS_CA_PATH: path.join(dir, 'ca.pem') }),
    );
    expect(retired.code).toBe(EXIT.usage);
    expect(retired.stderr).toContain(
      'TEMPORAL_TLS_CA_PATH is no longer read: rename it TEMPORAL_TLS_SERVER_CA_CERT_PATH',
    );
    const unknown = await runCli(['status', 'anything'], profileEnv({ TEMPORAL_PROFILE: 'prod' }));
    expect(unknown.code).toBe(EXIT.usage);
    expect(unknown.stderr).toContain(
      `TEMPORAL_PROFILE prod: ${file} has no [profile.prod] (it has default, ci, closed)`,
    );
    await expect(
      startWorker(
        { taskQueue, ledgerPath, gitCacheDir: path.join(dir, 'worker-cache') },
        {
          TEMPORAL_ADDRESS: undefined,
          TEMPORAL_CONFIG_FILE: file,
          TEMPORAL_PROFILE: 'ci',
          TEMPORAL_TLS_CERT_PATH: path.join(dir, 'client.pem'),
        },
      ),
    ).rejects.toThrow(
      /worker exited \(2\) before polling:\n.*TEMPORAL_TLS_CERT_PATH is no longer read: rename it TEMPORAL_TLS_CLIENT_CERT_PATH/,
    );
  }, 60_000);

  test('TLS and API key settings that fail never print the key or a certificate', async () => {
    const secretFile = await configFile(
      'secret.toml',
      `[profile.certs]\naddress = "${process.env.TEMPORAL_TEST_ADDRESS}"\napi_key = "${API_KEY}"\n` +
        `[profile.certs.tls]\nclient_cert_path = "${path.join(dir, 'client.pem')}"\nclient_key_path = "${path.join(dir, 'client.key')}"\nserver_ca_cert_path = "${path.join(dir, 'ca.pem')}"\n\n` +
        `[profile.apikey]\naddress = "${process.env.TEMPORAL_TEST_ADDRESS}"\napi_key = "${API_KEY}"\n`,
    );
    const workerOn = (profile: string) =>
      startWorker(
        { taskQueue, ledgerPath, gitCacheDir: path.join(dir, 'worker-cache') },
        {
          TEMPORAL_ADDRESS: undefined,
          TEMPORAL_NAMESPACE: undefined,
          TEMPORAL_CONFIG_FILE: secretFile,
          TEMPORAL_PROFILE: profile,
        },
      ).then(
        () => 'polling',
        (err: Error) => err.message,
      );
    const said: string[] = [];
    // Certificates that are not PEM: a configuration error naming the profile (exit 2), not "unreachable".
    const certs = await runCli(
      ['status', 'anything'],
      profileEnv({ TEMPORAL_CONFIG_FILE: secretFile, TEMPORAL_PROFILE: 'certs' }),
    );
    expect(certs.code).toBe(EXIT.usage);
    expect(certs.stderr).toContain(
      `release-promoter: the TLS certificate or key of profile 'certs' in ${secretFile} cannot be used (`,
    );
    const certsWorker = await workerOn('certs');
    expect(certsWorker).toMatch(
      /^worker exited \(1\) before polling:\nrelease-promoter worker: the TLS certificate or key of profile 'certs' in /,
    );
    // An API key turns TLS on; the dev server speaks plain gRPC, so the handshake fails.
    const apiKey = await runCli(
      ['status', 'anything'],
      profileEnv({ TEMPORAL_CONFIG_FILE: secretFile, TEMPORAL_PROFILE: 'apikey' }),
    );
    expect(apiKey.code).toBe(EXIT.unavailable);
    expect(apiKey.stderr).toContain(`release-promoter: cannot reach Temporal at ${process.env.TEMPORAL_TEST_ADDRESS}`);
    const apiKeyWorker = await workerOn('apikey');
    expect(apiKeyWorker).toMatch(/^worker exited \(1\) before polling:/);
    said.push(certs.stdout, certs.stderr, certsWorker, apiKey.stdout, apiKey.stderr, apiKeyWorker);
    for (const secret of SECRETS) expect(said.join('\n')).not.toContain(secret);
  }, 90_000);
});
