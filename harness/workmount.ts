// The per-variant fixture: a private tmpfs (mode=0700,size=4k, MS_NOEXEC for
// the noexec variants) holding one object of each file type (SPEC.md §2.6),
// made through the Target. Nothing outlives `release()`: the mount is
// detached and its directory removed.
import { MNT_DETACH, MS, O, S_IF } from './abi.js';
import { shifted } from './batch.js';
import { calls, fileCalls } from './calls.js';
import type { Call } from './executor-protocol.js';
import type { SysResult, Target } from './target.js';
import type { ObjectType } from '../fixtures/dimensions.js';

export interface WorkMountOptions {
  noexec: boolean;
  /** MS_NODEV: device nodes in it cannot be opened (SPEC.md §2.2 rule 3). */
  nodev?: boolean;
  /** Mode of the regular file and the directory; other objects are 0400. */
  mode: number;
  /** Body of the regular file. */
  content?: string | Buffer;
  /** Copy this file of the target as the regular file instead (an ELF helper). */
  copyFrom?: string;
  /** tmpfs size option; SPEC.md §2.6 uses 4k (an ELF body needs more). */
  size?: string;
}

export interface WorkMount {
  dir: string;
  paths: Record<ObjectType, string>;
  release(): Promise<void>;
}

/** What a work mount's script prints when it runs: if a kernel wrongly executes it, the marker shows it. */
export const EXECUTED_MARKER = 'OMX-EXECUTED';

/**
 * The work mounts' script. Its interpreter is the helper script-interpreter,
 * which prints the marker as the body would under a shell (the body stays a
 * valid shell script); busybox's shell cost ~17 ms a boot to run once under
 * emulation.
 */
export function scriptBody(target: Target): string {
  return `#!${target.helperPath('script-interpreter')}\necho ${EXECUTED_MARKER}\n`;
}

/** Where work mounts live on the target: its /tmp (a tmpfs in the guest). */
const WORK_ROOT = '/tmp';

export function objectPaths(dir: string): Record<ObjectType, string> {
  const p = (name: string) => `${dir}/${name}`;
  return {
    regular: p('file'),
    directory: p('directory'),
    symlink: p('symlink'),
    char: p('char-1-3'),
    block: p('block-7-0'),
    fifo: p('fifo'),
    socket: p('socket'),
  };
}

/** Fixture setup the rest of its batch depends on: the executor stops the batch where it fails. */
const setup = (c: Call): Call => ({ ...c, stopOnError: true });

/** mkdir + tmpfs mount, as the first calls of a batch; nothing is put in the directory unless it is mounted. */
function mountCalls(dir: string, opts: WorkMountOptions): Call[] {
  const flags = (opts.noexec ? MS.NOEXEC : 0) | (opts.nodev ? MS.NODEV : 0);
  return [calls.mkdir(dir, 0o700), calls.mount('tmpfs', dir, 'tmpfs', flags, `mode=0700,size=${opts.size ?? '4k'}`)].map(setup);
}

const releaseCalls = (dir: string): Call[] => [calls.umount2(dir, MNT_DETACH), calls.rmdir(dir)];

/** Unmount and remove a work mount; a failure is a fixture error (a mount would outlive the suite). */
async function releaseDir(target: Target, dir: string): Promise<void> {
  const bad = (await target.runAll(releaseCalls(dir))).find((r) => !r.ok);
  if (bad) throw new Error(`fixture: releasing ${dir} failed: ${bad.errno}`);
}

/**
 * After a batch that began with mountCalls and objectCalls: throws the
 * fixture error of the first setup call that failed, once what was made is
 * undone (the directory removed, or the mount released).
 */
async function checkSetup(target: Target, dir: string, rs: SysResult[], setupCount: number): Promise<void> {
  const bad = rs.slice(0, setupCount).findIndex((r) => !r.ok);
  if (bad < 0) return;
  const what = bad === 0 ? `mkdir ${dir}` : bad === 1 ? `mount tmpfs on ${dir}` : `work mount objects: call ${bad - 1}`;
  if (bad === 1) await target.run(calls.rmdir(dir));
  else if (bad > 1) await target.runAll(releaseCalls(dir));
  throw new Error(`fixture: ${what} failed: ${rs[bad]!.errno}`);
}

