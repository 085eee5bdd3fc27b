// The reference kernel (Debian linux-source-6.1 + our O_MAYEXEC v7 patches),
// built or taken from the cache, verified end to end as a user runs it; and
// the proof that a wrong expectation is caught for exactly that case.
import t from 'tap';
import { runAndRecord } from './fixtures/cli.js';

// A cold reference build is ~7-20 min on 2 cores.
const run = (args: string[]) => runAndRecord(args, { timeout: 40 * 60_000 });

t.test('reference 6.1: every suite that applies passes with O_MAYEXEC required', async (t) => {
  const { status, record } = run(['--reference', '6.1', '--expect', 'omayexec-v7', '--expect', 'omayexec-ima']);
  t.equal(record.verdict, 'pass', record.why);
  t.equal(status, 0);
  const omx = record.profiles.find((p) => p.name === 'omayexec-v7');
  t.equal(omx?.supported, true, 'O_MAYEXEC profile reported supported');
  const count = (suite: string) => record.cases.filter((c) => c.suite === suite && c.status === 'pass').length;
  // 4 variants × 4 sysctl × 7 objects × 4 open paths × 2 capability states, + the fd-leak check.
  t.equal(count('omayexec-policy'), 897, 'the whole upstream policy matrix passed');
  t.equal(count('omayexec-sysctl'), 41, 'sysctl cases passed');
  // 29 rows, 32 nodev, 32 unregistered-major (2 types × 4 open paths × 4 sysctl values), 16 creation, 6 io_uring, 13 class rows, 2 exec-under-policy, the fd-leak check.
  t.equal(count('omayexec-extra'), 131, 'extra cases passed');
  t.equal(count('exec'), 15, 'exec cases passed (14 rows + the fd-leak check)');
  t.equal(count('uselib'), 20, 'uselib cases passed (x86-64 ENOSYS + 9 rows, again under sysctl 3, + the fd-leak check)');
  t.equal(count('ima'), 10, 'IMA MAY_OPENEXEC mask cases passed (9 rows + the fd-leak check)');
  t.equal(record.profiles.find((p) => p.name === 'omayexec-ima')?.supported, true, 'the IMA profile probe loaded the policy');
  t.equal(record.totals.fail + record.totals.error, 0);
});

t.test('reference 6.1: the executor channel is virtio-serial, and ttyS1 still works when forced', async (t) => {
  const virtio = run(['--reference', '6.1', '--suite', 'omayexec-sysctl', '--expect', 'omayexec-v7']);
  t.equal(virtio.record.channel, 'virtio-serial', 'the reference fragment has virtio-serial built in: the guest uses it');
  t.equal(virtio.record.verdict, 'pass', virtio.record.why);
  const serial = run(['--reference', '6.1', '--suite', 'omayexec-sysctl', '--suite', 'exec', '--expect', 'omayexec-v7', '--append', 'omx.channel=/dev/ttyS1']);
  t.equal(serial.record.channel, 'ttyS1', 'the 16550 fallback channel was used');
  t.equal(serial.record.verdict, 'pass', serial.record.why);
  t.equal(serial.record.totals.pass, virtio.record.totals.pass + 15, 'the same sysctl cases, plus exec, pass over ttyS1');
});

t.test('a deliberately wrong table cell fails exactly that case', async (t) => {
  // SPEC.md table 2.3 says EACCES here; claim fd instead.
  const cell = 'policy sysctl=2 mount=noexec mode=0400 type=regular via=openat2+O_MAYEXEC caps=no-dac';
  const { status, record } = run(['--reference', '6.1', '--suite', 'omayexec-policy', '--override-expectation', `${cell}=fd`]);
  t.equal(status, 1, 'exit 1: a case failed');
  t.equal(record.verdict, 'fail');
  const failed = record.cases.filter((c) => c.status === 'fail');
  t.same(failed.map((c) => c.id), [`${cell} -> fd`], 'only the overridden case failed');
  t.equal(failed[0]?.expected, 'fd');
  t.equal(failed[0]?.actual, 'EACCES');
  t.same(record.overriddenExpectations, { [cell]: 'fd' }, 'the run is marked as overridden');
});

t.test('every O_MAYEXEC case fails when its expectation is wrong', async (t) => {
  const suites = ['omayexec-policy', 'omayexec-sysctl', 'omayexec-extra', 'ima'].flatMap((s) => ['--suite', s]);
  const { status, record } = run(['--reference', '6.1', ...suites, '--override-expectation', '*=WRONG']);
  t.equal(status, 1);
  const failed = record.cases.filter((c) => c.status === 'fail');
  t.ok(failed.length >= 896 + 25 + 25 + 7, `${failed.length} cases failed`);
  t.equal(record.cases.filter((c) => c.status === 'pass').length, 0, 'no case passed');
  t.ok(failed.every((c) => c.expected === 'WRONG'), 'every failure names the wrong expectation');
});
