// The sha256 of a large file (a kernel image), hashed once per version of
// the file: the digest is kept in the cache with the stat it was taken from
// (device, inode, size, mtime, ctime). A file rewritten or truncated since
// has another stat and is hashed again, so an image damaged that way is
// still caught; a run does not re-read megabytes it has already hashed.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cacheRoot } from './paths.js';

interface Stored {
  path: string;
  stat: string;
  sha256: string;
}

const statKey = (path: string): string => {
  const s = statSync(path, { bigint: true });
  return [s.dev, s.ino, s.size, s.mtimeNs, s.ctimeNs].join(':');
};

export function sha256OfFile(file: string): string {
  const path = resolve(file);
  const stat = statKey(path);
  const memo = join(cacheRoot(), 'file-hashes', `${createHash('sha256').update(path).digest('hex').slice(0, 32)}.json`);
  try {
    const s = JSON.parse(readFileSync(memo, 'utf8')) as Stored;
    if (s.path === path && s.stat === stat) return s.sha256;
  } catch {
    // not hashed yet, or the memo is unreadable: hash it
  }
  const sha256 = createHash('sha256').update(readFileSync(path)).digest('hex');
  // Recorded only if the file did not change while it was read.
  if (statKey(path) === stat) {
    try {
      mkdirSync(join(cacheRoot(), 'file-hashes'), { recursive: true });
      const tmp = `${memo}.${process.pid}`;
      writeFileSync(tmp, JSON.stringify({ path, stat, sha256 } satisfies Stored));
      renameSync(tmp, memo);
    } catch {
      // a memo we cannot write only costs a hash next time
    }
  }
  return sha256;
}
