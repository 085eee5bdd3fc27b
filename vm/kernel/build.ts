// buildKernel: a reference kernel from Debian's linux-source-<series> tree
// (or a tree given with --source), the hand-written O_MAYEXEC v7 patch
// series and any fault patches, the config fragment, built with ccache into
// the content-addressed image cache. This file only puts the steps in
// order; each step lives in a file of its own (recipe.ts has the cache
// layout).
import { createWriteStream, existsSync, mkdirSync, readFileSync, statSync, type WriteStream } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { BadInputError } from '../errors.js';
import { cacheRoot } from '../paths.js';
import { ensureDebianSource, dpkgVersion } from './debian-source.js';
import { readIfExists, sha256 } from './files.js';
import { cachedImage, storeImage, type CacheMeta, type CachedImage } from './image-cache.js';
import { computeKey, configKey } from './keys.js';
import { acquireLock } from './lock.js';
import { configure, makeBzImage, makeContext, toolchainId, type MadeImage } from './make.js';
import { cachePaths, fragmentPath, PATCH_SETS, SERIES, seriesPatches, type CachePaths, type PatchSet, type Series } from './recipe.js';
import { ensureWorkTree, syncWorkTree, type SyncResult } from './work-tree.js';

export interface BuildOptions {
  series: Series;
  /** A kernel source tree to use instead of Debian's linux-source-<series> (never modified). */
  source?: string;
  patches: PatchSet;
  /** Absolute paths of extra patch files applied after the series (fault patches). */
  extraPatches?: string[];
  /** Cache root; default $OMAYEXEC_CACHE or ~/.cache/omayexec-conformance. */
  cacheDir?: string;
  log?: (line: string) => void;
}

export interface BuildResult {
  image: string;
  config: string;
  key: string;
  cached: boolean;
  seconds: number;
}

/** Everything the image is made of, read once up front. */
interface Inputs {
  series: Series;
  patches: PatchSet;
  extra: string[];
  /** Series patches, then the extra ones: in application order. */
  patchFiles: string[];
  patchTexts: Buffer[];
  fragment: string;
  toolchain: string;
  cache: string;
}

/** Where the source tree is and which version it is (Debian: null until the package is installed). */
interface Source {
  pristine: string;
  version: string | null;
  workName: string;
}

/** Bad options are bad input, found before anything is read or learnt. */
function checkOptions(o: BuildOptions): void {
  if (!SERIES.includes(o.series)) throw new BadInputError(`unknown series ${String(o.series)} (known: ${SERIES.join(', ')})`);
  if (!PATCH_SETS.includes(o.patches)) throw new BadInputError(`unknown patch set ${String(o.patches)} (known: ${PATCH_SETS.join(', ')})`);
  for (const p of o.extraPatches ?? []) {
    if (!isAbsolute(p)) throw new BadInputError(`extra patch path must be absolute: ${p}`);
    if (!existsSync(p) || !statSync(p).isFile()) throw new BadInputError(`extra patch ${p}: ${existsSync(p) ? 'not a file' : 'no such file'}`);
  }
}

function readInputs(o: BuildOptions, cache: string): Inputs {
  const extra = o.extraPatches ?? [];
  const patchFiles = [...seriesPatches(o.series, o.patches), ...extra];
  return {
    series: o.series,
    patches: o.patches,
    extra,
    patchFiles,
    patchTexts: patchFiles.map((p) => readFileSync(p)),
    fragment: readFileSync(fragmentPath(), 'utf8'),
    toolchain: toolchainId(),
    cache,
  };
}

/** A --source tree is named by its Makefile and path; Debian's by the installed package version. */
function identifySource(o: BuildOptions, cache: string): Source {
  if (o.source) {
    const pristine = resolve(o.source);
    const mk = readIfExists(join(pristine, 'Makefile'));
    if (!mk) throw new BadInputError(`--source ${pristine} is not a kernel tree (no Makefile)`);
    const h = sha256(Buffer.concat([mk, Buffer.from(`\0${pristine}`)]));
    return { pristine, version: `dir:${h}`, workName: `linux-custom-${h.slice(0, 16)}` };
  }
  return {
    pristine: cachePaths(cache, o.series, '').debianTree,
    version: dpkgVersion(`linux-source-${o.series}`),
    workName: `linux-${o.series}`,
  };
}

function imageKey(i: Inputs, sourceVersion: string): string {
  return computeKey({ sourceVersion, series: i.series, patches: i.patchTexts, fragment: i.fragment, toolchain: i.toolchain });
}

function describe(i: Inputs): string {
  return `${i.series} ${i.patches}${i.extra.length ? ` + ${i.extra.length} extra patch(es)` : ''}`;
}

/** The full build log (logs/<key>.log): lines written before the key is known wait for it. */
class BuildLog {
  private readonly pending: string[] = [];
  private stream: WriteStream | null = null;

