// Direct mode's promise that nothing outlives the run: every sysctl a suite
// may touch is read before and written back after, by the parent process.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/**
 * Sysctls the suites write (SPEC.md §2.1). OMAYEXEC_GUARDED_SYSCTLS (a
 * colon-separated list) adds more: the project's own interruption tests
 * guard a harmless sysctl of a kernel without O_MAYEXEC that way.
 */
export const GUARDED_SYSCTLS = ['/proc/sys/fs/open_mayexec_enforce', ...(process.env.OMAYEXEC_GUARDED_SYSCTLS ?? '').split(':').filter(Boolean)];

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
