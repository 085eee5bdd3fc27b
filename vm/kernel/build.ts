// Reference kernel build recipe: Debian's linux-source-<series> tree, the
// hand-written O_MAYEXEC v7 patch series (vm/kernel/patches), the config
// fragment (vm/kernel/config/omayexec.fragment), built with ccache into a
// content-addressed image cache.
//
// Layout under the cache root ($OMAYEXEC_CACHE or ~/.cache/omayexec-conformance):
//   src/linux-source-<series>/            pristine Debian tree (never modified)
//   src/linux-source-<series>.unpacked    marker: the version that was unpacked
//   work/linux-<series>/                  ONE work tree per series, patched in place
//   work/linux-<series>.state.json        which files the applied patches touched
//   work/linux-<series>-build-<cfg>/      make O= directory, one per configuration
//   kernels/<key>/{bzImage,.config,meta.json}
//   logs/<key>.log                        full output of the last build of <key>
//
// Switching patch sets only rewrites the files whose final content changes,
// so make recompiles only what the patches really change.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
  type WriteStream,
} from 'node:fs';
import { availableParallelism, homedir } from 'node:os';
import { dirname, isAbsolute, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkFragment } from '../kconfig.js';
import { runToEnd, type RunToEndResult } from '../process-lines.js';

export type Series = '6.1' | '6.12';
export const SERIES: readonly Series[] = ['6.1', '6.12'];
export type PatchSet = 'omayexec-v7' | 'none';
export const PATCH_SETS: readonly PatchSet[] = ['omayexec-v7', 'none'];

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

/** Bump when the recipe changes in a way that changes the image (make flags...). */
export const RECIPE_VERSION = 1;

/** Fixed build identity, so that two builds of the same inputs give the same image. */
export const REPRODUCIBLE_ENV: Readonly<Record<string, string>> = {
  KBUILD_BUILD_TIMESTAMP: 'Thu Jul 23 00:00:00 UTC 2020',
  KBUILD_BUILD_USER: 'omayexec',
  KBUILD_BUILD_HOST: 'omayexec-conformance',
  KBUILD_BUILD_VERSION: '1',
};

// ---------------------------------------------------------------------------
// Paths

export function defaultCacheDir(): string {
  return process.env.OMAYEXEC_CACHE ?? join(homedir(), '.cache', 'omayexec-conformance');
}

/** The project's vm/kernel directory (works from dist/vm/kernel and from vm/kernel). */
export function kernelAssetsDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [resolve(here, '../../../vm/kernel'), resolve(here, '../../vm/kernel'), here];
  for (const c of candidates) {
    if (existsSync(join(c, 'config', 'omayexec.fragment'))) return c;
  }
  throw new Error(`cannot find vm/kernel/config/omayexec.fragment near ${here}`);
}

export function fragmentPath(): string {
  return join(kernelAssetsDir(), 'config', 'omayexec.fragment');
}

/** Absolute paths of the patches of a set for a series, in application order. */
export function seriesPatches(series: Series, patches: PatchSet): string[] {
  if (patches === 'none') return [];
  const dir = join(kernelAssetsDir(), 'patches', patches, series);
  if (!existsSync(dir)) throw new Error(`no patch series ${patches} for ${series} (${dir} is missing)`);
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.patch'))
    .sort();
  if (files.length === 0) throw new Error(`patch series directory ${dir} holds no .patch file`);
  return files.map((f) => join(dir, f));
}

// ---------------------------------------------------------------------------
// Pure helpers (unit-tested)

