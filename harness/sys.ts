// The one syscall layer: every raw syscall the suites make goes through here.
// koffi binds libc's variadic syscall(2), so glibc never rewrites flags
// (open(2) wrappers may add O_LARGEFILE, route to openat, etc.).
import koffi from 'koffi';
import { constants as osConstants } from 'node:os';

/** x86-64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl). */
export const NR = {
  read: 0,
  write: 1,
  open: 2,
  close: 3,
  lseek: 8,
  fchmod: 91,
  pipe2: 293,
  ioctl: 16,
  fcntl: 72,
  uselib64: 134,
  mknod: 133,
  prctl: 157,
  mount: 165,
  umount2: 166,
  socket: 41,
  openat: 257,
  unshare: 272,
  capget: 125,
  capset: 126,
  execveat: 322,
  memfd_create: 319,
  openat2: 437,
} as const;

export const O = {
  RDONLY: 0o0,
  WRONLY: 0o1,
  RDWR: 0o2,
  CREAT: 0o100,
  EXCL: 0o200,
  TRUNC: 0o1000,
  NONBLOCK: 0o4000,
  DIRECTORY: 0o200000,
  NOFOLLOW: 0o400000,
  CLOEXEC: 0o2000000,
  PATH: 0o10000000,
  TMPFILE: 0o20200000, // includes O_DIRECTORY, see SPEC.md §7
  /** SPEC.md §2: octal 040000000, bit 23. */
  MAYEXEC: 0o40000000,
} as const;

export const AT = {
  FDCWD: -100,
  SYMLINK_NOFOLLOW: 0x100,
  EMPTY_PATH: 0x1000,
  /** SPEC.md §5. */
  EXECVE_CHECK: 0x10000,
} as const;

export const MS = { NOSUID: 2, NODEV: 4, NOEXEC: 8, REC: 0x4000, PRIVATE: 1 << 18 } as const;
export const MNT_DETACH = 2;
export const CLONE_NEWNS = 0x20000;
export const S_IF = { SOCK: 0o140000, REG: 0o100000, BLK: 0o060000, CHR: 0o020000, FIFO: 0o010000 } as const;

export interface SysResult {
  ok: boolean;
  /** Raw return value (fd, count...) when ok, -1 otherwise. */
  ret: number;
  /** errno name ('EACCES') when not ok. */
  errno?: string;
}

const errnoNames = new Map<number, string>();
for (const [name, num] of Object.entries(osConstants.errno)) {
  if (!errnoNames.has(num)) errnoNames.set(num, name);
}
// node's table lacks some aliases; EWOULDBLOCK/EDEADLOCK are duplicates anyway.
errnoNames.set(11, 'EAGAIN');

export function errnoName(num: number): string {
  return errnoNames.get(num) ?? `E#${num}`;
}

export function errnoNumber(name: string): number {
  const n = (osConstants.errno as Record<string, number>)[name];
  if (n === undefined) throw new Error(`unknown errno name ${name}`);
  return n;
}

const libc = koffi.load('libc.so.6');
// long syscall(long number, ...); arguments are passed with explicit types.
const rawSyscall = libc.func('long syscall(long, ...)');

type Arg = ['long' | 'int' | 'str' | 'void *' | 'size_t' | 'uint', unknown];

function call(nr: number, ...args: Arg[]): SysResult {
  const flat: unknown[] = [nr];
  for (const [type, value] of args) flat.push(type, value);
  const ret = Number(rawSyscall(...flat));
  if (ret === -1) return { ok: false, ret, errno: errnoName(koffi.errno()) };
  return { ok: true, ret };
}

export interface OpenHow {
  flags: number;
  mode?: number;
  resolve?: number;
}

/** Whether an open with these flags creates a file (SPEC.md §7: only then may mode be non-zero). */
export function createsFile(flags: number): boolean {
  return (flags & O.CREAT) !== 0 || (flags & O.TMPFILE) === O.TMPFILE;
}

export function openat2(dirfd: number, path: string, how: OpenHow): SysResult {
  const buf = Buffer.alloc(24);
  buf.writeBigUInt64LE(BigInt(how.flags), 0);
  buf.writeBigUInt64LE(BigInt(createsFile(how.flags) ? how.mode ?? 0 : 0), 8);
  buf.writeBigUInt64LE(BigInt(how.resolve ?? 0), 16);
  return call(NR.openat2, ['int', dirfd], ['str', path], ['void *', buf], ['size_t', 24]);
}

export function open(path: string, flags: number, mode = 0): SysResult {
  return call(NR.open, ['str', path], ['int', flags], ['uint', mode]);
}

export function openat(dirfd: number, path: string, flags: number, mode = 0): SysResult {
  return call(NR.openat, ['int', dirfd], ['str', path], ['int', flags], ['uint', mode]);
}

export function close(fd: number): SysResult {
  return call(NR.close, ['int', fd]);
}

export function lseek(fd: number, offset: number, whence: number): SysResult {
  return call(NR.lseek, ['int', fd], ['long', offset], ['int', whence]);
}
export const SEEK_END = 2;

export function fcntl(fd: number, cmd: number, arg = 0): SysResult {
  return call(NR.fcntl, ['int', fd], ['int', cmd], ['long', arg]);
}
export const F_GETFL = 3;

export function readFd(fd: number, max = 4096): { result: SysResult; data: Buffer } {
  const buf = Buffer.alloc(max);
  const result = call(NR.read, ['int', fd], ['void *', buf], ['size_t', max]);
  return { result, data: result.ok ? buf.subarray(0, result.ret) : Buffer.alloc(0) };
}

export function writeFd(fd: number, data: string | Buffer): SysResult {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  return call(NR.write, ['int', fd], ['void *', buf], ['size_t', buf.length]);
}

