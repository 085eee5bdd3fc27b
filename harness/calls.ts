// One builder per syscall the suites make: each returns the Call that either
// target runs (alone, or in a batch). The argument encoding of every
// syscall is written here once.
import { AT, createsFile, encodeDev, LINUX_CAPABILITY_VERSION_3, NR, O } from './abi.js';
import type { Arg, Call } from './executor-protocol.js';

export interface OpenHow {
  flags: number;
  mode?: number;
  resolve?: number;
}

export interface CapSets {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
}

const int = (v: number | bigint): Arg => ({ int: v });
const path = (p: string): Arg => ({ in: p });
/** An fd argument: a number, or the result of call `index` of the same batch. */
export type FdRef = number | { result: number };
const fdArg = (fd: FdRef): Arg => (typeof fd === 'number' ? int(fd) : fd);

export function openHowBytes(how: OpenHow): Buffer {
  const buf = Buffer.alloc(24);
  buf.writeBigUInt64LE(BigInt(how.flags), 0);
  buf.writeBigUInt64LE(BigInt(createsFile(how.flags) ? how.mode ?? 0 : 0), 8);
  buf.writeBigUInt64LE(BigInt(how.resolve ?? 0), 16);
  return buf;
}

export const calls = {
  openat2: (dirfd: number, p: string, how: OpenHow, closeResult = false): Call => ({
    nr: NR.openat2, args: [int(dirfd), path(p), { in: openHowBytes(how) }, int(24)], closeResult,
  }),
  open: (p: string, flags: number, mode = 0, closeResult = false): Call => ({ nr: NR.open, args: [path(p), int(flags), int(mode)], closeResult }),
  openat: (dirfd: number, p: string, flags: number, mode = 0, closeResult = false): Call => ({
    nr: NR.openat, args: [int(dirfd), path(p), int(flags), int(mode)], closeResult,
  }),
  close: (fd: FdRef): Call => ({ nr: NR.close, args: [fdArg(fd)] }),
  read: (fd: FdRef, max: number): Call => ({ nr: NR.read, args: [fdArg(fd), { outRet: max }, int(max)] }),
  write: (fd: FdRef, data: Buffer | string): Call => {
    const b = typeof data === 'string' ? Buffer.from(data) : data;
    return { nr: NR.write, args: [fdArg(fd), { in: b }, int(b.length)] };
  },
  lseek: (fd: FdRef, offset: number, whence: number): Call => ({ nr: NR.lseek, args: [fdArg(fd), int(offset), int(whence)] }),
  fcntl: (fd: FdRef, cmd: number, arg = 0): Call => ({ nr: NR.fcntl, args: [fdArg(fd), int(cmd), int(arg)] }),
  sendfile: (out: FdRef, inFd: FdRef, count: number): Call => ({ nr: NR.sendfile, args: [fdArg(out), fdArg(inFd), int(0), int(count)] }),
  mkdir: (p: string, mode: number): Call => ({ nr: NR.mkdir, args: [path(p), int(mode)] }),
  rmdir: (p: string): Call => ({ nr: NR.rmdir, args: [path(p)] }),
  unlink: (p: string): Call => ({ nr: NR.unlink, args: [path(p)] }),
  symlink: (target: string, linkPath: string): Call => ({ nr: NR.symlink, args: [path(target), path(linkPath)] }),
  chmod: (p: string, mode: number): Call => ({ nr: NR.chmod, args: [path(p), int(mode)] }),
  chown: (p: string, uid: number, gid: number): Call => ({ nr: NR.chown, args: [path(p), int(uid), int(gid)] }),
  fchmod: (fd: FdRef, mode: number): Call => ({ nr: NR.fchmod, args: [fdArg(fd), int(mode)] }),
  finit_module: (fd: FdRef, params = '', flags = 0): Call => ({ nr: NR.finit_module, args: [fdArg(fd), path(params), int(flags)] }),
  mknod: (p: string, mode: number, major = 0, minor = 0): Call => ({ nr: NR.mknod, args: [path(p), int(mode), int(encodeDev(major, minor))] }),
  /** struct stat of x86-64 is 144 bytes; st_mode at 24, st_uid 28, st_gid 32. */
  stat: (p: string, flags = 0): Call => ({ nr: NR.newfstatat, args: [int(AT.FDCWD), path(p), { out: 144 }, int(flags)] }),
  mount: (source: string, target: string, fstype: string, flags: number, data: string | null): Call => ({
    nr: NR.mount, args: [path(source), path(target), path(fstype), int(flags), data === null ? int(0) : path(data)],
  }),
  umount2: (target: string, flags: number): Call => ({ nr: NR.umount2, args: [path(target), int(flags)] }),
  socket: (domain: number, type: number, protocol = 0): Call => ({ nr: NR.socket, args: [int(domain), int(type), int(protocol)] }),
  memfdCreate: (name: string, flags = 0): Call => ({ nr: NR.memfd_create, args: [path(name), int(flags)] }),
  pipe2: (flags = 0): Call => ({ nr: NR.pipe2, args: [{ out: 8 }, int(flags)] }),
  prctl: (option: number, a2 = 0, a3 = 0, a4 = 0, a5 = 0): Call => ({ nr: NR.prctl, args: [int(option), int(a2), int(a3), int(a4), int(a5)] }),
  unshare: (flags: number): Call => ({ nr: NR.unshare, args: [int(flags)] }),
  setresuid: (r: number, e: number, s: number): Call => ({ nr: NR.setresuid, args: [int(r), int(e), int(s)] }),
  setxattr: (p: string, name: string, value: Buffer): Call => ({ nr: NR.setxattr, args: [path(p), { in: name }, { in: value }, int(value.length), int(0)] }),
  execveat: (dirfd: FdRef, p: string, argv: string[], envp: string[], flags: number): Call => ({
    nr: NR.execveat, args: [fdArg(dirfd), path(p), { strv: argv }, { strv: envp }, int(flags)],
  }),
  getpid: (): Call => ({ nr: NR.getpid, args: [] }),
  kill: (pid: number | { result: number }, sig: number): Call => ({ nr: NR.kill, args: [typeof pid === 'number' ? int(pid) : pid, int(sig)] }),
  getdents64: (fd: FdRef, size: number): Call => ({ nr: NR.getdents64, args: [fdArg(fd), { outRet: size }, int(size)] }),
  capget: (): Call => ({ nr: NR.capget, args: [{ inout: capHeader() }, { out: 24 }] }),
  capset: (sets: CapSets): Call => ({ nr: NR.capset, args: [{ in: capHeader() }, { in: capData(sets) }] }),
  reboot: (): Call => ({ nr: NR.reboot, args: [int(0xfee1dead), int(672274793), int(0x01234567), int(0)] }),
};

