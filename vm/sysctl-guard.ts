// Direct mode's promise that nothing outlives the run: every sysctl a suite
// may touch is read before and written back after, by the parent process.
// The saved values also go to a file until they are restored: if the whole
// process group is SIGKILLed, the next direct run finds the file of a dead
// run and puts the values back before it starts.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheRoot } from './paths.js';
import { pidAlive } from './process-lines.js';

/**
 * The sysctls the suites of a run declared they write (SuiteNeeds.saveRestore).
 * OMAYEXEC_GUARDED_SYSCTLS (a colon-separated list) adds more: the project's
 * own interruption tests guard a harmless sysctl of a kernel without
 * O_MAYEXEC that way.
 */
export function guardedSysctls(suites: readonly { saveRestore?: string[] }[]): string[] {
  const extra = (process.env.OMAYEXEC_GUARDED_SYSCTLS ?? '').split(':').filter(Boolean);
  return [...new Set([...declaredSysctls(suites), ...extra])];
}

/** The sysctls the suites declared (SuiteNeeds.saveRestore), each once: what the board bundle's script guards too. */
export function declaredSysctls(suites: readonly { saveRestore?: string[] }[]): string[] {
  return [...new Set(suites.flatMap((s) => s.saveRestore ?? []))];
}

export type SavedSysctls = Map<string, string>;

function guardDir(): string {
  return join(cacheRoot(), 'direct-guard');
}

function guardFile(pid: number): string {
  return join(guardDir(), `${pid}.json`);
}

interface Guard {
  pid: number;
  values: Record<string, string>;
  /** The runner's pid: its work-mount folders are named after it (harness/target.ts uniquePath). */
  runnerPid?: number;
}

function writeGuard(g: Guard): void {
  mkdirSync(guardDir(), { recursive: true });
  writeFileSync(guardFile(process.pid), JSON.stringify(g));
}

export function saveSysctls(paths: string[]): SavedSysctls {
  const saved: SavedSysctls = new Map();
  for (const p of paths) if (existsSync(p)) saved.set(p, readFileSync(p, 'utf8').trim());
  writeGuard({ pid: process.pid, values: Object.fromEntries(saved) });
  return saved;
}

/** Once the runner is started: the guard also names it. */
export function guardRunner(saved: SavedSysctls, runnerPid: number): void {
  writeGuard({ pid: process.pid, values: Object.fromEntries(saved), runnerPid });
}

/**
 * The empty work-mount folders a killed runner left in /tmp (its mounts died
 * with its mount namespace; the folders stay). Only empty ones go: rmdir.
 */
export function removeLeftFolders(runnerPid: number): string[] {
  const prefix = `omx-test-mount-${runnerPid.toString(36)}`;
  const removed: string[] = [];
  for (const name of readdirSync('/tmp').filter((n) => n.startsWith(prefix))) {
    try {
      rmdirSync(join('/tmp', name));
      removed.push(join('/tmp', name));
    } catch {
      // not empty, or not ours to remove
    }
  }
  return removed;
}

function writeBack(saved: SavedSysctls): string[] {
  const restored: string[] = [];
  for (const [p, value] of saved) {
    if (existsSync(p) && readFileSync(p, 'utf8').trim() !== value) {
      writeFileSync(p, value);
      restored.push(p);
    }
  }
  return restored;
}

/** Writes back every value that changed; returns the paths it restored. */
export function restoreSysctls(saved: SavedSysctls): string[] {
  const restored = writeBack(saved);
  rmSync(guardFile(process.pid), { force: true });
  return restored;
}

/** Values left changed by direct runs that died without restoring them: put back. */
export function recoverAbandoned(): { pid: number; restored: string[]; removed: string[] }[] {
  const dir = guardDir();
  if (!existsSync(dir)) return [];
  const out: { pid: number; restored: string[]; removed: string[] }[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
    const path = join(dir, f);
    let g: Guard;
    try {
      g = JSON.parse(readFileSync(path, 'utf8')) as typeof g;
    } catch {
      rmSync(path, { force: true }); // a file cut short: its run died before it had changed anything
      continue;
    }
    if (g.pid === process.pid || pidAlive(g.pid)) continue;
    out.push({ pid: g.pid, restored: writeBack(new Map(Object.entries(g.values))), removed: g.runnerPid ? removeLeftFolders(g.runnerPid) : [] });
    rmSync(path, { force: true });
  }
  return out;
}
