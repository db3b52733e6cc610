// Bundles the workflow code into one file. The worker runs this in a short-lived child process:
// webpack's memory (~150 MiB) is then returned to the system instead of staying in the worker.
// Beside the bundle goes the digest of the sources it was built from (build-digest.ts).
import { writeFile } from 'node:fs/promises';
import { bundleWorkflowCode } from '@temporalio/worker';
import { digestFileOf, sourcesDigest } from './build-digest';

export async function bundleWorkflows(outPath: string): Promise<void> {
  // Taken before bundling: an edit during the build then reads as stale, never as fresh.
  const digest = sourcesDigest();
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('./workflows'),
    preloadModules: [require.resolve('./workflows/shared-modules')],
    logger: {
      log() {},
      trace() {},
      debug() {},
      info() {},
      warn: (m: string) => console.warn(m),
      error: (m: string) => console.error(m),
    } as never,
  });
  await writeFile(outPath, code);
  await writeFile(digestFileOf(outPath), `${digest}\n`);
}

if (require.main === module) {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: bundle.ts <out.js>');
    process.exit(2);
  }
  bundleWorkflows(out).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
