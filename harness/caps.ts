// Capability switches through the Target, each verified with capget: a case
// runs in the capability state its name claims, or the suite errors.
import { capBit } from './abi.js';
import { calls, decodeCapData, type CapSets } from './calls.js';
import { TargetError, type SysResult, type Target } from './target.js';

/** capset, then capget in the same round trip: the new effective set is verified. */
export async function setCaps(target: Target, sets: CapSets): Promise<void> {
  const [set, got] = await target.runAll([calls.capset(sets), calls.capget()]);
  checkCapSwitch('set', set!, got!, sets.effective);
}

/**
 * Run fn with `caps` cleared from the effective set (permitted kept, so it
 * is reversible), then restore the saved sets whatever happens.
 */
export async function withoutCaps<T>(target: Target, caps: number[], fn: () => Promise<T>): Promise<T> {
  const saved = await target.capget();
  let effective = saved.effective;
  for (const c of caps) effective &= ~capBit(c);
  await setCaps(target, { ...saved, effective });
  try {
    return await fn();
  } finally {
    await setCaps(target, saved);
  }
}

/**
 * In a batch, a capset followed by a capget: throws unless the effective set
 * is now `want` (the cases after it run in the state their names claim).
 */
export function checkCapSwitch(what: string, set: SysResult, got: SysResult, want: bigint): void {
  if (!set.ok) throw new TargetError(`capset (${what}) failed: ${set.errno}`);
  const now = got.ok ? decodeCapData(got.outs[1]!).effective : -1n;
  if (now !== want) throw new TargetError(`after capset (${what}) the effective set is 0x${now.toString(16)}, not 0x${want.toString(16)}`);
}
