// The worker: connect, make sure the search attributes exist, run promotions until stopped.
import { execFile } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from './activities';
import { digestFileOf, PREBUILT_BUNDLE, prebuiltState, SOURCES_DIR } from './build-digest';
import { openLedger } from './ledger/sink';
import { Config, ConfigError, loadConfig } from './config';
import { connectClient } from './connection';
import { freeLoopbackPort } from './free-port';
import { createLogger } from './logger';
import { serveMetrics } from './metrics';
import { describeConnection, resolveConnection, TemporalConnection } from './temporal-profile';
import { SEARCH_ATTRIBUTE_KEYS } from './workflows/messages';

/**
 * Registers the five Keyword search attributes where the server allows it (the dev server
 * does) and refuses to go on when any is still missing: an unregistered attribute would make
 * every promotion's workflow task fail and retry forever.
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  const keyword = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
  const missing = async () => {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    return SEARCH_ATTRIBUTE_KEYS.map((key) => key.name).filter((name) => customAttributes?.[name] !== keyword);
  };
  const absent = await missing();
  if (absent.length === 0) return;
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(absent.map((name) => [name, keyword])),
    });
  } catch (err) {
    throw new ConfigError(
      `search attributes missing in namespace ${namespace}: ${absent.join(', ')} (Keyword), and registering them failed (${(err as Error).message}). ` +
        `Ask an admin to run: temporal operator search-attribute create --namespace ${namespace} ${absent.map((n) => `--name ${n} --type Keyword`).join(' ')}`,
    );
  }
  for (let attempt = 0; attempt < 50; attempt++) {
    if ((await missing()).length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new ConfigError(
    `search attributes still missing in namespace ${namespace} after registering: ${(await missing()).join(', ')}`,
  );
}

/**
 * The workflow bundle: the prebuilt dist/workflow-bundle.js (`npm run build`) when it was built
 * from the sources beside it, so the worker polls in about a second instead of bundling for ten.
 * In the image there are no sources and the prebuilt bundle is used as it is. In a checkout whose
 * src/ changed since the build, the compiled worker refuses (its own JavaScript is as old as the
 * bundle), and the tsx worker bundles the current sources in a child process (same node flags as
 * this one) into a temp file that is removed once the worker has loaded it.
 */
async function workflowBundle(): Promise<{ codePath: string; temporary: boolean }> {
  const state = prebuiltState();
  if (state === 'fresh' || state === 'no-sources') return { codePath: PREBUILT_BUNDLE, temporary: false };
  if (state === 'stale' && path.extname(__filename) === '.js')
    throw new ConfigError(
      `dist/ was built from other sources than ${SOURCES_DIR} (edited since the last build): run \`npm run build\``,
    );
  const dir = path.join(os.tmpdir(), 'release-promoter-bundles');
  await mkdir(dir, { recursive: true });
  const out = path.join(dir, `workflows-${process.pid}-${Date.now()}.js`);
  const script = path.join(__dirname, `bundle${path.extname(__filename)}`);
  await new Promise<void>((resolve, reject) => {
    execFile(process.execPath, [...process.execArgv, script, out], { maxBuffer: 8 << 20 }, (err, _stdout, stderr) =>
      err ? reject(new Error(`bundling the workflows failed: ${stderr || err.message}`)) : resolve(),
    );
  });
  await rm(digestFileOf(out), { force: true });
  return { codePath: out, temporary: true };
}

export async function createWorker(
  config: Config,
  temporal: TemporalConnection,
): Promise<{ worker: Worker; close: () => Promise<void> }> {
  // First, before any connection: a stale build is refused without touching the server.
  const bundle = await workflowBundle();
  // Both connections at once: each is a TLS/gRPC handshake, and start-up is on the demo's path.
  const [client, native] = await Promise.allSettled([
    connectClient(temporal),
    NativeConnection.connect(temporal.options),
  ]);
  const close = async () => {
    if (native.status === 'fulfilled') await native.value.close();
    if (client.status === 'fulfilled') await client.value.close();
  };
  try {
    if (client.status === 'rejected') throw client.reason;
    if (native.status === 'rejected') throw native.reason;
    await ensureSearchAttributes(client.value, temporal.namespace);
    const worker = await Worker.create({
      connection: native.value,
      namespace: temporal.namespace,
      taskQueue: config.taskQueue,
      workflowBundle: { codePath: bundle.codePath },
      activities: createActivities(config, new Client({ connection: client.value, namespace: temporal.namespace })),
    });
    return { worker, close };
  } catch (err) {
    await close();
    throw err;
  } finally {
    if (bundle.temporary) await rm(bundle.codePath, { force: true });
  }
}

async function main(): Promise<void> {
  let config: Config;
  let temporal: TemporalConnection;
  try {
    config = loadConfig();
    temporal = resolveConnection();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`release-promoter worker: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  // Temporal's SDK metrics go to a loopback port of their own; METRICS_ADDRESS serves ours and
  // re-exports theirs, so one scrape target has both.
  const temporalMetricsAddress = config.metricsAddress ? `127.0.0.1:${await freeLoopbackPort()}` : undefined;
  Runtime.install({
    logger: createLogger(config.logLevel),
    telemetryOptions: temporalMetricsAddress
      ? { metrics: { prometheus: { bindAddress: temporalMetricsAddress } } }
      : undefined,
  });
  if (config.metricsAddress && temporalMetricsAddress) {
    await serveMetrics(config.metricsAddress, `http://${temporalMetricsAddress}/metrics`).catch((err: Error) => {
      console.error(`release-promoter worker: ${err.message}`);
      process.exit(2);
    });
  }
  const { worker, close } = await createWorker(config, temporal);
  // The worker starts on a ledger it cannot trust, and says so: appends stop with a typed
  // retryable failure naming the line (promotions wait; nothing is rolled back) until the file
  // is repaired, while the rest (gates, approvals, queries) goes on. Refusing to start would stop
  // those too and fix nothing.
  const ledgerProblem = await openLedger(config.ledger, config.gitCacheDir).startupProblem();
  if (ledgerProblem)
    console.error(`release-promoter worker: WARNING: appends to the ledger are stopped: ${ledgerProblem}`);
  if (config.crashAt)
    console.error(
      `release-promoter worker: WARNING: test crash point set (RELEASE_PROMOTER_TEST_CRASH_AT=${config.crashAt.text}): this worker kills itself there; unset it outside the fault suite`,
    );
  console.error(
    `release-promoter worker: polling ${config.taskQueue} on ${describeConnection(temporal)}; ledger ${config.ledgerPath}`,
  );
  try {
    await worker.run();
  } finally {
    await close();
  }
  // Shutdown is complete (in-flight tasks finished or handed back); do not wait on idle handles.
  process.exit(0);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(
      `release-promoter worker: ${err instanceof ConfigError ? err.message : ((err as Error).stack ?? String(err))}`,
    );
    process.exit(1);
  });
}
