// Cache keys: the image key over everything that makes the image, and the
// configuration key that names the make O= directory.
import { sha256 } from './files.js';
import { RECIPE_VERSION, type Series } from './recipe.js';

export interface KeyInput {
  sourceVersion: string;
  series: Series;
  /** Contents of every patch applied, in application order (series, then extra patches). */
  patches: (string | Buffer)[];
  fragment: string;
  /** Compiler identity (first line of `gcc --version`); '' when unknown. */
  toolchain?: string;
}

/** Image cache key: sha256 over the source version, series, patch contents in order, fragment. */
export function computeKey(k: KeyInput): string {
  const doc = {
    recipe: RECIPE_VERSION,
    sourceVersion: k.sourceVersion,
    series: k.series,
    patches: k.patches.map((p) => sha256(p)),
    fragment: sha256(k.fragment),
    toolchain: k.toolchain ?? '',
  };
  return sha256(JSON.stringify(doc));
}

/** Key of the configuration (and so of the O= build directory): patches do not take part. */
export function configKey(sourceVersion: string, series: Series, fragment: string): string {
  return sha256(JSON.stringify({ recipe: RECIPE_VERSION, sourceVersion, series, fragment: sha256(fragment) })).slice(0, 16);
}