function capHeader(): Buffer {
  const hdr = Buffer.alloc(8);
  hdr.writeUInt32LE(LINUX_CAPABILITY_VERSION_3, 0);
  return hdr;
}

function capData(sets: CapSets): Buffer {
  const data = Buffer.alloc(24);
  const put = (field: number, value: bigint) => {
    data.writeUInt32LE(Number(value & 0xffffffffn), field * 4);
    data.writeUInt32LE(Number((value >> 32n) & 0xffffffffn), 12 + field * 4);
  };
  put(0, sets.effective);
  put(1, sets.permitted);
  put(2, sets.inheritable);
  return data;
}

/** The capability sets in capget's output buffer. */
export function decodeCapData(data: Buffer): CapSets {
  const word = (i: number, field: number) => BigInt(data.readUInt32LE(i * 12 + field * 4));
  const join = (field: number) => word(0, field) | (word(1, field) << 32n);
  return { effective: join(0), permitted: join(1), inheritable: join(2) };
}

/** Names in a getdents64 buffer (linux_dirent64: ino u64, off i64, reclen u16, type u8, name). */
export function direntNames(buf: Buffer, length: number): string[] {
  const names: string[] = [];
  for (let at = 0; at < length; ) {
    const reclen = buf.readUInt16LE(at + 16);
    if (reclen === 0) break;
    const nameEnd = buf.indexOf(0, at + 19);
    names.push(buf.toString('utf8', at + 19, nameEnd < 0 || nameEnd > at + reclen ? at + reclen : nameEnd));
    at += reclen;
  }
  return names;
}

/**
 * Create (or truncate) `path` with `data`, then set `mode` exactly (umask-free),
 * as calls that start a batch (the open is call 0: later calls refer to it).
 */
export function fileCalls(path: string, data: Buffer | string, mode: number): Call[] {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const batch: Call[] = [calls.open(path, O.WRONLY | O.CREAT | O.TRUNC | O.CLOEXEC, 0o600)];
  for (let at = 0; at < bytes.length; at += 1 << 16) batch.push(calls.write({ result: 0 }, bytes.subarray(at, at + (1 << 16))));
  batch.push(calls.close({ result: 0 }), calls.chmod(path, mode));
  return batch;
}

/** One entry of a POSIX access ACL: tag, rwx bits, and the uid or gid for USER/GROUP entries. */
export interface AclEntry {
  tag: 'user_obj' | 'user' | 'group_obj' | 'group' | 'mask' | 'other';
  perm: number;
  id?: number;
}

const ACL_TAG = { user_obj: 0x01, user: 0x02, group_obj: 0x04, group: 0x08, mask: 0x10, other: 0x20 } as const;

/** The system.posix_acl_access value: version 2, then {u16 tag, u16 perm, u32 id} per entry, in tag order. */
export function posixAclXattr(entries: AclEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => ACL_TAG[a.tag] - ACL_TAG[b.tag] || (a.id ?? 0) - (b.id ?? 0));
  const b = Buffer.alloc(4 + 8 * sorted.length);
  b.writeUInt32LE(2, 0);
  sorted.forEach((e, i) => {
    b.writeUInt16LE(ACL_TAG[e.tag], 4 + 8 * i);
    b.writeUInt16LE(e.perm, 6 + 8 * i);
    b.writeUInt32LE(e.id ?? 0xffffffff, 8 + 8 * i);
  });
  return b;
}
