// docker-compose.yml runs the server this tier runs: there is no Docker engine here, so the file
// is loaded with compose-go (scripts/check-compose, the library `docker compose` uses) and held
// to the cluster tier: the same server version (and the running server reports it), the same
// config and dynamic config files, the same setup scripts, the same search attributes.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTE_KEYS } from '../../src/workflows/messages';
import { clusterAddress } from './tier';

const execFileAsync = promisify(execFile);
const ROOT = path.resolve(__dirname, '..', '..');
const CHECK_COMPOSE = path.join(ROOT, 'scripts', 'check-compose');

interface ComposeService {
  image?: string;
  build?: unknown;
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: Array<{ type: string; source: string; target: string; read_only?: boolean }>;
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: number };
}

async function checkCompose(args: string[]): Promise<string> {
  const go = process.env.GO ?? 'go';
  const { stdout } = await execFileAsync(go, ['run', '.', ...args, path.join(ROOT, 'docker-compose.yml'), ROOT], {
    cwd: CHECK_COMPOSE,
    encoding: 'utf8',
    env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/local/go/bin` },
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

let services: Record<string, ComposeService>;
beforeAll(async () => {
  services = (JSON.parse(await checkCompose(['-json'])) as { services: Record<string, ComposeService> }).services;
});

/** Where a service sees `file` of this checkout (a bind mount of it or of a directory above it). */
function mountedAt(service: ComposeService, file: string): string | undefined {
  for (const volume of service.volumes ?? []) {
    if (volume.type !== 'bind') continue;
    const relative = path.relative(volume.source, path.join(ROOT, file));
    if (!relative.startsWith('..') && !path.isAbsolute(relative)) return path.posix.join(volume.target, relative);
  }
  return undefined;
}

test('compose-go accepts the file: every service is listed', async () => {
  const lines = (await checkCompose([])).trim().split('\n');
  expect(lines.map((line) => line.split(/\s+/)[1])).toEqual([
    'postgresql',
    'temporal',
    'temporal-namespace',
    'temporal-schema',
    'temporal-ui',
    'worker',
  ]);
  expect(lines.every((line) => line.startsWith('ok '))).toBe(true);
});

test('the server and admin-tools images are the version this tier built and runs', async () => {
  const version = process.env.CLUSTER_TEST_VERSION as string;
  expect(version).toMatch(/^\d+\.\d+\.\d+$/);
  expect(services.temporal?.image).toBe(`temporalio/server:${version}`);
  expect(services['temporal-schema']?.image).toBe(`temporalio/admin-tools:${version}`);
  expect(services['temporal-namespace']?.image).toBe(`temporalio/admin-tools:${version}`);
  expect(Object.values(services).some((s) => s.image?.startsWith('temporalio/auto-setup'))).toBe(false);
  const connection = await Connection.connect({ address: clusterAddress() });
  try {
    const info = await connection.workflowService.getSystemInfo({});
    expect(info.serverVersion).toBe(version);
  } finally {
    await connection.close();
  }
});

test('the temporal service starts on config/temporal/cluster.yaml and its dynamic config, as the tier does', () => {
  const temporalService = services.temporal!;
  const env = temporalService.environment ?? {};
  expect(env.TEMPORAL_SERVER_CONFIG_FILE_PATH).toBe(mountedAt(temporalService, 'config/temporal/cluster.yaml'));
  expect(env.DYNAMIC_CONFIG_FILE_PATH).toBe(mountedAt(temporalService, 'config/temporal/dynamicconfig.yaml'));
  // What cluster.yaml requires.
  expect(Object.keys(env)).toEqual(expect.arrayContaining(['POSTGRES_SEEDS', 'POSTGRES_USER', 'POSTGRES_PWD']));
  expect(temporalService.depends_on?.['temporal-schema']?.condition).toBe('service_completed_successfully');
});

test('the one-shot jobs run the scripts the tier runs, with the search attributes the worker needs', () => {
  const schema = services['temporal-schema']!;
  expect(schema.entrypoint).toEqual(['/bin/sh', mountedAt(schema, 'scripts/cluster/setup-schema.sh')]);
  const namespace = services['temporal-namespace']!;
  expect(namespace.entrypoint).toEqual(['/bin/sh', mountedAt(namespace, 'scripts/cluster/register-namespace.sh')]);
  expect(namespace.environment?.SEARCH_ATTRIBUTES?.split(' ')).toEqual(SEARCH_ATTRIBUTE_KEYS.map((key) => key.name));
  expect(namespace.depends_on?.temporal?.condition).toBe('service_healthy');
  const worker = services.worker!;
  expect(worker.depends_on?.['temporal-namespace']?.condition).toBe('service_completed_successfully');
  expect(worker.deploy?.replicas).toBe(2);
});
