// decideVerdict / attributeWarnings (vm/verdict.ts) fed with parsed recorded
// runs and console signs found by scanConsoleLine (harness/kernel-signs.ts) on
// real-looking kernel lines.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { scanConsoleLine, isFatal, type ConsoleSign } from '../harness/kernel-signs.js';
import { parseRunnerOutput, type ParsedRun } from '../vm/parse.js';
import { attributeWarnings, decideVerdict, type GuestFate } from '../vm/verdict.js';
import { runLines, runsDir } from './fixtures/load.js';

// Console lines as a Debian 6.1 kernel prints them.
const PANIC = '[    7.812345] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100';
const NULL_DEREF = '[   30.512345] BUG: kernel NULL pointer dereference, address: 0000000000000008';
const OOPS = '[   30.512401] Oops: 0000 [#1] PREEMPT SMP NOPTI';
const GPF = '[   31.004512] general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] PREEMPT SMP NOPTI';
const PAGE_FAULT = '[   30.600001] BUG: unable to handle page fault for address: ffffffffc0a01000';
const WARNING = '[   23.456789] WARNING: CPU: 0 PID: 142 at fs/namei.c:3084 may_open+0x1a3/0x1c0';
const HUNG = '[  242.351234] INFO: task node:142 blocked for more than 120 seconds.';
const SOFT_LOCKUP = '[   52.100000] watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [node:142]';
const RCU_STALL = '[   60.000000] rcu: INFO: rcu_preempt self-detected stall on CPU';

const BENIGN = [
  '[    0.000000] Command line: console=ttyS0 panic=-1 quiet',
  '[    0.012345] Kernel command line: console=ttyS0 panic=-1 quiet',
  '[    0.083001] ACPI BIOS Warning (bug): Incorrect checksum in table [BGRT] - 0x5A, should be 0x5B (20220331/tbprint-174)',
  '[    0.563210] RAS: Correctable Errors collector initialized.',
  '[    1.234567] x86/mm: Checked W+X mappings: passed, no W+X pages found.',
  '[    2.000000] clocksource: timekeeping watchdog on CPU0: Marking clocksource \'tsc\' as unstable because the skew is too large',
  '[    0.912000] Warning: unable to open an initial console.',
  '[   12.345678] random: crng init done',
  '[   10.496208] reboot: Restarting system',
  '[   23.456700] ------------[ cut here ]------------',
  'OMX-CONSOLE init reached',
  'OMX-CONSOLE runner exit=0',
];

function sign(line: string, resultLines: number): ConsoleSign & { resultLines: number } {
  const s = scanConsoleLine(line);
  if (!s) throw new Error(`scanConsoleLine found nothing in: ${line}`);
  return { ...s, resultLines };
}

function fate(over: Partial<GuestFate> = {}): GuestFate {
  return { killedFor: null, initReached: true, signs: [], ...over };
}

const run = (name: string): ParsedRun => parseRunnerOutput(runLines(name));

t.test('scanConsoleLine: signs and their kinds', async (t) => {
  const want: [string, string][] = [
    [PANIC, 'panic'],
    [NULL_DEREF, 'bug'],
    [OOPS, 'oops'],
    [GPF, 'oops'],
    [WARNING, 'warning'],
    ['[  101.000001] WARNING: CPU: 1 PID: 77 at kernel/locking/lockdep.c:232 __lock_acquire+0x5b1/0x1d20', 'warning'],
    [HUNG, 'hung-task'],
    [SOFT_LOCKUP, 'lockup'],
    [RCU_STALL, 'lockup'],
  ];
  for (const [line, kind] of want) t.equal(scanConsoleLine(line)?.kind, kind, line);
  t.ok(['oops', 'bug'].includes(scanConsoleLine(PAGE_FAULT)?.kind ?? ''), 'unable to handle page fault: oops or bug');
  t.equal(scanConsoleLine(`${PANIC}\r`)?.line, PANIC.trim(), 'line kept, trimmed');
  t.same(['panic', 'oops', 'bug', 'lockup'].map((k) => isFatal(k as ConsoleSign['kind'])), [true, true, true, true], 'fatal kinds');
  t.same(['warning', 'hung-task'].map((k) => isFatal(k as ConsoleSign['kind'])), [false, false], 'non-fatal kinds');
});

t.test('scanConsoleLine: no false alarms on ordinary boot lines', async (t) => {
  for (const l of BENIGN) t.equal(scanConsoleLine(l), null, l);
  const recorded = readFileSync(join(runsDir, 'debian-6.1-pass.console.log'), 'utf8').split('\n');
  t.same(recorded.map(scanConsoleLine).filter(Boolean), [], 'the recorded console of the passing run has no sign');
});