export interface KeyInput {
  sourceVersion: string;
  series: Series;
  /** Contents of every patch applied, in application order (series, then extra patches). */
  patches: (string | Buffer)[];
  fragment: string;
  /** Compiler identity (first line of `gcc --version`); '' when unknown. */
  toolchain?: string;
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
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

/**
 * Files a unified diff touches (paths after stripping one leading component,
 * as patch -p1 does). Hunk bodies are skipped by counting their lines, so a
 * removed line that starts with "-- " is never taken for a header.
 */
export function touchedFiles(patchText: string): string[] {
  const files = new Set<string>();
  const lines = patchText.split('\n');
  let oldLeft = 0;
  let newLeft = 0;
  let pendingOld: string | null = null;
  const strip = (p: string): string | null => {
    const path = p.split('\t')[0]!.trim();
    if (path === '/dev/null') return null;
    const slash = path.indexOf('/');
    const rel = slash >= 0 ? path.slice(slash + 1) : path;
    const n = normalize(rel);
    if (!n || isAbsolute(n) || n.startsWith('..')) throw new Error(`patch names an unsafe path: ${path}`);
    return n;
  };
  for (const line of lines) {
    if (oldLeft > 0 || newLeft > 0) {
      if (line.startsWith('\\')) continue; // "\ No newline at end of file"
      const c = line[0];
      if (c === '-') oldLeft--;
      else if (c === '+') newLeft--;
      else {
        oldLeft--;
        newLeft--;
      }
      continue;
    }
    if (line.startsWith('--- ')) {
      pendingOld = line.slice(4);
      continue;
    }
    if (line.startsWith('+++ ') && pendingOld !== null) {
      const o = strip(pendingOld);
      const n = strip(line.slice(4));
      if (o) files.add(o);
      if (n) files.add(n);
      pendingOld = null;
      continue;
    }
    const h = /^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@/.exec(line);
    if (h) {
      oldLeft = h[1] === undefined ? 1 : Number(h[1]);
      newLeft = h[2] === undefined ? 1 : Number(h[2]);
      continue;
    }
    pendingOld = null;
  }
  return [...files].sort();
}

// ---------------------------------------------------------------------------
// Processes

function capture(cmd: string, args: string[]): string | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  return r.stdout;
}

function toolchainId(): string {
  const v = capture('gcc', ['--version']);
  return v ? v.split('\n')[0]!.trim() : '';
}

function haveCcache(): boolean {
  return capture('ccache', ['--version']) !== null;
}

// ---------------------------------------------------------------------------
// Debian source

/** The installed version of a Debian package, read from dpkg's status file (dpkg-query costs ~10 ms a spawn). */
function dpkgVersion(pkg: string, statusFile = '/var/lib/dpkg/status'): string | null {
  let status: string;
  try {
    status = readFileSync(statusFile, 'utf8');
  } catch {
    return null;
  }
  const at = status.startsWith(`Package: ${pkg}\n`) ? 0 : status.indexOf(`\nPackage: ${pkg}\n`);
  if (at < 0) return null;
  const end = status.indexOf('\n\n', at + 1);
  const stanza = status.slice(at, end < 0 ? undefined : end);
  const field = (name: string) => new RegExp(`^${name}: (.*)$`, 'm').exec(stanza)?.[1]?.trim() ?? null;
  return field('Status')?.endsWith(' installed') ? field('Version') : null;
}

function makefileVersion(dir: string): string | null {
  try {
    const mk = readFileSync(join(dir, 'Makefile'), 'utf8');
    const get = (k: string) => new RegExp(`^${k}[ \\t]*=[ \\t]*(\\S*)[ \\t]*$`, 'm').exec(mk)?.[1] ?? '';
    const v = get('VERSION');
    if (!v) return null;
    return `${v}.${get('PATCHLEVEL')}.${get('SUBLEVEL')}${get('EXTRAVERSION')}`;
  } catch {
    return null;
  }
}

