// Direct mode's promise that nothing outlives the run: every sysctl a suite
// may touch is read before and written back after, by the parent process.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/** Sysctls the suites write (SPEC.md §2.1). */
export const GUARDED_SYSCTLS = ['/proc/sys/fs/open_mayexec_enforce'];

export type SavedSysctls = Map<string, string>;

export function saveSysctls(paths = GUARDED_SYSCTLS): SavedSysctls {
  const saved: SavedSysctls = new Map();
  for (const p of paths) if (existsSync(p)) saved.set(p, readFileSync(p, 'utf8').trim());
  return saved;
}

/** Writes back every value that changed; returns the paths it restored. */
export function restoreSysctls(saved: SavedSysctls): string[] {
  const restored: string[] = [];
  for (const [p, value] of saved) {
    if (readFileSync(p, 'utf8').trim() !== value) {
      writeFileSync(p, value);
      restored.push(p);
    }
  }
  return restored;
}
