// The content-addressed image cache (kernels/<key>/ under the cache root):
// an entry is used only when complete and intact, and stored atomically
// with what it was built from.
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { sha256OfFile } from '../file-hash.js';
import { sha256 } from './files.js';
import type { PatchSet, Series } from './recipe.js';

export interface CachedImage {
  image: string;
  config: string;
  key: string;
}

/** meta.json of an entry: what went into the image, and how the build went. */
export interface CacheMeta {
  key: string;
  series: Series;
  patches: PatchSet;
  patchFiles: { name: string; sha256: string }[];
  extraPatches: { path: string; sha256: string }[];
  source: string;
  sourceVersion: string;
  fragmentSha256: string;
  toolchain: string;
  kernelRelease: string;
  builtAt: string;
  buildSeconds: number;
  compiledObjects: number;
  imageBytes: number;
  imageSha256: string;
  buildDir: string;
}

/**
 * The entry in `dir`, if complete and intact: the image must hash to what
 * was recorded when it was stored (older entries: its recorded size), or it
 * is rebuilt, never booted.
 */
export function cachedImage(dir: string, key: string, log: (l: string) => void): CachedImage | null {
  const image = join(dir, 'bzImage');
  if (!existsSync(image) || !existsSync(join(dir, 'meta.json')) || !existsSync(join(dir, '.config'))) return null;
  const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as Partial<CacheMeta>;
  const intact = meta.imageSha256 ? sha256OfFile(image) === meta.imageSha256 : statSync(image).size === meta.imageBytes;
  if (!intact) {
    log(`[cache] ${image} does not match what was stored (${meta.imageSha256 ? 'sha256' : 'size'}): rebuilding it`);
    return null;
  }
  return { image, config: join(dir, '.config'), key };
}

/** Store a built image and its .config as the entry `dir`, replacing any older one in one rename. */
export function storeImage(dir: string, built: { image: string; config: string }, meta: Omit<CacheMeta, 'imageBytes' | 'imageSha256'>): CachedImage & { meta: CacheMeta } {
  mkdirSync(dirname(dir), { recursive: true });
  const tmpDir = mkdtempSync(join(dirname(dir), `.${meta.key.slice(0, 16)}-`));
  chmodSync(tmpDir, 0o755); // mkdtemp makes it 0700: let anyone boot the image
  copyFileSync(built.image, join(tmpDir, 'bzImage'));
  copyFileSync(built.config, join(tmpDir, '.config'));
  const { buildDir, ...rest } = meta; // buildDir stays the last field, as in older entries
  const full: CacheMeta = { ...rest, imageBytes: statSync(built.image).size, imageSha256: sha256(readFileSync(built.image)), buildDir };
  writeFileSync(join(tmpDir, 'meta.json'), JSON.stringify(full, null, 2) + '\n');
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmpDir, dir);
  return { image: join(dir, 'bzImage'), config: join(dir, '.config'), key: meta.key, meta: full };
}
