// Work mounts made several at once (one round trip) leave nothing behind
// when one of them cannot be made: the mounts before it are released, its
// directory removed, and the failure is a fixture error. Real mounts on
// this machine (root), through the ffi target.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import t from 'tap';
import { FfiBackend } from '../harness/ffi-backend.js';
import { Target } from '../harness/target.js';
import { calls } from '../harness/calls.js';
import { withWorkMount, withWorkMounts } from '../harness/workmount.js';

const skip = process.getuid?.() !== 0 ? 'mounts need root' : false;
const target = new Target(new FfiBackend());
const leftDirs = () => readdirSync('/tmp').filter((n) => n.startsWith('omx-test-mount-'));
const leftMounts = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes('/omx-test-mount-'));

t.test('three mounts, all made: the body sees them, nothing left after', { skip }, async (t) => {
  const before = leftDirs();
  const seen = await withWorkMounts(target, [{ noexec: false, mode: 0o500 }, { noexec: true, mode: 0o400 }, { noexec: false, mode: 0o400, nodev: true }], async (ms) => {
    return Promise.all(ms.map(async (m) => (await target.stat(m.paths.regular)) as { mode: number }));
  });
  t.same(seen.map((s) => s.mode & 0o777), [0o500, 0o400, 0o400], 'each regular file has its mode');
  t.same(leftDirs(), before, 'no work-mount folder left');
  t.same(leftMounts(), [], 'no work mount left');
});

t.test('the second mount fails: the first is released, nothing left, a fixture error', { skip }, async (t) => {
  const before = leftDirs();
  let ran = false;
  await t.rejects(
    withWorkMounts(target, [{ noexec: false, mode: 0o500 }, { noexec: false, mode: 0o500, size: 'not-a-size' }, { noexec: false, mode: 0o500 }], async () => {
      ran = true;
    }),
    /fixture: mount tmpfs on \/tmp\/omx-test-mount-\S+ failed: EINVAL/,
  );
  t.notOk(ran, 'the body never ran');
  t.same(leftDirs(), before, 'no work-mount folder left');
  t.same(leftMounts(), [], 'no work mount left');
});

t.test('withWorkMount: a release that fails is a fixture error, not a silent leftover', { skip }, async (t) => {
  let dir = '';
  await t.rejects(
    withWorkMount(target, { noexec: false, mode: 0o500 }, async (m) => {
      dir = m.dir;
      // Unmount it under the fixture and leave a file: umount2 gets EINVAL, rmdir ENOTEMPTY.
      await target.mustAll('unmount it', [calls.umount2(m.dir, 2), calls.open(`${m.dir}/left`, 0o101, 0o600, true)]);
    }),
    /fixture: releasing \/tmp\/omx-test-mount-\S+ failed: EINVAL/,
  );
  t.ok(dir, 'the body ran');
  rmSync(dir, { recursive: true, force: true });
});
