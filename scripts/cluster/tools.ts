// The cluster tier's Temporal binaries and schemas: scripts/ensure-cluster-tools.sh builds them
// once into .tools/ (the version docker-compose.yml pins) and prints where they are.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { z } from 'zod';

const ROOT = path.resolve(__dirname, '..', '..');

const ClusterToolsSchema = z.object({
  version: z.string().regex(/^\d+\.\d+\.\d+$/),
  server: z.string().min(1),
  sql_tool: z.string().min(1),
  schema: z.string().min(1),
});

export interface ClusterTools {
  /** The server version, as docker-compose.yml pins it (e.g. 1.32.1). */
  version: string;
  server: string;
  sqlTool: string;
  /** schema/postgresql/v12 of the server module: temporal/versioned and visibility/versioned. */
  schemaDir: string;
}

export function ensureClusterTools(): ClusterTools {
  const out = execFileSync('bash', [path.join(ROOT, 'scripts', 'ensure-cluster-tools.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const fields = Object.fromEntries(
    out
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  const parsed = ClusterToolsSchema.safeParse(fields);
  if (!parsed.success)
    throw new Error(`scripts/ensure-cluster-tools.sh printed no version/server/sql_tool/schema lines:\n${out}`);
  const { version, server, sql_tool: sqlTool, schema: schemaDir } = parsed.data;
  return { version, server, sqlTool, schemaDir };
}