async function ensureDebianSource(
  series: Series,
  cache: string,
  log: (l: string) => void,
  logLine: (l: string) => void,
): Promise<{ pristine: string; version: string }> {
  const pkg = `linux-source-${series}`;
  const tarball = `/usr/src/${pkg}.tar.xz`;
  let version = dpkgVersion(pkg);
  const pristine = join(cache, 'src', pkg);
  const marker = `${pristine}.unpacked`;
  const upstream = (v: string) => v.split('-')[0]!.split('+')[0]!;

  const treeOk = (): boolean => {
    if (!version || !existsSync(join(pristine, 'Makefile'))) return false;
    if (existsSync(marker)) return readFileSync(marker, 'utf8').trim() === version;
    // A tree unpacked by someone else (setup step): adopt it if its Makefile
    // has the package's upstream version.
    if (makefileVersion(pristine) === upstream(version)) {
      writeFileSync(marker, `${version}\n`);
      log(`[source] adopting the existing pristine tree ${pristine} (${version})`);
      return true;
    }
    return false;
  };
  if (treeOk()) return { pristine, version: version! };

  if (!version || !existsSync(tarball)) {
    log(`[source] ${tarball} is missing: running apt-get install -y ${pkg} (about 130 MiB download)`);
    const r = await runToEnd('apt-get', ['install', '-y', '--no-install-recommends', ...(version ? ['--reinstall'] : []), pkg], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      onLine: (l) => {
        logLine(l);
        if (/^(Get:|Unpacking|Setting up|E:)/.test(l)) log(`[source] apt: ${l}`);
      },
      heartbeat: (s) => log(`[source] apt-get still running (${s} s)`),
    });
    if (r.code !== 0) throw new Error(`apt-get install ${pkg} failed (exit ${r.code}):\n${r.tail.slice(-15).join('\n')}`);
    version = dpkgVersion(pkg);
    if (!version || !existsSync(tarball)) throw new Error(`apt-get installed ${pkg} but ${tarball} is still missing`);
  }

  log(`[source] unpacking ${tarball} into ${pristine} (1.5 GB, ~30 s)`);
  mkdirSync(join(cache, 'src'), { recursive: true });
  const tmp = mkdtempSync(join(cache, 'src', `.unpack-${series}-`));
  try {
    const r = await runToEnd('tar', ['-xf', tarball, '-C', tmp], {
      onLine: logLine,
      heartbeat: (s) => log(`[source] still unpacking (${s} s)`),
    });
    if (r.code !== 0) throw new Error(`tar -xf ${tarball} failed (exit ${r.code}):\n${r.tail.slice(-10).join('\n')}`);
    const top = readdirSync(tmp);
    const inner = join(tmp, top[0] ?? '');
    if (top.length !== 1 || !existsSync(join(inner, 'Makefile'))) {
      throw new Error(`${tarball} does not hold one top-level kernel tree (found: ${top.join(' ')})`);
    }
    // Swap the trees with renames (no window without a tree), then delete the old one.
    rmSync(marker, { force: true });
    const old = join(tmp, '.old-tree');
    if (existsSync(pristine)) renameSync(pristine, old);
    renameSync(inner, pristine);
    writeFileSync(marker, `${version}\n`);
  } finally {
    if (existsSync(join(tmp, '.old-tree'))) log('[source] removing the previous tree (~20 s)');
    rmSync(tmp, { recursive: true, force: true });
  }
  return { pristine, version };
}

// ---------------------------------------------------------------------------
// Work tree: one per series, switched between patch sets file by file

interface WorkState {
  pristine: string;
  sourceVersion: string;
  /** Files the applied patches touched (restored from pristine before another set is applied). */
  touched: string[];
  /** Applied patches (basename + sha256); null while a switch is in progress. */
  applied: { name: string; sha256: string }[] | null;
}

function readState(path: string): WorkState | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as WorkState;
  } catch {
    return null;
  }
}

function writeState(path: string, s: WorkState): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(s, null, 2) + '\n');
  renameSync(tmp, path);
}