  readonly line = (l: string): void => {
    if (this.stream) this.stream.write(l + '\n');
    else this.pending.push(l);
  };

  open(path: string): void {
    mkdirSync(dirname(path), { recursive: true });
    this.stream = createWriteStream(path, { flags: 'w' });
    for (const l of this.pending.splice(0)) this.stream.write(l + '\n');
  }

  close(): Promise<void> {
    const s = this.stream;
    return s ? new Promise<void>((r) => s.end(() => r())) : Promise.resolve();
  }
}

/** The work tree made a copy of `pristine` with exactly `patchFiles` applied. */
async function patchWorkTree(pristine: string, version: string, i: Inputs, paths: CachePaths, log: (l: string) => void, logLine: (l: string) => void): Promise<SyncResult> {
  await ensureWorkTree(pristine, paths.work, paths.state, version, log, logLine);
  log(`[patches] applying ${i.patchFiles.length ? i.patchFiles.map((p) => basename(p)).join(', ') : 'no patch (pristine tree)'}`);
  const sync = await syncWorkTree(pristine, paths.work, paths.state, i.patchFiles, log, paths.scratch);
  logLine(`[patches] rewritten: ${sync.changed.join(' ') || '(none)'}`);
  return sync;
}

/** What meta.json records of a build beside the image's own size and hash. */
function entryMeta(i: Inputs, key: string, source: { pristine: string; version: string }, buildDir: string, made: MadeImage): Omit<CacheMeta, 'imageBytes' | 'imageSha256'> {
  return {
    key,
    series: i.series,
    patches: i.patches,
    patchFiles: seriesPatches(i.series, i.patches).map((p) => ({ name: basename(p), sha256: sha256(readFileSync(p)) })),
    extraPatches: i.extra.map((p) => ({ path: p, sha256: sha256(readFileSync(p)) })),
    source: source.pristine,
    sourceVersion: source.version,
    fragmentSha256: sha256(i.fragment),
    toolchain: i.toolchain,
    kernelRelease: (readIfExists(join(buildDir, 'include/config/kernel.release')) ?? Buffer.from('')).toString().trim(),
    builtAt: new Date().toISOString(),
    buildSeconds: Math.round(made.seconds * 10) / 10,
    compiledObjects: made.objects,
    buildDir,
  };
}

function result(entry: CachedImage, cached: boolean, started: number): BuildResult {
  return { image: entry.image, config: entry.config, key: entry.key, cached, seconds: (Date.now() - started) / 1000 };
}

export async function buildKernel(o: BuildOptions): Promise<BuildResult> {
  const started = Date.now();
  const log = o.log ?? (() => {});
  checkOptions(o);
  const cache = resolve(o.cacheDir ?? cacheRoot());
  const source = identifySource(o, cache);
  const inputs = readInputs(o, cache);
  const paths = cachePaths(inputs.cache, inputs.series, source.workName);

  if (source.version) {
    const key = imageKey(inputs, source.version);
    const hit = cachedImage(paths.entry(key), key, log);
    if (hit) {
      log(`[cache] ${inputs.series} ${inputs.patches}${inputs.extra.length ? ` +${inputs.extra.length} extra` : ''}: cached image ${hit.image}`);
      return result(hit, true, started);
    }
  }

  const release = await acquireLock(paths.lock, log);
  const buildLog = new BuildLog();
  try {
    const tree = o.source ? { pristine: source.pristine, version: source.version! } : await ensureDebianSource(inputs.series, inputs.cache, log, buildLog.line);
    const key = imageKey(inputs, tree.version);
    const again = cachedImage(paths.entry(key), key, log);
    if (again) {
      log(`[cache] built meanwhile by another process: ${again.image}`);
      return result(again, true, started);
    }
    const logPath = paths.log(key);
    buildLog.open(logPath);
    log(`[build] ${describe(inputs)}, key ${key.slice(0, 16)}..., log ${logPath}`);

    const sync = await patchWorkTree(tree.pristine, tree.version, inputs, paths, log, buildLog.line);
    const cfgKey = configKey(tree.version, inputs.series, inputs.fragment);
    const make = makeContext({
      what: `${inputs.series}, ${inputs.patches}`,
      series: inputs.series,
      work: paths.work,
      buildDir: paths.buildDir(cfgKey),
      logPath,
      log,
      logLine: buildLog.line,
    });
    const config = await configure(make, cfgKey, sync.touched, inputs.fragment);
    const made = await makeBzImage(make);

    const stored = storeImage(paths.entry(key), { image: made.image, config }, entryMeta(inputs, key, tree, make.buildDir, made));
    const done = result(stored, false, started);
    log(
      `[done] ${stored.image} (${stored.meta.imageBytes} bytes, ${made.objects} objects compiled, ` +
        `make ${stored.meta.buildSeconds} s, total ${Math.round(done.seconds)} s)`,
    );
    return done;
  } finally {
    await buildLog.close();
    release();
  }
}
