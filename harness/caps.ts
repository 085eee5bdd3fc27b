// Capability switches through the Target, each verified with capget: a case
// runs in the capability state its name claims, or the suite errors.
import { capBit } from './abi.js';
import { calls, type CapSets } from './calls.js';
import { TargetError, type Target } from './target.js';

export async function setCaps(target: Target, sets: CapSets): Promise<void> {
  await target.must('capset', calls.capset(sets));
  const now = await target.capget();
  if (now.effective !== sets.effective) throw new TargetError(`capset left effective 0x${now.effective.toString(16)}, not 0x${sets.effective.toString(16)}`);
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
