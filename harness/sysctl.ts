// The O_MAYEXEC sysctl, read and written the way the suites need: the value
// is saved before and restored after (LTP's save/restore idiom), also when
// the body throws.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export const MAYEXEC_SYSCTL = '/proc/sys/fs/open_mayexec_enforce';

export function readSysctl(path = MAYEXEC_SYSCTL): string {
  return readFileSync(path, 'utf8').trim();
}

export function writeSysctl(value: string | number, path = MAYEXEC_SYSCTL): void {
  writeFileSync(path, String(value));
}

export function sysctlPresent(path = MAYEXEC_SYSCTL): boolean {
  return existsSync(path);
}

export function withSysctl<T>(value: number, fn: () => T, path = MAYEXEC_SYSCTL): T {
  const saved = readSysctl(path);
  writeSysctl(value, path);
  try {
    return fn();
  } finally {
    writeSysctl(saved, path);
  }
}
