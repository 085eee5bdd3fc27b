// Every case can fail: the same run with every expectation made wrong
// ('*=WRONG') must report every case that passed before as failed, and
// nothing else. Proved on this machine's kernel (direct mode) and on Debian's
// stock 6.1 kernel in QEMU; the reference-kernel suites are proved in
// e2e-reference.vm.test.ts.
import t from 'tap';
import type { RunRecord } from '../vm/record.js';
import { runAndRecord } from './fixtures/cli.js';

const run = (args: string[]) => runAndRecord(args, { timeout: 40 * 60_000 });

function passedIds(r: RunRecord): string[] {
  return r.cases.filter((c) => c.status === 'pass').map((c) => c.id.replace(/ -> \S+$/, '')).sort();
}

function failedIds(r: RunRecord): string[] {
  return r.cases.filter((c) => c.status === 'fail').map((c) => c.id.replace(/ -> \S+$/, '')).sort();
}

for (const target of [['--direct'], ['--debian', '6.1']]) {
  const label = target.join(' ');
  t.test(`${label}: every passing case fails once its expectation is wrong`, { skip: process.getuid?.() !== 0 && 'needs root' }, async (t) => {
    const good = run(target);
    t.equal(good.record.verdict, 'pass', `baseline passes: ${good.record.why}`);
    const passed = passedIds(good.record);
    t.ok(passed.length >= 14, `${passed.length} cases passed in the baseline`);
    const bad = run([...target, '--override-expectation', '*=WRONG']);
    t.equal(bad.status, 1, 'exit 1');
    t.same(failedIds(bad.record), passed, 'exactly the cases that passed now fail');
    t.ok(bad.record.cases.filter((c) => c.status === 'fail').every((c) => c.expected === 'WRONG' && c.actual !== 'WRONG'), 'each failure reports the wrong expectation and the real outcome');
  });
}

t.test('uselib: the i386 rows SKIP, naming the reason, on a kernel without IA32 emulation; the x86-64 case still runs', async (t) => {
  // Debian 6.12 honours ia32_emulation=0 (6.7+): int $0x80 then kills the helper.
  const { status, record } = run(['--debian', '6.12', '--suite', 'uselib', '--append', 'ia32_emulation=0']);
  const rows = record.cases.filter((c) => c.suite === 'uselib' && c.id.startsWith('uselib type='));
  t.equal(rows.length, 18, 'every i386 row is reported (9 rows, and again under the policy)');
  t.ok(rows.every((c) => c.status === 'skip'), 'each one skipped, not failed');
  t.ok(rows.every((c) => /IA32 emulation|O_MAYEXEC/.test(c.reason ?? '')), `reasons: ${[...new Set(rows.map((c) => c.reason))].join(' | ')}`);
  t.ok(rows.filter((c) => !c.id.includes('sysctl=3')).every((c) => /IA32 emulation/.test(c.reason ?? '')), 'the plain rows name IA32 emulation');
  const native = record.cases.find((c) => c.id.startsWith('uselib x86-64 syscall 134'));
  t.equal(native?.status, 'pass', 'x86-64 uselib -> ENOSYS holds without IA32 emulation too');
  t.equal(native?.actual, 'ENOSYS', 'observed ENOSYS');
  t.equal(record.verdict, 'pass', record.why);
  t.equal(status, 0);
});
