// The four ways the upstream selftest opens each object (SPEC.md §2.6), as
// batchable calls whose fd, if any, the target closes at once; the outcome
// is 'fd' or an errno name.
import type { OpenPath } from '../fixtures/dimensions.js';
import { AT, O } from './abi.js';
import { calls } from './calls.js';
import type { Call } from './executor-protocol.js';

export function openCall(via: OpenPath, path: string, flags: number, mode = 0): Call {
  switch (via) {
    case 'openat2':
      return calls.openat2(AT.FDCWD, path, { flags, mode }, true);
    case 'open+O_MAYEXEC':
      return calls.open(path, flags | O.MAYEXEC, mode, true);
    case 'openat+O_MAYEXEC':
      return calls.openat(AT.FDCWD, path, flags | O.MAYEXEC, mode, true);
    case 'openat2+O_MAYEXEC':
      return calls.openat2(AT.FDCWD, path, { flags: flags | O.MAYEXEC, mode }, true);
  }
}

/** O_RDONLY|O_NOFOLLOW|O_CLOEXEC, plus O_NONBLOCK for FIFOs (SPEC.md §2.6). */
export function selftestFlags(isFifo: boolean): number {
  return O.RDONLY | O.NOFOLLOW | O.CLOEXEC | (isFifo ? O.NONBLOCK : 0);
}
