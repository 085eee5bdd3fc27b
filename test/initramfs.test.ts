// The cached base archive is verified by hash before each use: a corrupted
// copy is detected and rebuilt, an intact one is reused as is.
import { openSync, writeSync, closeSync, statSync } from 'node:fs';
import t from 'tap';
import tmp from 'tmp';

t.test('a corrupted base archive is rebuilt, an intact one reused', async (t) => {
  const cache = tmp.dirSync({ unsafeCleanup: true }).name;
  process.env.OMAYEXEC_CACHE = cache;
  const { ensureBaseArchive } = await import('../vm/initramfs.js');
  const first = ensureBaseArchive();
  t.equal(first.built, true, 'built on first use');
  const size = statSync(first.path).size;
  t.ok(size > statSync('/bin/busybox').size, `holds busybox (${size} bytes)`);
  const again = ensureBaseArchive();
  t.equal(again.built, false, 'reused when intact');
  t.equal(again.path, first.path);
  // Flip bytes in the middle of the archive, keeping its size.
  const fd = openSync(first.path, 'r+');
  writeSync(fd, Buffer.from('corrupt'), 0, 7, Math.floor(size / 2));
  closeSync(fd);
  const logged: string[] = [];
  const rebuilt = ensureBaseArchive((l) => logged.push(l));
  t.equal(rebuilt.built, true, 'rebuilt after corruption');
  t.ok(logged.some((l) => /does not match its recorded hash/.test(l)), 'and it says why');
  t.equal(ensureBaseArchive().built, false, 'the rebuilt archive verifies');
});
