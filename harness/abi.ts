// x86-64 Linux ABI numbers the suites use: syscall numbers, flags, struct
// offsets, errno names. Shared by both targets (koffi and the executor),
// which pass them to the kernel untouched.
import { constants as osConstants } from 'node:os';

/** x86-64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl). */
export const NR = {
  read: 0,
  write: 1,
  open: 2,
  close: 3,
  lseek: 8,
  ioctl: 16,
  getpid: 39,
  sendfile: 40,
  socket: 41,
  kill: 62,
  uname: 63,
  fcntl: 72,
  mkdir: 83,
  rmdir: 84,
  unlink: 87,
  symlink: 88,
  chmod: 90,
  fchmod: 91,
  chown: 92,
  setresuid: 117,
  setxattr: 188,
  capget: 125,
  capset: 126,
  mknod: 133,
  uselib64: 134,
  prctl: 157,
  mount: 165,
  umount2: 166,
  reboot: 169,
  getdents64: 217,
  openat: 257,
  newfstatat: 262,
  unshare: 272,
  pipe2: 293,
  finit_module: 313,
  memfd_create: 319,
  execveat: 322,
  openat2: 437,
} as const;

export const O = {
  RDONLY: 0o0,
  WRONLY: 0o1,
  RDWR: 0o2,
  CREAT: 0o100,
  EXCL: 0o200,
  TRUNC: 0o1000,
  APPEND: 0o2000,
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
export const S_IF = { SOCK: 0o140000, REG: 0o100000, BLK: 0o060000, DIR: 0o040000, CHR: 0o020000, FIFO: 0o010000 } as const;
export const SEEK_END = 2;
export const F_GETFL = 3;
export const AF_UNIX = 1;
export const SOCK_STREAM = 1;
export const PR_SET_PDEATHSIG = 1;
export const PR_GET_SECUREBITS = 27;
export const PR_SET_SECUREBITS = 28;
export const SIGKILL = 9;
export const SIGSEGV = 11;

/** Securebits (SPEC.md §5 and linux/securebits.h). */
export const SECBIT = {
  NOROOT: 0x1,
  NOROOT_LOCKED: 0x2,
  KEEP_CAPS: 0x10,
  EXEC_RESTRICT_FILE: 0x100,
  EXEC_RESTRICT_FILE_LOCKED: 0x200,
  EXEC_DENY_INTERACTIVE: 0x400,
  EXEC_DENY_INTERACTIVE_LOCKED: 0x800,
} as const;

export const CAP = {
  DAC_OVERRIDE: 1,
  DAC_READ_SEARCH: 2,
  SETPCAP: 8,
  SYS_ADMIN: 21,
  MAC_ADMIN: 33,
} as const;

export const LINUX_CAPABILITY_VERSION_3 = 0x20080522;

export function capBit(cap: number): bigint {
  return 1n << BigInt(cap);
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

/** Whether an open with these flags creates a file (SPEC.md §7: only then may mode be non-zero). */
export function createsFile(flags: number): boolean {
  return (flags & O.CREAT) !== 0 || (flags & O.TMPFILE) === O.TMPFILE;
}

/** new_encode_dev: minor low 8 bits | major << 8 | (minor & ~0xff) << 12. */
export function encodeDev(major: number, minor: number): number {
  return (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12);
}
