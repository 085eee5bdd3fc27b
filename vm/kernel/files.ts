// File helpers the build steps share: content hashes, reads of files that
// may be absent, and atomic replacement (a new inode, so make sees a change).
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname } from 'node:path';

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function readIfExists(path: string): Buffer | null {
  try {
    return readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** Replace a file's content atomically (new inode, new mtime), keeping a mode. */
export function writeFileAtomic(path: string, data: Buffer, mode: number): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.omayexec-tmp`;
  writeFileSync(tmp, data);
  chmodSync(tmp, mode & 0o7777);
  renameSync(tmp, path);
}

/** Write JSON through a temporary file and a rename: readers never see half of it. */
export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
  renameSync(tmp, path);
}
