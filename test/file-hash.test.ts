// sha256OfFile (vm/file-hash.ts): a file's digest is reused only while the
// file keeps the stat it was hashed with; a rewrite or a truncation is
// hashed again (a damaged cached kernel must still be caught).
import { createHash } from 'node:crypto';
import { readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import tmp from 'tmp';
import { sha256OfFile } from '../vm/file-hash.js';

const real = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

t.test('hashed once, reused while unchanged, hashed again after a rewrite or a truncation', async (t) => {
  const dir = tmp.dirSync({ unsafeCleanup: true });
  t.teardown(() => dir.removeCallback());
  const saved = process.env.OMAYEXEC_CACHE;
  process.env.OMAYEXEC_CACHE = join(dir.name, 'cache');
  t.teardown(() => (saved === undefined ? delete process.env.OMAYEXEC_CACHE : (process.env.OMAYEXEC_CACHE = saved)));
  const file = join(dir.name, 'bzImage');
  writeFileSync(file, 'A'.repeat(4096));
  t.equal(sha256OfFile(file), real('A'.repeat(4096)), 'the real digest');
  t.equal(readdirSync(join(dir.name, 'cache', 'file-hashes')).length, 1, 'remembered');
  t.equal(sha256OfFile(file), real('A'.repeat(4096)), 'the same digest from the memo');
  // Same size, other bytes: the mtime/ctime move, so it is hashed again.
  await new Promise((r) => setTimeout(r, 20));
  writeFileSync(file, 'B'.repeat(4096));
  t.equal(sha256OfFile(file), real('B'.repeat(4096)), 'a rewrite is hashed again');
  truncateSync(file, 100);
  t.equal(sha256OfFile(file), real('B'.repeat(100)), 'a truncation is hashed again');
});
