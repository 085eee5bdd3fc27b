// The state a suite starts from, read in one round trip: its open fds (to
// prove none leaked at the end), its capability sets (to restore after each
// switch) and the O_MAYEXEC sysctl (to restore after each write).
import { O } from './abi.js';
import { calls, decodeCapData, direntNames, type CapSets } from './calls.js';
import { MAYEXEC_SYSCTL } from './sysctl.js';
import { TargetError, type Target } from './target.js';

export interface StartState {
  fds: number;
  caps: CapSets;
  /** The sysctl's value; null when the kernel has none (no O_MAYEXEC). */
  sysctl: string | null;
}

export async function startState(target: Target): Promise<StartState> {
  const rs = await target.runAll([
    calls.open('/proc/self/fd', O.RDONLY | O.DIRECTORY | O.CLOEXEC),
    calls.getdents64({ result: 0 }, 1 << 16),
    calls.close({ result: 0 }),
    calls.capget(),
    calls.open(MAYEXEC_SYSCTL, O.RDONLY | O.CLOEXEC),
    calls.read({ result: 4 }, 64),
    calls.close({ result: 4 }),
  ]);
  if (!rs[0]!.ok || !rs[1]!.ok) throw new TargetError(`count fds: ${rs[0]!.errno ?? rs[1]!.errno}`);
  if (!rs[3]!.ok) throw new TargetError(`capget: ${rs[3]!.errno}`);
  // The directory's own fd is in the listing.
  const fds = direntNames(rs[1]!.outs[0]!, rs[1]!.ret).filter((n) => n !== '.' && n !== '..').length - 1;
  const sysctl = rs[4]!.ok && rs[5]!.ok ? rs[5]!.outs[0]!.toString('utf8').trim() : null;
  return { fds, caps: decodeCapData(rs[3]!.outs[1]!), sysctl };
}

/** The sysctl value of a suite gated on O_MAYEXEC: its absence is an error, not a result. */
export function sysctlOf(s: StartState): string {
  if (s.sysctl === null) throw new TargetError(`${MAYEXEC_SYSCTL} is not readable although the O_MAYEXEC profile is supported`);
  return s.sysctl;
}