/** The objects of a work mount; `at` is the index of its first call in the batch (fileCalls refers to it). */
function objectCalls(target: Target, paths: Record<ObjectType, string>, opts: WorkMountOptions, at = 0): Call[] {
  const nodes: Call[] = opts.copyFrom ? [] : shifted(fileCalls(paths.regular, opts.content ?? scriptBody(target), opts.mode), at);
  nodes.push(
    calls.mkdir(paths.directory, 0o700),
    calls.chmod(paths.directory, opts.mode),
    calls.symlink(paths.regular, paths.symlink),
    calls.mknod(paths.char, S_IF.CHR | 0o400, 1, 3),
    calls.mknod(paths.block, S_IF.BLK | 0o400, 7, 0),
    calls.mknod(paths.fifo, S_IF.FIFO | 0o400),
    calls.mknod(paths.socket, S_IF.SOCK | 0o400),
  );
  // mknod honours the umask; make the modes exact.
  for (const k of ['char', 'block', 'fifo', 'socket'] as const) nodes.push(calls.chmod(paths[k], 0o400));
  return nodes.map(setup);
}

/** One work mount with its own files copied in (copyFrom): the copy takes round trips of its own. */
async function makeCopyMount(target: Target, opts: WorkMountOptions): Promise<WorkMount> {
  const dir = target.uniquePath(WORK_ROOT, 'omx-test-mount-');
  const paths = objectPaths(dir);
  const release = () => releaseDir(target, dir);
  const mount = mountCalls(dir, opts);
  await checkSetup(target, dir, await target.runAll(mount), mount.length);
  try {
    await target.copyFile(opts.copyFrom!, paths.regular, opts.mode);
    await target.mustAll('work mount objects', objectCalls(target, paths, opts));
  } catch (e) {
    await release().catch(() => {}); // the setup error is the one to report
    throw e;
  }
  return { dir, paths, release };
}

/**
 * Work mounts without copied files, all in one round trip (each: mkdir,
 * mount, objects). Setup stops at the first failure; what was made before
 * it is undone, and the failure is a fixture error.
 */
async function makeWorkMountsAtOnce(target: Target, opts: WorkMountOptions[]): Promise<WorkMount[]> {
  const dirs = opts.map(() => target.uniquePath(WORK_ROOT, 'omx-test-mount-'));
  const batch: Call[] = [];
  const starts: number[] = [];
  opts.forEach((o, i) => {
    starts.push(batch.length);
    batch.push(...mountSetupCalls(target, dirs[i]!, o, batch.length));
  });
  const rs = await target.runAll(batch);
  const failed = rs.findIndex((r) => !r.ok);
  if (failed >= 0) {
    let k = starts.length - 1;
    while (starts[k]! > failed) k--;
    if (k > 0) await target.runAll(dirs.slice(0, k).reverse().flatMap(releaseCalls));
    const end = k + 1 < starts.length ? starts[k + 1]! : batch.length;
    await checkSetup(target, dirs[k]!, rs.slice(starts[k], end), end - starts[k]!);
  }
  return dirs.map((dir) => ({ dir, paths: objectPaths(dir), release: () => releaseDir(target, dir) }));
}

/** A whole work mount's setup (mkdir, mount, objects) for a batch in which it starts at call `at`. */
function mountSetupCalls(target: Target, dir: string, opts: WorkMountOptions, at: number): Call[] {
  const mount = mountCalls(dir, opts);
  return [...mount, ...objectCalls(target, objectPaths(dir), opts, at + mount.length)];
}

export async function makeWorkMount(target: Target, opts: WorkMountOptions): Promise<WorkMount> {
  return opts.copyFrom ? makeCopyMount(target, opts) : (await makeWorkMountsAtOnce(target, [opts]))[0]!;
}

