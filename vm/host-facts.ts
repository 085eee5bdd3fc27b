// Facts about this machine's tools that take a process to learn (gcc's
// version line, whether setpriv has --pdeathsig), kept in the cache beside
// the program's identity (its resolved path, size and mtime): a run does not
// pay a process start for each of them every time.
import { accessSync, constants, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheRoot } from './paths.js';

/** An executable of that name on PATH (a lookup: running `qemu --version` costs ~35 ms). */
export function onPath(bin: string): string | null {
  for (const d of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    try {
      accessSync(join(d, bin), constants.X_OK);
      return join(d, bin);
    } catch {
      // next folder
    }
  }
  return null;
}

interface Stored {
  program: string;
  size: number;
  mtimeMs: number;
  value: string;
}

/** `compute()` once per version of `program` (found on PATH); null when the program is absent. */
export function programFact(name: string, program: string, compute: () => string): string | null {
  const path = onPath(program);
  if (!path) return null;
  const st = statSync(path);
  const file = join(cacheRoot(), 'host-facts', `${name}.json`);
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as Stored;
    if (s.program === path && s.size === st.size && s.mtimeMs === st.mtimeMs) return s.value;
  } catch {
    // absent or unreadable: learn it again
  }
  const value = compute();
  try {
    mkdirSync(join(cacheRoot(), 'host-facts'), { recursive: true });
    const tmp = `${file}.${process.pid}`;
    writeFileSync(tmp, JSON.stringify({ program: path, size: st.size, mtimeMs: st.mtimeMs, value } satisfies Stored));
    renameSync(tmp, file);
  } catch {
    // a cache we cannot write only costs the process next time
  }
  return value;
}
