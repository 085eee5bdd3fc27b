// How the policy suite learns whether a loop device serves node 7:0 (SPEC.md
// §2.4): from sysfs and /proc/devices, never from an open of the node. Fake
// trees stand in for /sys and /proc; the calls are real (ffi backend).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import tmp from 'tmp';
import { FfiBackend } from '../harness/ffi-backend.js';
import { Target } from '../harness/target.js';
import { loopDevice } from '../harness/workmount.js';

const target = new Target(new FfiBackend());

function fakeRoot(t: Test, o: { blockDir: boolean; loop0?: boolean; devices?: string }): string {
  const dir = tmp.dirSync({ unsafeCleanup: true });
  t.teardown(() => dir.removeCallback());
  if (o.blockDir) mkdirSync(join(dir.name, 'sys/dev/block'), { recursive: true });
  if (o.loop0) mkdirSync(join(dir.name, 'sys/dev/block/7:0'));
  mkdirSync(join(dir.name, 'proc'));
  if (o.devices !== undefined) writeFileSync(join(dir.name, 'proc/devices'), o.devices);
  return dir.name;
}

const withLoop = 'Character devices:\n  1 mem\n  7 vcs\n\nBlock devices:\n  7 loop\n  8 sd\n';
// Character major 7 (vcs) must not be taken for the loop driver.
const withoutLoop = 'Character devices:\n  1 mem\n  7 vcs\n\nBlock devices:\n  8 sd\n254 virtblk\n';

t.test('loop0 in sysfs: present', async (t) => {
  t.equal(await loopDevice(target, fakeRoot(t, { blockDir: true, loop0: true, devices: withoutLoop })), 'present');
});

t.test('no loop0 and no loop driver in /proc/devices: absent', async (t) => {
  t.equal(await loopDevice(target, fakeRoot(t, { blockDir: true, devices: withoutLoop })), 'absent');
});

t.test('the driver registered but no loop0 yet: unknown (an open may create it)', async (t) => {
  t.equal(await loopDevice(target, fakeRoot(t, { blockDir: true, devices: withLoop })), 'unknown');
});

t.test('no sysfs: unknown, whatever /proc/devices says', async (t) => {
  t.equal(await loopDevice(target, fakeRoot(t, { blockDir: false, devices: withoutLoop })), 'unknown');
});