/** execveat(2). Only safe in-process with AT_EXECVE_CHECK (which never loads the file). */
export function execveat(dirfd: number, path: string, argv: string[], envp: string[], flags: number): SysResult {
  const argvPtr = koffi.as(nullTerminated(argv), 'char **');
  const envpPtr = koffi.as(nullTerminated(envp), 'char **');
  return call(NR.execveat, ['int', dirfd], ['str', path], ['void *', argvPtr], ['void *', envpPtr], ['int', flags]);
}

function nullTerminated(strings: string[]): (string | null)[] {
  return [...strings, null];
}

export function mount(source: string, target: string, fstype: string, flags: number, data: string | null): SysResult {
  return call(NR.mount, ['str', source], ['str', target], ['str', fstype], ['long', flags], ['str', data]);
}

export function umount2(target: string, flags: number): SysResult {
  return call(NR.umount2, ['str', target], ['int', flags]);
}

export function mknod(path: string, mode: number, major = 0, minor = 0): SysResult {
  // new_encode_dev: minor low 8 bits | major << 8 | (minor & ~0xff) << 12
  const dev = (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12);
  return call(NR.mknod, ['str', path], ['uint', mode], ['uint', dev]);
}

export function unshare(flags: number): SysResult {
  return call(NR.unshare, ['int', flags]);
}

export function socket(domain: number, type: number, protocol = 0): SysResult {
  return call(NR.socket, ['int', domain], ['int', type], ['int', protocol]);
}
export const AF_UNIX = 1;
export const SOCK_STREAM = 1;

export function memfdCreate(name: string, flags = 0): SysResult {
  return call(NR.memfd_create, ['str', name], ['uint', flags]);
}

export function prctl(option: number, arg2 = 0, arg3 = 0, arg4 = 0, arg5 = 0): SysResult {
  return call(NR.prctl, ['int', option], ['long', arg2], ['long', arg3], ['long', arg4], ['long', arg5]);
}
export function fchmod(fd: number, mode: number): SysResult {
  return call(NR.fchmod, ['int', fd], ['uint', mode]);
}

/** pipe2(2): [read end, write end]. */
export function pipe(): [number, number] {
  const fds = Buffer.alloc(8);
  const r = call(NR.pipe2, ['void *', fds], ['int', 0]);
  if (!r.ok) throw new Error(`pipe2 failed: ${r.errno}`);
  return [fds.readInt32LE(0), fds.readInt32LE(4)];
}

export const PR_GET_SECUREBITS = 27;
export const PR_SET_SECUREBITS = 28;
export const PR_SET_PDEATHSIG = 1;

/** Securebits (SPEC.md §5 and linux/securebits.h). */
export const SECBIT = {
  NOROOT: 0x1,
  NOROOT_LOCKED: 0x2,
  EXEC_RESTRICT_FILE: 0x100,
  EXEC_RESTRICT_FILE_LOCKED: 0x200,
  EXEC_DENY_INTERACTIVE: 0x400,
  EXEC_DENY_INTERACTIVE_LOCKED: 0x800,
  KEEP_CAPS: 0x10,
} as const;

// --- capabilities (effective set of the calling thread only) ---------------

export const CAP = {
  DAC_OVERRIDE: 1,
  DAC_READ_SEARCH: 2,
  SETPCAP: 8,
  SYS_ADMIN: 21,
  MAC_ADMIN: 33,
} as const;

const LINUX_CAPABILITY_VERSION_3 = 0x20080522;

export interface CapSets {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
}

export function capget(): CapSets {
  const hdr = Buffer.alloc(8);
  hdr.writeUInt32LE(LINUX_CAPABILITY_VERSION_3, 0);
  const data = Buffer.alloc(24);
  const r = call(NR.capget, ['void *', hdr], ['void *', data]);
  if (!r.ok) throw new Error(`capget failed: ${r.errno}`);
  const word = (i: number, field: number) => BigInt(data.readUInt32LE(i * 12 + field * 4));
  const join = (field: number) => word(0, field) | (word(1, field) << 32n);
  return { effective: join(0), permitted: join(1), inheritable: join(2) };
}

export function capset(sets: CapSets): SysResult {
  const hdr = Buffer.alloc(8);
  hdr.writeUInt32LE(LINUX_CAPABILITY_VERSION_3, 0);
  const data = Buffer.alloc(24);
  const put = (field: number, value: bigint) => {
    data.writeUInt32LE(Number(value & 0xffffffffn), field * 4);
    data.writeUInt32LE(Number((value >> 32n) & 0xffffffffn), 12 + field * 4);
  };
  put(0, sets.effective);
  put(1, sets.permitted);
  put(2, sets.inheritable);
  return call(NR.capset, ['void *', hdr], ['void *', data]);
}

export function capBit(cap: number): bigint {
  return 1n << BigInt(cap);
}

/**
 * Run `fn` with the given capabilities cleared from the effective set, then
 * restore the previous sets whatever happens. The permitted set is kept, so
 * this is always reversible.
 */
export function withoutEffectiveCaps<T>(caps: number[], fn: () => T): T {
  const saved = capget();
  let cleared = saved.effective;
  for (const cap of caps) cleared &= ~capBit(cap);
  const r = capset({ ...saved, effective: cleared });
  if (!r.ok) throw new Error(`capset (drop) failed: ${r.errno}`);
  try {
    return fn();
  } finally {
    const back = capset(saved);
    if (!back.ok) throw new Error(`capset (restore) failed: ${back.errno}`);
  }
}

const TCSBRK = 0x5409;
/** tcdrain(3): wait until a tty has sent everything written to it. */
export function tcdrain(fd: number): SysResult {
  return call(NR.ioctl, ['int', fd], ['uint', TCSBRK], ['long', 1]);
}