/**
 * A fresh work mount for one batch of calls (`rowCalls`, whose RESULT
 * arguments count from its own first call), in one round trip: the mount,
 * the objects, the row, the release. Returns the row's results; a mount or
 * an object that could not be made is a fixture error.
 */
export async function inFreshWorkMount(target: Target, opts: Omit<WorkMountOptions, 'copyFrom'>, rowCalls: (m: Omit<WorkMount, 'release'>) => Call[]): Promise<SysResult[]> {
  const dir = target.uniquePath(WORK_ROOT, 'omx-test-mount-');
  const paths = objectPaths(dir);
  const setupCalls = mountSetupCalls(target, dir, opts, 0);
  const row = rowCalls({ dir, paths });
  const rs = await target.runAll([...setupCalls, ...shifted(row, setupCalls.length), ...releaseCalls(dir)]);
  await checkSetup(target, dir, rs, setupCalls.length);
  const released = rs.slice(-2);
  if (!released.every((r) => r.ok)) throw new Error(`fixture: releasing ${dir} failed: ${released.map((r) => r.errno ?? 'ok').join(', ')}`);
  return rs.slice(setupCalls.length, setupCalls.length + row.length);
}

/** Run fn with a fresh work mount, always releasing it; a failed release is an error unless fn's own error is on its way. */
export async function withWorkMount<T>(target: Target, opts: WorkMountOptions, fn: (m: WorkMount) => Promise<T>): Promise<T> {
  const m = await makeWorkMount(target, opts);
  let result: T;
  try {
    result = await fn(m);
  } catch (e) {
    await m.release().catch(() => {});
    throw e;
  }
  await m.release();
  return result;
}

/**
 * Several work mounts at once (one helper run can then cover all of them),
 * always all released: made in one round trip and released in one, unless
 * files are copied in.
 */
export async function withWorkMounts<T>(target: Target, opts: WorkMountOptions[], fn: (ms: WorkMount[]) => Promise<T>): Promise<T> {
  if (opts.some((o) => o.copyFrom)) {
    const made: WorkMount[] = [];
    try {
      for (const o of opts) made.push(await makeWorkMount(target, o));
      return await fn(made);
    } finally {
      for (const m of made.reverse()) await m.release();
    }
  }
  const made = await makeWorkMountsAtOnce(target, opts);
  const release = async () => target.runAll([...made].reverse().flatMap((m) => releaseCalls(m.dir)));
  let result: T;
  try {
    result = await fn(made);
  } catch (e) {
    await release();
    throw e;
  }
  const bad = (await release()).find((r) => !r.ok);
  if (bad) throw new Error(`fixture: releasing the work mounts failed: ${bad.errno}`);
  return result;
}

/**
 * Whether a loop device serves node 7:0 (SPEC.md §2.4: only then can it be
 * opened). Read from sysfs and /proc/devices, never from an open of the
 * node: the row's own outcome must not choose the row's expectation.
 * 'unknown': the loop driver is registered but loop0 does not exist yet, so
 * whether an open creates it depends on CONFIG_BLOCK_LEGACY_AUTOLOAD.
 */
export type LoopDevice = 'present' | 'absent' | 'unknown';

export async function loopDevice(target: Target, root = ''): Promise<LoopDevice> {
  if (await target.exists(`${root}/sys/dev/block/7:0`)) return 'present';
  if (!(await target.exists(`${root}/sys/dev/block`))) return 'unknown';
  const devices = (await target.readFile(`${root}/proc/devices`)).toString('utf8');
  const block = devices.slice(Math.max(devices.indexOf('Block devices:'), 0));
  return /^\s*7 loop$/m.test(block) ? 'unknown' : 'absent';
}

export const LOOP_UNKNOWN_REASON = 'the loop driver is registered but no loop0 exists: whether opening 7:0 creates it depends on CONFIG_BLOCK_LEGACY_AUTOLOAD';