function readIfExists(path: string): Buffer | null {
  try {
    return readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** Replace a file's content atomically (new inode, new mtime), keeping a mode. */
function writeFileAtomic(path: string, data: Buffer, mode: number): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.omayexec-tmp`;
  writeFileSync(tmp, data);
  chmodSync(tmp, mode & 0o7777);
  renameSync(tmp, path);
}

export interface SyncResult {
  /** Files whose content was rewritten (or removed) in the work tree. */
  changed: string[];
  /** Files the requested patches touch. */
  touched: string[];
}

/**
 * Make `work` equal to `pristine` plus `patchFiles` (applied in order with
 * patch -p1, no fuzz), rewriting only the files whose content changes. The
 * patches are applied to copies of the touched files in a scratch directory;
 * every file touched by the previous or the new patch set is then compared
 * with its desired content and rewritten only if it differs, so the mtimes
 * of unchanged files are kept and make recompiles only what changed.
 */
export async function syncWorkTree(
  pristine: string,
  work: string,
  statePath: string,
  patchFiles: string[],
  log: (line: string) => void = () => {},
  scratchParent?: string,
): Promise<SyncResult> {
  const prev = readState(statePath);
  const prevTouched = prev?.touched ?? [];
  const texts = patchFiles.map((p) => readFileSync(p, 'utf8'));
  const newTouched = [...new Set(texts.flatMap((t) => touchedFiles(t)))].sort();

  if (scratchParent) mkdirSync(scratchParent, { recursive: true });
  const scratch = mkdtempSync(join(scratchParent ?? dirname(work), '.patch-scratch-'));
  try {
    for (const f of newTouched) {
      const src = join(pristine, f);
      if (existsSync(src)) {
        mkdirSync(dirname(join(scratch, f)), { recursive: true });
        copyFileSync(src, join(scratch, f));
      }
    }
    for (const p of patchFiles) {
      const r = await runToEnd('patch', ['-p1', '--batch', '--forward', '--fuzz=0', '--no-backup-if-mismatch', '-r', '-', '-d', scratch, '-i', p]);
      if (r.code !== 0) {
        throw new Error(`patch ${p} does not apply (patch -p1 --fuzz=0, exit ${r.code}):\n${r.tail.slice(-15).join('\n')}`);
      }
    }

    const all = [...new Set([...prevTouched, ...newTouched])].sort();
    // Record the union first: if we are interrupted, the next run restores all of them.
    writeState(statePath, {
      pristine,
      sourceVersion: prev?.sourceVersion ?? '',
      touched: all,
      applied: null,
    });
    const changed: string[] = [];
    const newSet = new Set(newTouched);
    for (const f of all) {
      const fromScratch = newSet.has(f);
      const srcPath = join(fromScratch ? scratch : pristine, f);
      const desired = readIfExists(srcPath);
      const dst = join(work, f);
      const current = readIfExists(dst);
      if (desired === null) {
        if (current !== null) {
          unlinkSync(dst);
          changed.push(f);
        }
        continue;
      }
      if (current !== null && current.equals(desired)) continue;
      const pristineStat = existsSync(join(pristine, f)) ? statSync(join(pristine, f)) : null;
      writeFileAtomic(dst, desired, pristineStat?.mode ?? statSync(srcPath).mode);
      changed.push(f);
    }
    writeState(statePath, {
      pristine,
      sourceVersion: prev?.sourceVersion ?? '',
      touched: newTouched,
      applied: patchFiles.map((p, i) => ({ name: p.split('/').pop()!, sha256: sha256(texts[i]!) })),
    });
    log(
      `[patches] ${patchFiles.length} patch(es) touching ${newTouched.length} file(s); ` +
        `${changed.length} file(s) rewritten${changed.length ? ': ' + changed.slice(0, 8).join(' ') + (changed.length > 8 ? ' ...' : '') : ''}`,
    );
    return { changed, touched: newTouched };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function ensureWorkTree(
  pristine: string,
  work: string,
  statePath: string,
  sourceVersion: string,
  log: (l: string) => void,
  logLine: (l: string) => void,
): Promise<void> {
  const st = readState(statePath);
  if (existsSync(join(work, 'Makefile')) && st && st.pristine === pristine && st.sourceVersion === sourceVersion) return;
  if (existsSync(work)) {
    log(`[work] ${work} belongs to another source (${st?.sourceVersion ?? 'unknown'}); recreating it`);
    rmSync(work, { recursive: true, force: true });
  }
  log(`[work] copying the pristine tree to ${work} (1.5 GB, ~20 s)`);
  mkdirSync(dirname(work), { recursive: true });
  const tmp = `${work}.copying`;
  rmSync(tmp, { recursive: true, force: true });
  const r = await runToEnd('cp', ['-a', '--reflink=auto', pristine, tmp], {
    onLine: logLine,
    heartbeat: (s) => log(`[work] still copying (${s} s)`),
  });
  if (r.code !== 0) throw new Error(`cp -a ${pristine} ${tmp} failed (exit ${r.code}):\n${r.tail.slice(-10).join('\n')}`);
  renameSync(tmp, work);
  writeState(statePath, { pristine, sourceVersion, touched: [], applied: [] });
}

// ---------------------------------------------------------------------------
// Lock: one build per work tree at a time

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function acquireLock(path: string, log: (l: string) => void): Promise<() => void> {
  mkdirSync(dirname(path), { recursive: true });
  const started = Date.now();
  let lastNote = 0;
  for (;;) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const pid = Number((readIfExists(path) ?? Buffer.from('')).toString().trim());
    if (!pid || !pidAlive(pid)) {
      rmSync(path, { force: true });
      continue;
    }
    const waited = Math.round((Date.now() - started) / 1000);
    if (waited - lastNote >= 30 || lastNote === 0) {
      log(`[lock] waiting for the build held by pid ${pid} (${path}), ${waited} s so far`);
      lastNote = Math.max(waited, 1);
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

// ---------------------------------------------------------------------------
// The build

interface CacheMeta {
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
 * A cache entry, if complete and intact: the image must hash to what was
 * recorded when it was stored (older entries: its recorded size), or it is
 * rebuilt, never booted.
 */
function cachedResult(dir: string, key: string, started: number, log: (l: string) => void): BuildResult | null {
  const image = join(dir, 'bzImage');
  if (!existsSync(image) || !existsSync(join(dir, 'meta.json')) || !existsSync(join(dir, '.config'))) return null;
  const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as Partial<CacheMeta>;
  const intact = meta.imageSha256 ? sha256(readFileSync(image)) === meta.imageSha256 : statSync(image).size === meta.imageBytes;
  if (!intact) {
    log(`[cache] ${image} does not match what was stored (${meta.imageSha256 ? 'sha256' : 'size'}): rebuilding it`);
    return null;
  }
  return { image, config: join(dir, '.config'), key, cached: true, seconds: (Date.now() - started) / 1000 };
}

export async function buildKernel(o: BuildOptions): Promise<BuildResult> {
  const started = Date.now();
  const log = o.log ?? (() => {});
  if (!SERIES.includes(o.series)) throw new Error(`unknown series ${String(o.series)} (known: ${SERIES.join(', ')})`);
  if (!PATCH_SETS.includes(o.patches)) throw new Error(`unknown patch set ${String(o.patches)} (known: ${PATCH_SETS.join(', ')})`);
  const cache = resolve(o.cacheDir ?? defaultCacheDir());
  const extra = (o.extraPatches ?? []).map((p) => {
    if (!isAbsolute(p)) throw new Error(`extra patch path must be absolute: ${p}`);
    if (!existsSync(p)) throw new Error(`extra patch not found: ${p}`);
    return p;
  });
  const patchFiles = [...seriesPatches(o.series, o.patches), ...extra];
  const patchTexts = patchFiles.map((p) => readFileSync(p));
  const fragment = readFileSync(fragmentPath(), 'utf8');
  const toolchain = toolchainId();

  // Source identity (and, for Debian, the pristine tree once the cache misses).
  let pristine: string;
  let sourceVersion: string | null;
  let workName: string;
  if (o.source) {
    pristine = resolve(o.source);
    const mk = readIfExists(join(pristine, 'Makefile'));
    if (!mk) throw new Error(`--source ${pristine} is not a kernel tree (no Makefile)`);
    const h = sha256(Buffer.concat([mk, Buffer.from(`\0${pristine}`)]));
    sourceVersion = `dir:${h}`;
    workName = `linux-custom-${h.slice(0, 16)}`;
  } else {
    pristine = join(cache, 'src', `linux-source-${o.series}`);
    sourceVersion = dpkgVersion(`linux-source-${o.series}`);
    workName = `linux-${o.series}`;
  }

  const keyOf = (v: string) => computeKey({ sourceVersion: v, series: o.series, patches: patchTexts, fragment, toolchain });
  if (sourceVersion) {
    const key = keyOf(sourceVersion);
    const hit = cachedResult(join(cache, 'kernels', key), key, started, log);
    if (hit) {
      log(`[cache] ${o.series} ${o.patches}${extra.length ? ` +${extra.length} extra` : ''}: cached image ${hit.image}`);
      return hit;
    }
  }

  const work = join(cache, 'work', workName);
  const release = await acquireLock(`${work}.lock`, log);
  let logStream: WriteStream | null = null;
  try {
    const logsDir = join(cache, 'logs');
    mkdirSync(logsDir, { recursive: true });
    const pending: string[] = [];
    const logLine = (l: string) => {
      if (logStream) logStream.write(l + '\n');
      else pending.push(l);
    };

    if (!o.source) {
      const src = await ensureDebianSource(o.series, cache, log, logLine);
      pristine = src.pristine;
      sourceVersion = src.version;
    }
    const key = keyOf(sourceVersion!);
    const outDir = join(cache, 'kernels', key);
    const again = cachedResult(outDir, key, started, log);
    if (again) {
      log(`[cache] built meanwhile by another process: ${again.image}`);
      return again;
    }
    const logPath = join(logsDir, `${key}.log`);
    logStream = createWriteStream(logPath, { flags: 'w' });
    for (const l of pending) logStream.write(l + '\n');
    log(`[build] ${o.series} ${o.patches}${extra.length ? ` + ${extra.length} extra patch(es)` : ''}, key ${key.slice(0, 16)}..., log ${logPath}`);

    const statePath = `${work}.state.json`;
    await ensureWorkTree(pristine, work, statePath, sourceVersion!, log, logLine);
    log(`[patches] applying ${patchFiles.length ? patchFiles.map((p) => p.split('/').pop()).join(', ') : 'no patch (pristine tree)'}`);
    const sync = await syncWorkTree(pristine, work, statePath, patchFiles, log, join(cache, 'tmp'));
    logLine(`[patches] rewritten: ${sync.changed.join(' ') || '(none)'}`);

    // Configuration (one O= directory per configuration).
    const cfgKey = configKey(sourceVersion!, o.series, fragment);
    const buildDir = `${work}-build-${cfgKey}`;
    mkdirSync(buildDir, { recursive: true });
    const cc = haveCcache() ? 'ccache gcc' : 'gcc';
    if (cc === 'gcc') log('[build] ccache not found: compiling without it');
    const jobs = String(Math.max(1, availableParallelism()));
    const env: NodeJS.ProcessEnv = { ...process.env, ...REPRODUCIBLE_ENV, LC_ALL: 'C' };
    const makeArgs = (...targets: string[]) => ['-C', work, `O=${buildDir}`, `CC=${cc}`, ...targets];
    const errors: string[] = [];
    const fail = (what: string, r: RunToEndResult): never => {
      const tail = r.tail.slice(-25).join('\n');
      const firstErrors = errors.length ? `\nfirst error lines:\n${errors.join('\n')}` : '';
      throw new Error(`${what} failed (exit ${r.code}); full log: ${logPath}${firstErrors}\nlast lines:\n${tail}`);
    };

    // Kconfig inputs the patches may change: regenerate the config when they do.
    const kconfigTouched = sync.touched.filter((f) => /(^|\/)Kconfig[^/]*$|(^|\/)configs\//.test(f));
    const stampDoc = JSON.stringify({
      cfgKey,
      kconfig: kconfigTouched.map((f) => [f, sha256(readIfExists(join(work, f)) ?? '')]),
    });
    const stampPath = join(buildDir, '.omayexec-config-stamp');
    const configPath = join(buildDir, '.config');
    if (existsSync(configPath) && readIfExists(stampPath)?.toString() === stampDoc) {
      log('[config] up to date');
    } else {
      log('[config] make tinyconfig + merge_config.sh omayexec.fragment + olddefconfig');
      const before = readIfExists(configPath);
      const beforeStat = before ? statSync(configPath) : null;
      const cfgHeartbeat = (s: number) => log(`[config] still running (${s} s)`);
      let r = await runToEnd('make', makeArgs('tinyconfig'), { env, onLine: logLine, heartbeat: cfgHeartbeat });
      if (r.code !== 0) fail('make tinyconfig', r);
      r = await runToEnd('sh', [join(work, 'scripts/kconfig/merge_config.sh'), '-m', '-O', buildDir, configPath, fragmentPath()], {
        cwd: work,
        env: { ...env, CC: cc },
        onLine: logLine,
        heartbeat: cfgHeartbeat,
      });
      if (r.code !== 0) fail('merge_config.sh', r);
      r = await runToEnd('make', makeArgs('olddefconfig'), { env, onLine: logLine, heartbeat: cfgHeartbeat });
      if (r.code !== 0) fail('make olddefconfig', r);
      const after = readFileSync(configPath);
      if (before && beforeStat && before.equals(after)) {
        // Same configuration as before: keep the old mtime so make does not resync.
        utimesSync(configPath, beforeStat.atime, beforeStat.mtime);
      }
      writeFileSync(stampPath, stampDoc);
    }
    const lost = checkFragment(fragment, readFileSync(configPath, 'utf8'));
    if (lost.length) {
      rmSync(stampPath, { force: true });
      throw new Error(
        `the config fragment did not survive olddefconfig for ${o.series}; lost options:\n  ${lost.join('\n  ')}\n` +
          `(fragment: ${fragmentPath()}, config: ${configPath})`,
      );
    }

    // Build.
    log(`[build] make -j${jobs} CC="${cc}" bzImage in ${buildDir}`);
    let objects = 0;
    let last = '';
    const buildStart = Date.now();
    const r = await runToEnd('make', makeArgs(`-j${jobs}`, 'bzImage'), {
      env,
      onLine: (l) => {
        logLine(l);
        if (errors.length < 15 && /(\berror:|\*\*\* |undefined reference)/.test(l)) errors.push(l);
        const m = /^\s+CC\s+(\S+)/.exec(l);
        if (m) {
          objects++;
          last = m[1]!;
        }
      },
      heartbeat: (s) => log(`[build] ${objects} objects (CC lines), ${s} s${last ? `, last: ${last}` : ''}`),
      heartbeatMs: 5000,
    });
    if (r.code !== 0) fail(`make bzImage (${o.series}, ${o.patches})`, r);
    const buildSeconds = (Date.now() - buildStart) / 1000;
    const built = join(buildDir, 'arch/x86/boot/bzImage');
    if (!existsSync(built)) throw new Error(`make succeeded but ${built} is missing; full log: ${logPath}`);

    // Store in the cache (atomically).
    mkdirSync(join(cache, 'kernels'), { recursive: true });
    const tmpDir = mkdtempSync(join(cache, 'kernels', `.${key.slice(0, 16)}-`));
    chmodSync(tmpDir, 0o755); // mkdtemp makes it 0700: let anyone boot the image
    copyFileSync(built, join(tmpDir, 'bzImage'));
    copyFileSync(configPath, join(tmpDir, '.config'));
    const meta: CacheMeta = {
      key,
      series: o.series,
      patches: o.patches,
      patchFiles: seriesPatches(o.series, o.patches).map((p) => ({ name: p.split('/').pop()!, sha256: sha256(readFileSync(p)) })),
      extraPatches: extra.map((p) => ({ path: p, sha256: sha256(readFileSync(p)) })),
      source: pristine,
      sourceVersion: sourceVersion!,
      fragmentSha256: sha256(fragment),
      toolchain,
      kernelRelease: (readIfExists(join(buildDir, 'include/config/kernel.release')) ?? Buffer.from('')).toString().trim(),
      builtAt: new Date().toISOString(),
      buildSeconds: Math.round(buildSeconds * 10) / 10,
      compiledObjects: objects,
      imageBytes: statSync(built).size,
      imageSha256: sha256(readFileSync(built)),
      buildDir,
    };
    writeFileSync(join(tmpDir, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
    rmSync(outDir, { recursive: true, force: true });
    renameSync(tmpDir, outDir);
    const seconds = (Date.now() - started) / 1000;
    log(
      `[done] ${join(outDir, 'bzImage')} (${meta.imageBytes} bytes, ${objects} objects compiled, ` +
        `make ${meta.buildSeconds} s, total ${Math.round(seconds)} s)`,
    );
    return { image: join(outDir, 'bzImage'), config: join(outDir, '.config'), key, cached: false, seconds };
  } finally {
    if (logStream) await new Promise<void>((r) => logStream!.end(() => r()));
    release();
  }
}

// ---------------------------------------------------------------------------
// CLI: omayexec-conformance kernel build --series 6.1|6.12 [--source DIR] [--patches omayexec-v7|none]

export const KERNEL_BUILD_USAGE =
  'usage: omayexec-conformance kernel build --series 6.1|6.12 [--source DIR] [--patches omayexec-v7|none] [--extra-patch FILE]...';

export async function kernelBuildCommand(argv: string[]): Promise<number> {
  let series: Series | undefined;
  let source: string | undefined;
  let patches: PatchSet = 'omayexec-v7';
  const extraPatches: string[] = [];
  const bad = (msg: string): number => {
    process.stderr.write(`kernel build: ${msg} (${KERNEL_BUILD_USAGE.replace(/^usage: /, '')})\n`);
    return 2;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const [flag, inline] = a.startsWith('--') && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    const value = (): string | undefined => (inline !== undefined ? inline : argv[++i]);
    switch (flag) {
      case '-h':
      case '--help':
        process.stdout.write(KERNEL_BUILD_USAGE + '\n');
        return 0;
      case '--series': {
        const v = value();
        if (v !== '6.1' && v !== '6.12') return bad(`--series must be 6.1 or 6.12, got ${v === undefined ? 'nothing' : JSON.stringify(v)}`);
        series = v;
        break;
      }
      case '--source': {
        const v = value();
        if (!v) return bad('--source needs a directory');
        if (!existsSync(join(v, 'Makefile'))) return bad(`--source ${v} is not a kernel tree (no Makefile)`);
        source = resolve(v);
        break;
      }
      case '--patches': {
        const v = value();
        if (v !== 'omayexec-v7' && v !== 'none') return bad(`--patches must be omayexec-v7 or none, got ${v === undefined ? 'nothing' : JSON.stringify(v)}`);
        patches = v;
        break;
      }
      case '--extra-patch': {
        const v = value();
        if (!v) return bad('--extra-patch needs a file');
        if (!existsSync(v)) return bad(`--extra-patch ${v}: no such file`);
        extraPatches.push(resolve(v));
        break;
      }
      default:
        return bad(`unknown argument ${JSON.stringify(a)}`);
    }
  }
  if (!series) return bad('--series is required');
  try {
    const r = await buildKernel({
      series,
      source,
      patches,
      extraPatches,
      log: (l) => process.stderr.write(l + '\n'),
    });
    process.stderr.write(`kernel ${series} ${patches}: key ${r.key}${r.cached ? ' (cached)' : ''}, ${r.seconds.toFixed(1)} s\n`);
    process.stdout.write(r.image + '\n');
    return 0;
  } catch (e) {
    process.stderr.write(`kernel build failed: ${(e as Error).message}\n`);
    return 1;
  }
}
