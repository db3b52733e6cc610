// Is dist/ what src/ says? `npm run build` writes, beside the workflow bundle, the digest of the
// sources it was built from; the worker and the demo compare it with src/ as it is now, so a
// checkout edited since its build never runs old workflow code by surprise. Loads no Temporal
// package (the demo asks before it starts anything).
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
export const PREBUILT_BUNDLE = path.join(ROOT, 'dist', 'workflow-bundle.js');

/** The sources a bundle is built from: src/ as a whole (cheap to hash, and never misses an import). */
export const SOURCES_DIR = path.join(ROOT, 'src');

/** `<bundle>.sources`: the digest file written beside a bundle. */
export const digestFileOf = (bundlePath: string): string => `${bundlePath}.sources`;

/** sha256 over every .ts/.js file under `dir`, by relative path and content (about 5 ms for src/). */
export function sourcesDigest(dir = SOURCES_DIR): string {
  const hash = createHash('sha256');
  const walk = (sub: string): void => {
    for (const entry of readdirSync(path.join(dir, sub), { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )) {
      const rel = path.posix.join(sub, entry.name);
      if (entry.isDirectory()) walk(rel);
      else if (/\.(ts|js)$/.test(entry.name))
        hash
          .update(`${rel}\0`)
          .update(readFileSync(path.join(dir, rel)))
          .update('\0');
    }
  };
  walk('');
  return hash.digest('hex');
}

/** `fresh`: dist/ was built from src/ as it is; `no-sources`: an image with dist/ only. */
export function prebuiltState(): 'fresh' | 'stale' | 'missing' | 'no-sources' {
  if (!existsSync(PREBUILT_BUNDLE)) return 'missing';
  if (!existsSync(SOURCES_DIR)) return 'no-sources';
  let built = '';
  try {
    built = readFileSync(digestFileOf(PREBUILT_BUNDLE), 'utf8').trim();
  } catch {
    // a bundle from before digests were written: stale by definition
  }
  return built === sourcesDigest() ? 'fresh' : 'stale';
}
