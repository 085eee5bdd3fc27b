// Initramfs assembly in two layers (the kernel unpacks concatenated cpio
// archives, later entries winning):
//   base: busybox and its applet links, the directories, /dev nodes:
//         cached, verified by hash before use;
//   run:  /init, the executor, the static helpers and the kernel's modules.
// No node, no JavaScript: the suites run on the host (harness/runner.ts).
import { createHash } from 'node:crypto';
import {
  lstatSync, readlinkSync,
  copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { CpioWriter, type CpioEntry } from './cpio.js';
import { cacheRoot, guestTree } from './paths.js';

/** Busybox applets /init and the suites call. */
const APPLETS = ['sh', 'mount', 'umount', 'mkdir', 'insmod', 'reboot', 'poweroff', 'cat', 'echo', 'sleep', 'ls', 'true', 'uname'];
const BUSYBOX = '/bin/busybox';

import { HarnessError } from './errors.js';

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function dirsOf(paths: string[]): string[] {
  const dirs = new Set<string>();
  for (const p of paths) {
    for (let d = dirname(p); d !== '/' && d !== '.'; d = dirname(d)) dirs.add(d);
  }
  return [...dirs].sort();
}

interface BaseInputs {
  busybox: string;
}

function baseInputs(): BaseInputs {
  if (!existsSync(BUSYBOX)) throw new HarnessError(`${BUSYBOX} not found: apt-get install busybox-static`);
  return { busybox: BUSYBOX };
}

/** Cache key of the base archive: identity (path, size, mtime) of every input. */
function baseKey(inp: BaseInputs): string {
  const h = createHash('sha256').update('base-v2').update(APPLETS.join(','));
  for (const f of [inp.busybox]) {
    const s = statSync(f);
    h.update(`${f}\0${s.size}\0${s.mtimeMs}\n`);
  }
  return h.digest('hex').slice(0, 24);
}

function writeBase(inp: BaseInputs, archive: string): void {
  const w = new CpioWriter(archive);
  const files: { dest: string; source: string; mode: number }[] = [{ dest: '/bin/busybox', source: inp.busybox, mode: 0o755 }];
  const dirs = ['/bin', '/dev', '/proc', '/sys', '/tmp', '/omx', ...dirsOf(files.map((f) => f.dest))];
  for (const d of [...new Set(dirs)].sort()) w.add({ kind: 'dir', path: d, mode: d === '/tmp' ? 0o1777 : 0o755 });
  w.add({ kind: 'node', path: '/dev/console', mode: 0o600, type: 'char', major: 5, minor: 1 });
  w.add({ kind: 'node', path: '/dev/null', mode: 0o666, type: 'char', major: 1, minor: 3 });
  for (const f of files) w.add({ kind: 'file', path: f.dest, source: f.source, mode: f.mode });
  for (const a of APPLETS) w.add({ kind: 'symlink', path: `/bin/${a}`, target: 'busybox' });
  w.finish();
}

export interface BaseArchive {
  path: string;
  key: string;
  built: boolean;
  seconds: number;
}

/** What identifies a file's on-disk state: any write changes ctime. */
function statIdentity(path: string): string {
  const st = statSync(path);
  return `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

/** Remember that `path`, as it is now on disk, was verified. */
function recordVerified(path: string): void {
  writeFileSync(`${path}.stat`, statIdentity(path));
}

/**
 * True when `path` is unchanged since it was last verified (its stat identity
 * matches the recorded one), else runs the full check and records a success:
 * re-reading the archives costs more than, a stat nothing.
 */
function stillVerified(path: string, fullCheck: () => boolean): boolean {
  if (!existsSync(path)) return false;
  const statFile = `${path}.stat`;
  if (existsSync(statFile) && readFileSync(statFile, 'utf8') === statIdentity(path)) return true;
  if (!fullCheck()) return false;
  recordVerified(path);
  return true;
}

/** Whether `path` still holds what was hashed into `hashFile`. */
function verifiedByHash(path: string, hashFile: string): boolean {
  return existsSync(hashFile) && stillVerified(path, () => sha256File(path) === readFileSync(hashFile, 'utf8').trim());
}

/**
 * The cached base archive, rebuilt when an input changed or when the cached
 * file no longer matches the hash recorded when it was written.
 */
export function ensureBaseArchive(log: (l: string) => void = () => {}): BaseArchive {
  const t0 = performance.now();
  const inp = baseInputs();
  const key = baseKey(inp);
  const dir = join(cacheRoot(), 'initramfs');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `base-${key}.cpio`);
  const hashFile = `${path}.sha256`;
  if (verifiedByHash(path, hashFile)) return { path, key, built: false, seconds: (performance.now() - t0) / 1000 };
  if (existsSync(path)) log(`base archive ${path} does not match its recorded hash: rebuilding it`);
  log('building the base initramfs archive (busybox)...');
  const tmp = `${path}.tmp-${process.pid}`;
  writeBase(inp, tmp);
  writeFileSync(hashFile, sha256File(tmp));
  renameSync(tmp, path);
  recordVerified(path);
  return { path, key, built: true, seconds: (performance.now() - t0) / 1000 };
}

export interface RunArchiveInput {
  /** Kernel modules (.ko, uncompressed) to insmod before the executor starts. */
  modules: string[];
  /** Kernel modules a suite loads when it runs (SuiteNeeds.modules), as GUEST_ON_DEMAND_MODULES/NAME.ko. */
  onDemandModules: string[];
}

/** Where the guest keeps the on-demand modules; /init loads only /omx/modules/*.ko. */
export const GUEST_ON_DEMAND_MODULES = '/omx/modules/on-demand';

/** The executor and the static helpers, as built by npm run build. */
function guestEntries(): CpioEntry[] {
  const executor = join(guestTree, 'executor');
  if (!existsSync(executor)) throw new HarnessError(`${executor} is missing: run npm run build`);
  const entries: CpioEntry[] = [
    { kind: 'file', path: '/omx/executor', source: executor, mode: 0o755 },
    { kind: 'dir', path: '/omx/helpers', mode: 0o755 },
  ];
  // The helpers are symlinks to the one multi-call binary (vm/bundle.ts).
  for (const name of readdirSync(join(guestTree, 'helpers')).sort()) {
    const p = join(guestTree, 'helpers', name);
    if (lstatSync(p).isSymbolicLink()) entries.push({ kind: 'symlink', path: `/omx/helpers/${name}`, target: readlinkSync(p) });
    else entries.push({ kind: 'file', path: `/omx/helpers/${name}`, source: p, mode: 0o755 });
  }
  return entries;
}

/** Writes the small per-run archive. */
export function writeRunArchive(path: string, input: RunArchiveInput): void {
  const w = new CpioWriter(path);
  // /init is the multi-call binary's init (harness/executor/guest-init.c): the mounts, the
  // modules, then the supervisor; no shell on the boot path.
  w.add({ kind: 'symlink', path: '/init', target: 'omx/executor' });
  for (const e of guestEntries()) w.add(e);
  w.add({ kind: 'dir', path: '/omx/modules', mode: 0o755 });
  input.modules.forEach((m, i) => {
    w.add({ kind: 'file', path: `/omx/modules/${String(i).padStart(2, '0')}-${m.split('/').pop()}`, source: m, mode: 0o644 });
  });
  if (input.onDemandModules.length) w.add({ kind: 'dir', path: GUEST_ON_DEMAND_MODULES, mode: 0o755 });
  for (const m of input.onDemandModules) w.add({ kind: 'file', path: `${GUEST_ON_DEMAND_MODULES}/${m.split('/').pop()}`, source: m, mode: 0o644 });
  w.finish();
}

/** base + run, concatenated: what QEMU gets as -initrd. */
function assembleInitrd(base: string, run: string, out: string): void {
  copyFileSync(base, out); // copy_file_range: no trip through user space
  writeFileSync(out, readFileSync(run), { flag: 'a' });
}

const ASSEMBLED_KEPT = 4;

/**
 * The assembled initrd for this base and run archive, from the cache when an
 * identical run archive was assembled before (a repeated run: same kernel
 * modules, suites and options), else assembled into the cache. The newest
 * few are kept.
 */
export function cachedInitrd(base: BaseArchive, run: string): { path: string; reused: boolean } {
  const dir = join(cacheRoot(), 'initramfs', 'assembled');
  mkdirSync(dir, { recursive: true });
  const runHash = sha256File(run);
  const path = join(dir, `initrd-${base.key}-${runHash.slice(0, 24)}.cpio`);
  const hashFile = `${path}.sha256`;
  const expected = createHash('sha256').update(readFileSync(`${base.path}.sha256`, 'utf8').trim()).update(runHash).digest('hex');
  // The recorded hash is of the two parts' hashes: cheap to recompute, and
  // a full re-read happens only when the file's stat identity changed.
  if (existsSync(hashFile) && readFileSync(hashFile, 'utf8').trim() === expected && verifiedAssembled(path, base.path, run)) {
    writeFileSync(`${path}.used`, '');
    return { path, reused: true };
  }
  const tmp = `${path}.tmp-${process.pid}`;
  assembleInitrd(base.path, run, tmp);
  renameSync(tmp, path);
  writeFileSync(hashFile, expected);
  recordVerified(path);
  writeFileSync(`${path}.used`, '');
  pruneAssembled(dir);
  return { path, reused: false };
}

/** Unchanged since verified, or else its content is base then run, byte for byte. */
function verifiedAssembled(path: string, base: string, run: string): boolean {
  return stillVerified(path, () => {
    const whole = readFileSync(path);
    const b = readFileSync(base);
    const r = readFileSync(run);
    return whole.length === b.length + r.length && whole.subarray(0, b.length).equals(b) && whole.subarray(b.length).equals(r);
  });
}

function pruneAssembled(dir: string): void {
  const used = readdirSync(dir)
    .filter((f) => f.endsWith('.cpio'))
    .map((f) => ({ f, at: existsSync(join(dir, `${f}.used`)) ? statSync(join(dir, `${f}.used`)).mtimeMs : 0 }))
    .sort((a, b) => b.at - a.at);
  for (const { f } of used.slice(ASSEMBLED_KEPT)) {
    for (const suffix of ['', '.sha256', '.stat', '.used']) rmSync(join(dir, f + suffix), { force: true });
  }
}
