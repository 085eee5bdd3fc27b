// The O_MAYEXEC sysctl through the Target: read, written, and saved before /
// restored after a body (LTP's save/restore idiom), also when it throws.
import { O } from './abi.js';
import { calls } from './calls.js';
import type { Call } from './executor-protocol.js';
import type { Target } from './target.js';

export const MAYEXEC_SYSCTL = '/proc/sys/fs/open_mayexec_enforce';

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

export async function withSysctl<T>(target: Target, value: number, fn: () => Promise<T>, path = MAYEXEC_SYSCTL): Promise<T> {
  const saved = await readSysctl(target, path);
  await writeSysctl(target, value, path);
  try {
    return await fn();
  } finally {
    await writeSysctl(target, saved, path);
  }
}