t.test('a clean pass: verdict pass, exit 0', async (t) => {
  const r = run('debian-6.1-pass.raw');
  const f = fate();
  attributeWarnings(r, f);
  const v = decideVerdict(r, f);
  t.equal(v.verdict, 'pass');
  t.equal(v.exitCode, 0);
  t.equal(v.why, '14 case(s) passed');
});

t.test('kernel panic: verdict panic, exit 3, even when every case had passed', async (t) => {
  const r = run('debian-6.1-pass.raw');
  const v = decideVerdict(r, fate({ signs: [sign(PANIC, 25)], killedFor: 'crash' }));
  t.equal(v.verdict, 'panic');
  t.equal(v.exitCode, 3);
  t.match(v.why, /Kernel panic - not syncing: Attempted to kill init/);
});

t.test('oops, BUG, soft lockup: verdict panic, exit 3', async (t) => {
  for (const [what, lines] of [['oops', [NULL_DEREF, OOPS]], ['gpf', [GPF]], ['soft lockup', [SOFT_LOCKUP]], ['rcu stall', [RCU_STALL]]] as const) {
    const r = run('truncated-mid-suite.raw');
    const v = decideVerdict(r, fate({ signs: lines.map((l) => sign(l, 10)), killedFor: 'crash' }));
    t.same([v.verdict, v.exitCode], ['panic', 3], what);
  }
});

t.test('panic wins over a timeout kill', async (t) => {
  const v = decideVerdict(run('truncated-mid-suite.raw'), fate({ signs: [sign(PANIC, 12)], killedFor: 'run-timeout' }));
  t.same([v.verdict, v.exitCode], ['panic', 3]);
});

t.test('boot timeout: verdict boot-failure, exit 6', async (t) => {
  const v = decideVerdict(parseRunnerOutput([]), fate({ killedFor: 'boot-timeout', initReached: false }));
  t.equal(v.verdict, 'boot-failure');
  t.equal(v.exitCode, 6);
  t.match(v.why, /never reached \/init/);
});

t.test('whole-run timeout: verdict timeout, exit 5', async (t) => {
  const v = decideVerdict(run('truncated-mid-suite.raw'), fate({ killedFor: 'run-timeout' }));
  t.equal(v.verdict, 'timeout');
  t.equal(v.exitCode, 5);
});

t.test('a suite that timed out inside a completed run: verdict timeout, exit 5', async (t) => {
  const v = decideVerdict(run('suite-timeout.raw'), fate());
  t.equal(v.verdict, 'timeout');
  t.equal(v.exitCode, 5);
  t.match(v.why, /exec/);
});

t.test('no sentinel: error (exit 6) once /init ran, boot-failure (exit 6) when it never did', async (t) => {
  const a = decideVerdict(run('no-sentinel.raw'), fate());
  t.same([a.verdict, a.exitCode], ['error', 6], 'suites complete, sentinel missing');
  t.match(a.why, /sentinel/);
  const b = decideVerdict(run('truncated-mid-suite.raw'), fate());
  t.same([b.verdict, b.exitCode], ['error', 6], 'truncated mid-suite, QEMU exited by itself');
  const c = decideVerdict(parseRunnerOutput([]), fate({ initReached: false }));
  t.same([c.verdict, c.exitCode], ['boot-failure', 6], 'QEMU died before /init (the recorded KVM MSR abort)');
  t.match(c.why, /before reaching \/init/);
});

t.test('every suite skipped: verdict skip, exit 4', async (t) => {
  const v = decideVerdict(run('all-skipped.raw'), fate());
  t.equal(v.verdict, 'skip');
  t.equal(v.exitCode, 4);
});

t.test('a skipped suite next to a passing one is still a pass', async (t) => {
  const v = decideVerdict(run('skip-suite.raw'), fate());
  t.same([v.verdict, v.exitCode], ['pass', 0]);
});

t.test('a failing case: verdict fail, exit 1, naming it', async (t) => {
  const v = decideVerdict(run('omayexec-fail-yaml.raw'), fate());
  t.equal(v.verdict, 'fail');
  t.equal(v.exitCode, 1);
  t.match(v.why, /1 case\(s\) failed, first: omayexec\.policy sysctl=1 mount=noexec/);
});

t.test('a crashed suite (no plan), a killed suite, a broken plan: verdict error, exit 6, never a pass', async (t) => {
  for (const [name, first] of [
    ['debian-6.1-suite-crash.raw', 'exec: suite printed no TAP plan'],
    ['suite-signal.raw', 'exec: suite process killed by SIGSEGV'],
    ['plan-mismatch.raw', 'exec: plan said 16 cases, 14 reported'],
  ] as const) {
    const v = decideVerdict(run(name), fate());
    t.same([v.verdict, v.exitCode], ['error', 6], name);
    t.equal(v.why, `1 suite error(s), first: ${first}`, `${name}: why`);
  }
});

