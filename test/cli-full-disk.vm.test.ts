// A results folder on a full disk, as a VM run meets it while writing the
// guest's initramfs: exit 6, one line naming ENOSPC and where, and no partial
// run.cpio left. Needs the reference kernel (built or cached).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import tmp from 'tmp';
import { runCli } from './fixtures/cli.js';

t.test('results folder on a full disk: exit 6, one clear line, nothing half-written left', { skip: process.getuid?.() !== 0 ? 'mounts need root' : false }, async (t) => {
  const full = join(tmp.dirSync({ unsafeCleanup: true }).name, 'full');
  spawnSync('mkdir', [full]);
  t.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'omx-full', full]).status, 0, 'a 64 KB tmpfs');
  try {
    const r = runCli(['run', '--reference', '6.1', '--suite', 'exec', '--quiet'], { env: { OMAYEXEC_RESULTS: full }, timeout: 40 * 60_000 });
    t.equal(r.status, 6, 'full disk: exit 6');
    t.match(r.stderr, /no space left on device while writing .*full/, `it says ENOSPC and where (${r.stderr.trim()})`);
    t.equal(r.errLines.length, 1, 'one line');
    const left = spawnSync('find', [full, '-name', '*.cpio'], { encoding: 'utf8' }).stdout.trim();
    t.equal(left, '', 'no partial run.cpio left on the full disk');
  } finally {
    spawnSync('umount', [full]);
  }
});
