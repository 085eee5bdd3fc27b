// What a reference kernel is made of and where each piece lives: the
// series and patch sets, the project's patch and config files
// (vm/kernel/patches, vm/kernel/config), the fixed build identity, and the
// layout of the build cache.
//
// Layout under the cache root ($OMAYEXEC_CACHE or ~/.cache/omayexec-conformance):
//   src/linux-source-<series>/            pristine Debian tree (never modified)
//   src/linux-source-<series>.unpacked    marker: the version that was unpacked
//   work/linux-<series>/                  ONE work tree per series, patched in place
//   work/linux-<series>.state.json        which files the applied patches touched
//   work/linux-<series>.lock              pid of the build using that work tree
//   work/linux-<series>-build-<cfg>/      make O= directory, one per configuration
//   kernels/<key>/{bzImage,.config,meta.json}
//   logs/<key>.log                        full output of the last build of <key>
//   tmp/                                  scratch copies the patches are applied to
// (a --source tree gets work/linux-custom-<hash> instead of work/linux-<series>).
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HarnessError } from '../errors.js';

export type Series = '6.1' | '6.12';
export const SERIES: readonly Series[] = ['6.1', '6.12'];
export type PatchSet = 'omayexec-v7' | 'none';
export const PATCH_SETS: readonly PatchSet[] = ['omayexec-v7', 'none'];

/** Bump when the recipe changes in a way that changes the image (make flags...). */
export const RECIPE_VERSION = 1;

/** Fixed build identity, so that two builds of the same inputs give the same image. */
export const REPRODUCIBLE_ENV: Readonly<Record<string, string>> = {
  KBUILD_BUILD_TIMESTAMP: 'Thu Jul 23 00:00:00 UTC 2020',
  KBUILD_BUILD_USER: 'omayexec',
  KBUILD_BUILD_HOST: 'omayexec-conformance',
  KBUILD_BUILD_VERSION: '1',
};

/** The project's vm/kernel directory (works from dist/vm/kernel and from vm/kernel). */
export function kernelAssetsDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [resolve(here, '../../../vm/kernel'), resolve(here, '../../vm/kernel'), here];
  for (const c of candidates) {
    if (existsSync(join(c, 'config', 'omayexec.fragment'))) return c;
  }
  throw new HarnessError(`cannot find vm/kernel/config/omayexec.fragment near ${here}`);
}

export function fragmentPath(): string {
  return join(kernelAssetsDir(), 'config', 'omayexec.fragment');
}

/** Absolute paths of the patches of a set for a series, in application order. */
export function seriesPatches(series: Series, patches: PatchSet): string[] {
  if (patches === 'none') return [];
  const dir = join(kernelAssetsDir(), 'patches', patches, series);
  if (!existsSync(dir)) throw new HarnessError(`no patch series ${patches} for ${series} (${dir} is missing)`);
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.patch'))
    .sort();
  if (files.length === 0) throw new HarnessError(`patch series directory ${dir} holds no .patch file`);
  return files.map((f) => join(dir, f));
}

/** The cache paths of one build (see the layout above). */
export interface CachePaths {
  /** Pristine Debian tree of the series (unused with --source). */
  debianTree: string;
  work: string;
  state: string;
  lock: string;
  buildDir(cfgKey: string): string;
  kernels: string;
  entry(key: string): string;
  logs: string;
  log(key: string): string;
  scratch: string;
}

export function cachePaths(cache: string, series: Series, workName: string): CachePaths {
  const work = join(cache, 'work', workName);
  return {
    debianTree: join(cache, 'src', `linux-source-${series}`),
    work,
    state: `${work}.state.json`,
    lock: `${work}.lock`,
    buildDir: (cfgKey) => `${work}-build-${cfgKey}`,
    kernels: join(cache, 'kernels'),
    entry: (key) => join(cache, 'kernels', key),
    logs: join(cache, 'logs'),
    log: (key) => join(cache, 'logs', `${key}.log`),
    scratch: join(cache, 'tmp'),
  };
}
