// The state a suite starts from, read in one round trip: its open fds (to
// prove none leaked at the end), its capability sets (to restore after each
// switch) and the O_MAYEXEC sysctl (to restore after each write).
import { calls, decodeCapData, type CapSets } from './calls.js';
import { MAYEXEC_SYSCTL, sysctlReadCalls } from './sysctl.js';
import { fdCountCalls, fdCountFrom, TargetError, type Target } from './target.js';

export interface StartState {
  fds: number;
  caps: CapSets;
  /** The sysctl's value; null when the kernel has none (no O_MAYEXEC). */
  sysctl: string | null;
}

export async function startState(target: Target): Promise<StartState> {
  const rs = await target.runAll([...fdCountCalls(0), calls.capget(), ...sysctlReadCalls(4)]);
  const fds = fdCountFrom(rs, 0);
  if (!rs[3]!.ok) throw new TargetError(`capget: ${rs[3]!.errno}`);
  const sysctl = rs[4]!.ok && rs[5]!.ok ? rs[5]!.outs[0]!.toString('utf8').trim() : null;
  return { fds, caps: decodeCapData(rs[3]!.outs[1]!), sysctl };
}

/** The sysctl value of a suite gated on O_MAYEXEC: its absence is an error, not a result. */
export function sysctlOf(s: StartState): string {
  if (s.sysctl === null) throw new TargetError(`${MAYEXEC_SYSCTL} is not readable although the O_MAYEXEC profile is supported`);
  return s.sysctl;
}
