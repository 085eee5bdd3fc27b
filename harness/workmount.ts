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

/** A script body: if a kernel wrongly executes it, the marker shows it. */
export const EXECUTED_MARKER = 'OMX-EXECUTED';
export const SCRIPT_BODY = `#!/bin/sh\necho ${EXECUTED_MARKER}\n`;

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

/** mkdir + tmpfs mount: one round trip, checked before anything is put in it (never into the bare directory on /tmp). */
async function mountFresh(target: Target, opts: WorkMountOptions): Promise<string> {
  const dir = target.uniquePath(WORK_ROOT, 'omx-test-mount-');
  const flags = (opts.noexec ? MS.NOEXEC : 0) | (opts.nodev ? MS.NODEV : 0);
  const [made, mounted] = await target.runAll([calls.mkdir(dir, 0o700), calls.mount('tmpfs', dir, 'tmpfs', flags, `mode=0700,size=${opts.size ?? '4k'}`)]);
  if (!made!.ok) throw new Error(`fixture: mkdir ${dir} failed: ${made!.errno}`);
  if (!mounted!.ok) {
    await target.run(calls.rmdir(dir));
    throw new Error(`fixture: mount tmpfs on ${dir} failed: ${mounted!.errno}`);
  }
  return dir;
}

const releaseCalls = (dir: string): Call[] => [calls.umount2(dir, MNT_DETACH), calls.rmdir(dir)];

/** The objects of a work mount; the first call is at the start of its batch (fileCalls refers to it). */
function objectCalls(paths: Record<ObjectType, string>, opts: WorkMountOptions): Call[] {
  const nodes: Call[] = opts.copyFrom ? [] : fileCalls(paths.regular, opts.content ?? SCRIPT_BODY, opts.mode);
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
  return nodes;
}

export async function makeWorkMount(target: Target, opts: WorkMountOptions): Promise<WorkMount> {
  const dir = await mountFresh(target, opts);
  const release = async () => {
    await target.runAll(releaseCalls(dir));
  };
  try {
    const paths = objectPaths(dir);
    if (opts.copyFrom) await target.copyFile(opts.copyFrom, paths.regular, opts.mode);
    await target.mustAll('work mount objects', objectCalls(paths, opts));
    return { dir, paths, release };
  } catch (e) {
    await release();
    throw e;
  }
}

/**
 * A fresh work mount for one batch of calls (`rowCalls`, whose RESULT
 * arguments count from its own first call): the mount in one round trip,
 * then the objects, the row and the release in a second. Returns the row's
 * results; an object that could not be made is a fixture error.
 */
export async function inFreshWorkMount(target: Target, opts: Omit<WorkMountOptions, 'copyFrom'>, rowCalls: (m: Omit<WorkMount, 'release'>) => Call[]): Promise<SysResult[]> {
  const dir = await mountFresh(target, opts);
  const paths = objectPaths(dir);
  const objects = objectCalls(paths, opts);
  const row = rowCalls({ dir, paths });
  const rs = await target.runAll([...objects, ...shifted(row, objects.length), ...releaseCalls(dir)]);
  const bad = rs.slice(0, objects.length).findIndex((r) => !r.ok);
  const released = rs.slice(-2);
  if (!released.every((r) => r.ok)) throw new Error(`fixture: releasing ${dir} failed: ${released.map((r) => r.errno ?? 'ok').join(', ')}`);
  if (bad >= 0) throw new Error(`fixture: work mount objects: call ${bad + 1} failed: ${rs[bad]!.errno}`);
  return rs.slice(objects.length, objects.length + row.length);
}

/** Run fn with a fresh work mount, always releasing it. */
export async function withWorkMount<T>(target: Target, opts: WorkMountOptions, fn: (m: WorkMount) => Promise<T>): Promise<T> {
  const m = await makeWorkMount(target, opts);
  try {
    return await fn(m);
  } finally {
    await m.release();
  }
}

/** Several work mounts at once (one helper run can then cover all of them), always all released. */
export async function withWorkMounts<T>(target: Target, opts: WorkMountOptions[], fn: (ms: WorkMount[]) => Promise<T>): Promise<T> {
  const made: WorkMount[] = [];
  try {
    for (const o of opts) made.push(await makeWorkMount(target, o));
    return await fn(made);
  } finally {
    for (const m of made.reverse()) await m.release();
  }
}

/**
 * Whether a loop device serves node 7:0 (SPEC.md §2.4: only then can it be
 * opened). Read from sysfs and /proc/devices, never from an open of the
 * node: the row's own outcome must not choose the row's expectation.
 * 'unknown': the loop driver is registered but loop0 does not exist yet, so
 * whether an open creates it depends on CONFIG_BLOCK_LEGACY_AUTOLOAD.
 */
export type LoopDevice = 'present' | 'absent' | 'unknown';

export async function loopDevice(target: Target): Promise<LoopDevice> {
  if (await target.exists('/sys/dev/block/7:0')) return 'present';
  if (!(await target.exists('/sys/dev/block'))) return 'unknown';
  const devices = (await target.readFile('/proc/devices')).toString('utf8');
  const block = devices.slice(Math.max(devices.indexOf('Block devices:'), 0));
  return /^\s*7 loop$/m.test(block) ? 'unknown' : 'absent';
}

export const LOOP_UNKNOWN_REASON = 'the loop driver is registered but no loop0 exists: whether opening 7:0 creates it depends on CONFIG_BLOCK_LEGACY_AUTOLOAD';
