// Where things live: the project tree, the cache, the results.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Project root (this file is dist/vm/paths.js once compiled). */
export const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

/** The guest tree produced by `npm run build` (runner, bundled suites, helpers). */
export const guestTree = join(projectRoot, 'dist/guest');

export function cacheRoot(): string {
  return process.env.OMAYEXEC_CACHE ?? join(homedir(), '.cache', 'omayexec-conformance');
}

export function resultsRoot(): string {
  return process.env.OMAYEXEC_RESULTS ?? join(projectRoot, 'results');
}

/**
 * Extra suite files (*.js) to ship and offer besides the built ones. Only the
 * project's own fault tests use it (a suite that hangs, crashes, warns...).
 */
export function extraSuitesDir(): string | null {
  return process.env.OMAYEXEC_EXTRA_SUITES ?? null;
}