t.test('a suite error outranks a failed case', async (t) => {
  const r = run('omayexec-fail-yaml.raw');
  r.suites.push(...run('suite-signal.raw').suites);
  const v = decideVerdict(r, fate());
  t.same([v.verdict, v.exitCode], ['error', 6]);
});

t.test('a WARNING is attributed to the case running when it appeared, and fails it', async (t) => {
  const r = run('debian-6.1-pass.raw');
  // Stream lines 0-9 were read (up to "ok 4") when the console showed the
  // WARNING: case 5 (stream line 10) was running.
  const f = fate({ signs: [sign(WARNING, 10)] });
  attributeWarnings(r, f);
  const cases = r.suites[0]!.cases;
  const failed = cases.filter((c) => c.status === 'fail');
  t.equal(failed.length, 1, 'exactly one case tainted');
  t.equal(failed[0]!.id, 'exec execve type=char mount=exec mode=0755 -> EACCES');
  t.same(failed[0]!.taint, [WARNING.trim()]);
  t.match(failed[0]!.reason, /kernel warning during the case: .*WARNING: CPU: 0 PID: 142 at fs\/namei\.c/);
  t.equal(cases.filter((c) => c.status === 'pass').length, 13, 'the others still pass');
  t.equal(r.suites[0]!.status, 'fail', 'the suite fails with it');
  const v = decideVerdict(r, f);
  t.same([v.verdict, v.exitCode], ['fail', 1], 'a WARNING is a failure, not a panic');
  t.match(v.why, /first: exec execve type=char/);
});

t.test('a hung task is attributed the same way; signs in two cases taint both', async (t) => {
  const r = run('debian-6.1-pass.raw');
  // 6 lines read: case 1 (stream line 6) running; 17 read: case 12 (line 17) running.
  const f = fate({ signs: [sign(WARNING, 6), sign(HUNG, 17)] });
  attributeWarnings(r, f);
  const failed = r.suites[0]!.cases.filter((c) => c.status === 'fail');
  t.same(failed.map((c) => c.id), [
    'exec execve type=directory mount=exec mode=0755 -> EACCES',
    'exec execve type=regular mount=exec mode=0644 -> EACCES',
  ]);
  t.match(failed[1]!.reason, /kernel hung-task during the case: .*INFO: task node:142 blocked/);
});

t.test('attribution crosses suites: the right suite is failed', async (t) => {
  const r = run('skip-suite.raw');
  // skip-suite.raw: omayexec-policy (skipped, lines 4-9), exec begins at line 10, its first case is line 12.
  attributeWarnings(r, fate({ signs: [sign(WARNING, 11)] }));
  t.equal(r.suites[0]!.status, 'skip', 'the skipped suite is untouched');
  t.equal(r.suites[1]!.status, 'fail');
  t.equal(r.suites[1]!.cases.filter((c) => c.status === 'fail')[0]?.id, 'exec execve type=directory mount=exec mode=0755 -> EACCES');
});

t.test('attributeWarnings ignores fatal signs (the verdict handles them)', async (t) => {
  const r = run('debian-6.1-pass.raw');
  attributeWarnings(r, fate({ signs: [sign(OOPS, 10)] }));
  t.ok(r.suites[0]!.cases.every((c) => c.status === 'pass'));
});

t.test('runner-reported warnings (kernel-sign events) taint the suite\'s next case', async (t) => {
  const r = run('kernel-sign-warning.raw');
  // The console saw the same WARNING "early" (resultLines 6: case 1); with
  // runner reports present, the console timing is not used.
  const f = fate({ signs: [sign(WARNING, 6)] });
  attributeWarnings(r, f);
  const failed = r.suites[0]!.cases.filter((c) => c.status === 'fail');
  t.same(failed.map((c) => c.id), ['exec execve type=char mount=exec mode=0755 -> EACCES'], 'case 5 (the line after the report), only');
  t.match(failed[0]!.reason, /^kernel warning during the case: WARNING: CPU: 0 PID: 142 at fs\/namei\.c:3084/);
  t.equal(r.suites[0]!.status, 'fail');
  const v = decideVerdict(r, f);
  t.same([v.verdict, v.exitCode], ['fail', 1]);
});

t.test('a runner-reported warning outside any suite still fails the run', async (t) => {
  // e.g. a WARNING while the runner probes the profiles, before the first suite.
  const r = run('kernel-sign-outside-suite.raw');
  t.equal(r.kernelSigns?.length, 1);
  const f = fate({ signs: [sign('[    6.500000] WARNING: CPU: 0 PID: 98 at mm/page_alloc.c:5531 __alloc_pages+0x2c8/0x330', 4)] });
  attributeWarnings(r, f);
  const v = decideVerdict(r, f);
  t.not(v.verdict, 'pass', `a kernel WARNING is never a pass (got ${v.verdict}: ${v.why})`);
});
