// The four ways the upstream selftest opens each object (SPEC.md §2.6), with
// the outcome as 'fd' or an errno name. An fd is always closed at once.
import * as sys from './sys.js';

export type OpenVia = 'openat2' | 'open+O_MAYEXEC' | 'openat+O_MAYEXEC' | 'openat2+O_MAYEXEC';

export function outcomeOf(r: sys.SysResult): string {
  if (!r.ok) return r.errno ?? 'E?';
  sys.close(r.ret);
  return 'fd';
}

export function openVia(via: OpenVia, path: string, flags: number, mode = 0): sys.SysResult {
  switch (via) {
    case 'openat2':
      return sys.openat2(sys.AT.FDCWD, path, { flags, mode });
    case 'open+O_MAYEXEC':
      return sys.open(path, flags | sys.O.MAYEXEC, mode);
    case 'openat+O_MAYEXEC':
      return sys.openat(sys.AT.FDCWD, path, flags | sys.O.MAYEXEC, mode);
    case 'openat2+O_MAYEXEC':
      return sys.openat2(sys.AT.FDCWD, path, { flags: flags | sys.O.MAYEXEC, mode });
  }
}

/** O_RDONLY|O_NOFOLLOW|O_CLOEXEC, plus O_NONBLOCK for FIFOs (SPEC.md §2.6). */
export function selftestFlags(isFifo: boolean): number {
  return sys.O.RDONLY | sys.O.NOFOLLOW | sys.O.CLOEXEC | (isFifo ? sys.O.NONBLOCK : 0);
}

export function tryOpen(via: OpenVia, path: string, flags: number, mode = 0): string {
  return outcomeOf(openVia(via, path, flags, mode));
}
