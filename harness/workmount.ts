// The per-variant fixture: a private tmpfs (mode=0700,size=4k, MS_NOEXEC for
// the noexec variants) holding one object of each file type (SPEC.md §2.6).
// Nothing outlives `release()`: the mount is detached and its directory removed.
import { chmodSync, mkdirSync, mkdtempSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as sys from './sys.js';

export const OBJECT_TYPES = ['regular', 'directory', 'symlink', 'char', 'block', 'fifo', 'socket'] as const;
export type ObjectType = (typeof OBJECT_TYPES)[number];

export interface WorkMountOptions {
  noexec: boolean;
  /** Mode of the regular file and the directory; other objects are 0400. */
  mode: number;
  /** Body of the regular file. */
  content?: string | Buffer;
  /** tmpfs size option; SPEC.md §2.6 uses 4k (an ELF body needs more). */
  size?: string;
}

export interface WorkMount {
  dir: string;
  paths: Record<ObjectType, string>;
  release(): void;
}

/** A script body: if a kernel wrongly executes it, the marker shows it. */
export const EXECUTED_MARKER = 'OMX-EXECUTED';
export const SCRIPT_BODY = `#!/bin/sh\necho ${EXECUTED_MARKER}\n`;

function must(what: string, r: sys.SysResult): void {
  if (!r.ok) throw new Error(`fixture: ${what} failed: ${r.errno}`);
}

export function makeWorkMount(opts: WorkMountOptions): WorkMount {
  const dir = mkdtempSync(join(tmpdir(), 'omx-test-mount-'));
  const flags = opts.noexec ? sys.MS.NOEXEC : 0;
  const mounted = sys.mount('tmpfs', dir, 'tmpfs', flags, `mode=0700,size=${opts.size ?? '4k'}`);
  if (!mounted.ok) {
    rmdirSync(dir);
    throw new Error(`fixture: mount tmpfs on ${dir} failed: ${mounted.errno}`);
  }
  const release = () => {
    sys.umount2(dir, sys.MNT_DETACH);
    rmdirSync(dir);
  };
  try {
    const p = (name: string) => join(dir, name);
    const paths: Record<ObjectType, string> = {
      regular: p('file'),
      directory: p('directory'),
      symlink: p('symlink'),
      char: p('char-1-3'),
      block: p('block-7-0'),
      fifo: p('fifo'),
      socket: p('socket'),
    };
    writeFileSync(paths.regular, opts.content ?? SCRIPT_BODY);
    chmodSync(paths.regular, opts.mode);
    mkdirSync(paths.directory);
    chmodSync(paths.directory, opts.mode);
    symlinkSync(paths.regular, paths.symlink);
    must('mknod char 1:3', sys.mknod(paths.char, sys.S_IF.CHR | 0o400, 1, 3));
    must('mknod block 7:0', sys.mknod(paths.block, sys.S_IF.BLK | 0o400, 7, 0));
    must('mknod fifo', sys.mknod(paths.fifo, sys.S_IF.FIFO | 0o400));
    must('mknod socket', sys.mknod(paths.socket, sys.S_IF.SOCK | 0o400));
    // mknod honours the umask; make the modes exact.
    for (const k of ['char', 'block', 'fifo', 'socket'] as const) chmodSync(paths[k], 0o400);
    return { dir, paths, release };
  } catch (e) {
    release();
    throw e;
  }
}

/** Run fn with a fresh work mount, always releasing it. */
export function withWorkMount<T>(opts: WorkMountOptions, fn: (m: WorkMount) => T): T {
  const m = makeWorkMount(opts);
  try {
    return fn(m);
  } finally {
    m.release();
  }
}

/** Block device 7:0 is only openable with the loop driver (SPEC.md §2.4). */
export function loopDriverPresent(blockPath: string): boolean {
  const r = sys.open(blockPath, sys.O.RDONLY | sys.O.CLOEXEC);
  if (r.ok) {
    sys.close(r.ret);
    return true;
  }
  return r.errno !== 'ENXIO' && r.errno !== 'ENODEV';
}

export const NO_LOOP_REASON = 'block device 7:0 not openable (ENXIO): loop driver absent, needs CONFIG_BLK_DEV_LOOP';
