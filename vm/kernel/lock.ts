// One build per work tree at a time: a lock file holding the builder's pid,
// taken over when that process is gone.
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { pidAlive } from '../process-lines.js';
import { readIfExists } from './files.js';

/** Wait for the lock at `path`; resolves to its release. */
export async function acquireLock(path: string, log: (l: string) => void): Promise<() => void> {
  mkdirSync(dirname(path), { recursive: true });
  const started = Date.now();
  let lastNote = 0;
  for (;;) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const pid = Number((readIfExists(path) ?? Buffer.from('')).toString().trim());
    if (!pid || !pidAlive(pid)) {
      rmSync(path, { force: true });
      continue;
    }
    const waited = Math.round((Date.now() - started) / 1000);
    if (waited - lastNote >= 30 || lastNote === 0) {
      log(`[lock] waiting for the build held by pid ${pid} (${path}), ${waited} s so far`);
      lastNote = Math.max(waited, 1);
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}
