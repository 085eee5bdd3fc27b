// The O_MAYEXEC sysctl through the Target: read, written, and saved before /
// restored after a body (LTP's save/restore idiom), also when it throws.
import { O } from './abi.js';
import { calls } from './calls.js';
import type { Call } from './executor-protocol.js';
import type { Target } from './target.js';

export const MAYEXEC_SYSCTL = '/proc/sys/fs/open_mayexec_enforce';

/** open, read, close of the sysctl, for a batch in which the open is call `at` (the value is the read's output). */
export function sysctlReadCalls(at: number, path = MAYEXEC_SYSCTL): Call[] {
  return [calls.open(path, O.RDONLY | O.CLOEXEC), calls.read({ result: at }, 64), calls.close({ result: at })];
}

export async function readSysctl(target: Target, path = MAYEXEC_SYSCTL): Promise<string> {
  return (await target.readFile(path)).toString('utf8').trim();
}

/**
 * The calls that write `value` (open, write, close), for a batch in which
 * the open is call number `at`: a policy batch switches the sysctl around
 * its opens without extra round trips.
 */
export function sysctlWriteCalls(value: string | number, at: number, path = MAYEXEC_SYSCTL): Call[] {
  return [calls.open(path, O.WRONLY | O.CLOEXEC), calls.write({ result: at }, String(value)), calls.close({ result: at })];
}

export async function writeSysctl(target: Target, value: string | number, path = MAYEXEC_SYSCTL): Promise<void> {
  await target.mustAll(`write ${value} to ${path}`, sysctlWriteCalls(value, 0, path));
}

/** Runs fn (which may change the sysctl, e.g. through a helper) and writes back the value read before it. */
export async function withSysctlRestored<T>(target: Target, fn: () => Promise<T>, path = MAYEXEC_SYSCTL): Promise<T> {
  const saved = await readSysctl(target, path);
  try {
    return await fn();
  } finally {
    await writeSysctl(target, saved, path);
  }
}

export async function withSysctl<T>(target: Target, value: number, fn: () => Promise<T>, path = MAYEXEC_SYSCTL): Promise<T> {
  // The saved value is read and the new one written in one round trip.
  const rs = await target.runAll([...sysctlReadCalls(0, path), ...sysctlWriteCalls(value, 3, path)]);
  const failed = rs.findIndex((r) => !r.ok);
  if (failed >= 0) {
    // The write may not have happened; if it did, the value read first goes back.
    if (rs[1]!.ok && rs[4]!.ok) await writeSysctl(target, rs[1]!.outs[0]!.toString('utf8').trim(), path);
    throw new Error(`fixture: saving ${path} and writing ${value} failed at call ${failed + 1}: ${rs[failed]!.errno}`);
  }
  const saved = rs[1]!.outs[0]!.toString('utf8').trim();
  try {
    return await fn();
  } finally {
    await writeSysctl(target, saved, path);
  }
}
