// parseRunnerOutput (vm/parse.ts) on recorded runner outputs
// (test/fixtures/runs/): the real passing Debian 6.1 run, a real crashed
// suite, and variants derived from them (failures with YAML diagnostics,
// skipped suites, node-tap nested subtests, kernel noise, truncation, a
// missing sentinel, signals, timeouts, plan mismatches).
import t from 'tap';
import { readdirSync } from 'node:fs';
import { parseRunnerOutput, streamFacts, type CaseResult, type ParsedRun, type SuiteResult } from '../vm/parse.js';
import { expectedFromName } from '../vm/record.js';
import { runLines, runsDir } from './fixtures/load.js';

const EXEC_CASES = [
  'exec execve type=directory mount=exec mode=0755 -> EACCES',
  'exec execveat type=directory mount=exec mode=0755 -> EACCES',
  'exec execve type=fifo mount=exec mode=0755 -> EACCES',
  'exec execveat type=fifo mount=exec mode=0755 -> EACCES',
  'exec execve type=char mount=exec mode=0755 -> EACCES',
  'exec execveat type=char mount=exec mode=0755 -> EACCES',
  'exec execve type=block mount=exec mode=0755 -> EACCES',
  'exec execveat type=block mount=exec mode=0755 -> EACCES',
  'exec execveat(AT_EMPTY_PATH) type=socket-fd mount=exec mode=0755 -> EACCES',
  'exec execve type=regular mount=noexec mode=0755 -> EACCES',
  'exec execveat type=regular mount=noexec mode=0755 -> EACCES',
  'exec execve type=regular mount=exec mode=0644 -> EACCES',
  'exec execveat(AT_SYMLINK_NOFOLLOW) type=symlink mount=exec mode=0755 -> ELOOP',
  'exec execve type=regular mount=exec mode=0755 -> EXECUTED',
];

function parse(name: string): ParsedRun {
  return parseRunnerOutput(runLines(name));
}

function only(run: ParsedRun, id: string): SuiteResult {
  const s = run.suites.find((x) => x.id === id);
  if (!s) throw new Error(`no suite ${id} in [${run.suites.map((x) => x.id).join(', ')}]`);
  return s;
}

function byStatus(cases: CaseResult[], status: CaseResult['status']): CaseResult[] {
  return cases.filter((c) => c.status === status);
}

t.test('the real passing run (Debian 6.1 cloud kernel, suite exec)', async (t) => {
  const lines = runLines('debian-6.1-pass.raw');
  const run = parseRunnerOutput(lines);
  t.equal(run.start?.kernel, '6.1.0-56-cloud-amd64', 'start event: guest kernel release');
  t.equal(run.start?.machine, 'x86_64');
  t.same(
    run.profiles.map((p) => [p.name, p.supported]),
    [['omayexec-v7', false], ['exec-cleanups', true], ['execve-check', false]],
    'three profiles, in the order probed',
  );
  t.match(run.profiles[0]!.evidence, /O_MAYEXEC=040000000\) -> EINVAL/, 'omayexec-v7 evidence keeps the errno');
  t.equal(run.end?.exit, 0, 'sentinel end event present, exit 0');
  t.equal(run.end?.uptime, 10.41);
  t.equal(run.suites.length, 1);
  const s = only(run, 'exec');
  t.equal(s.status, 'pass');
  t.equal(s.reason, undefined, 'a passing suite has no reason');
  t.equal(s.exit, 0);
  t.equal(s.signal, null);
  t.equal(s.seconds, 4.017647633);
  t.same(s.cases.map((c) => c.id), EXEC_CASES, 'the 14 case names, in order, without "ok N -"');
  t.same(byStatus(s.cases, 'pass').length, 14, 'every case passes');
  t.same(s.cases.map((c) => c.suite), EXEC_CASES.map(() => 'exec'));
  for (const c of s.cases) {
    const want = /-> (\S+)$/.exec(c.id)![1];
    t.equal(c.expected, want, `expected taken from the name: ${c.id}`);
    t.equal(c.actual, undefined, `a stream without observed comments: no actual is made up from the name: ${c.id}`);
  }
  // line = index of the TAP line in the stream
  t.equal(lines[s.cases[0]!.line], `ok 1 - ${EXEC_CASES[0]}`, 'case line indexes the stream');
  t.equal(lines[s.cases[13]!.line], `ok 14 - ${EXEC_CASES[13]}`);
  t.equal(s.tap[0], 'TAP version 14', 'suite TAP kept verbatim, without control lines');
  t.notOk(s.tap.some((l) => l.startsWith('OMX ')), 'no control line inside the suite TAP');
  t.equal(s.tap.length, 18);
  t.same(run.stderr, []);
});

t.test('a pass records the value the suite observed (its omx-observed comment), never the name', async (t) => {
  const lines = [
    'OMX {"event":"suite-begin","suite":"exec"}',
    'TAP version 14',
    'ok 1 - exec execve type=directory mount=exec mode=0755 -> EACCES',
    '# omx-observed EACCES',
    'ok 2 - exec execve type=fifo mount=exec mode=0755 -> EACCES',
    'ok 3 - exec execve type=char mount=exec mode=0755 -> EACCES # SKIP no char',
    '# omx-observed EACCES',
    '1..3',
    'OMX {"event":"suite-end","suite":"exec","exit":0,"signal":null,"seconds":0.1,"timedOut":false}',
  ];
  const [a, b, c] = only(parseRunnerOutput(lines), 'exec').cases;
  t.equal(a!.actual, 'EACCES', 'observed value recorded');
  t.equal(b!.actual, undefined, 'a pass without its comment has no actual');
  t.equal(c!.status, 'skip');
  t.equal(c!.actual, undefined, 'a comment after a skip is not taken as its observation');
});

t.test('a case keeps the params its suite printed after it (# omx-params), whatever its status', async (t) => {
  const lines = [
    'OMX {"event":"suite-begin","suite":"omayexec-policy"}',
    'TAP version 14',
    'ok 1 - policy sysctl=2 mount=noexec -> EACCES',
    '# omx-observed EACCES',
    '# omx-params {"sysctl":2,"mount":"noexec"}',
    'not ok 2 - policy sysctl=3 mount=exec -> EACCES',
    '  ---',
    '  expected: EACCES',
    '  actual: fd',
    '  ...',
    '# omx-params {"sysctl":3,"mount":"exec"}',
    'ok 3 - policy sysctl=0 mount=exec -> fd # SKIP no loop device',
    '# omx-params {"sysctl":0,"mount":"exec"}',
    'ok 4 - policy without params -> fd',
    '# omx-params ["not", "an object"]',
    'ok 5 - policy mangled -> fd',
    '# omx-params {"sysctl":',
    'ok 6 - policy nested values -> fd',
    '# omx-params {"sysctl":{"deep":1}}',
    '1..6',
    'OMX {"event":"suite-end","suite":"omayexec-policy","exit":1,"signal":null,"seconds":0.1,"timedOut":false}',
  ];
  const cases = only(parseRunnerOutput(lines), 'omayexec-policy').cases;
  t.same(cases.map((c) => c.params), [{ sysctl: 2, mount: 'noexec' }, { sysctl: 3, mount: 'exec' }, { sysctl: 0, mount: 'exec' }, undefined, undefined, undefined]);
  t.same(cases.map((c) => c.status), ['pass', 'fail', 'skip', 'pass', 'pass', 'pass'], 'the comments make no cases');
  t.same([cases[0]!.actual, cases[1]!.expected, cases[1]!.actual], ['EACCES', 'EACCES', 'fd'], 'observed value and YAML diagnostics kept beside them');
});

t.test('one # omx-case line carries both: observed (a pass only) and params, whatever the status', async (t) => {
  const lines = [
    'OMX {"event":"suite-begin","suite":"omayexec-policy"}',
    'TAP version 14',
    'ok 1 - policy sysctl=2 mount=noexec -> EACCES',
    '# omx-case {"observed":"EACCES","params":{"sysctl":2,"mount":"noexec"}}',
    'not ok 2 - policy sysctl=3 mount=exec -> EACCES',
    '  ---',
    '  expected: EACCES',
    '  actual: fd',
    '  ...',
    '# omx-case {"observed":"EACCES","params":{"sysctl":3,"mount":"exec"}}',
    'ok 3 - policy sysctl=0 mount=exec -> fd # SKIP no loop device',
    '# omx-case {"observed":"fd","params":{"sysctl":0,"mount":"exec"}}',
    'ok 4 - policy observed only -> fd',
    '# omx-case {"observed":"fd"}',
    'ok 5 - policy mangled -> fd',
    '# omx-case {"observed":',
    'ok 6 - policy nested params -> fd',
    '# omx-case {"params":{"sysctl":{"deep":1}}}',
    '1..6',
    'OMX {"event":"suite-end","suite":"omayexec-policy","exit":1,"signal":null,"seconds":0.1,"timedOut":false}',
  ];
  const cases = only(parseRunnerOutput(lines), 'omayexec-policy').cases;
  t.same(cases.map((c) => c.params), [{ sysctl: 2, mount: 'noexec' }, { sysctl: 3, mount: 'exec' }, { sysctl: 0, mount: 'exec' }, undefined, undefined, undefined]);
  t.same(cases.map((c) => c.status), ['pass', 'fail', 'skip', 'pass', 'pass', 'pass'], 'the comments make no cases');
  t.same(cases.map((c) => c.actual), ['EACCES', 'fd', undefined, 'fd', undefined, undefined], 'observed only for passes; a failure keeps its YAML actual');
});

t.test('from the harness to the record: expectOutcome/skipCase params reach the parsed cases', async (t) => {
  const { runSuite } = await import('../harness/suite.js');
  let tap = '';
  const env = { target: {} as never, profiles: [], required: [], freshBoot: true, overrides: {} };
  await runSuite({
    id: 'demo',
    async run(ctx) {
      ctx.expectOutcome('demo sysctl=1 via=openat2', 'fd', 'fd', { sysctl: 1, via: 'openat2' });
      ctx.expectOutcome('demo sysctl=2 via=openat2', 'fd', 'EACCES', { sysctl: 2, via: 'openat2' });
      ctx.skipCase('demo sysctl=3 via=openat2', 'EACCES', 'no reason', { sysctl: 3, via: 'openat2' });
      ctx.expectOutcome('demo no params', 'x', 'x');
    },
  }, env, (chunk) => (tap += chunk));
  const lines = [
    'OMX {"event":"suite-begin","suite":"demo"}',
    ...tap.split('\n').filter(Boolean),
    'OMX {"event":"suite-end","suite":"demo","exit":1,"signal":null,"seconds":0.1,"timedOut":false}',
  ];
  const cases = only(parseRunnerOutput(lines), 'demo').cases;
  t.same(cases.map((c) => [c.id, c.status, c.params]), [
    ['demo sysctl=1 via=openat2 -> fd', 'pass', { sysctl: 1, via: 'openat2' }],
    ['demo sysctl=2 via=openat2 -> EACCES', 'fail', { sysctl: 2, via: 'openat2' }],
    ['demo sysctl=3 via=openat2 -> EACCES', 'skip', { sysctl: 3, via: 'openat2' }],
    ['demo no params -> x', 'pass', undefined],
  ]);
  t.same([cases[0]!.actual, cases[1]!.actual], ['fd', 'fd'], 'observed value and diagnostics unchanged');
  const comments = tap.split('\n').filter((l) => l.startsWith('# omx-'));
  t.equal(comments.length, 4, 'one comment line per case');
  t.ok(comments.every((l) => l.startsWith('# omx-case {')), 'all of the one-line form');
});

t.test('CRLF line endings (serial line without raw mode) parse the same', async (t) => {
  const plain = parse('debian-6.1-pass.raw');
  const crlf = parseRunnerOutput(runLines('debian-6.1-pass.raw').map((l) => `${l}\r`));
  t.same(crlf.suites.map((s) => [s.id, s.status]), plain.suites.map((s) => [s.id, s.status]));
  t.same(crlf.suites[0]!.cases.map((c) => [c.id, c.status, c.expected]), plain.suites[0]!.cases.map((c) => [c.id, c.status, c.expected]));
  t.equal(crlf.end?.exit, 0);
});

t.test('a real crashed suite: no TAP at all, a stack trace on stderr', async (t) => {
  const run = parse('debian-6.1-suite-crash.raw');
  const s = only(run, 'exec');
  t.equal(s.status, 'error');
  t.equal(s.reason, 'suite printed no TAP plan');
  t.equal(s.exit, 1);
  t.equal(s.cases.length, 1, 'one synthetic case stands for the whole suite');
  t.equal(s.cases[0]!.status, 'error');
  t.equal(s.cases[0]!.line, -1, 'synthetic cases have no stream line');
  t.equal(run.stderr.length, 20, 'every stderr line kept');
  t.ok(run.stderr.every((e) => e.suite === 'exec'));
  t.ok(run.stderr.some((e) => /Cannot find module 'react-element-to-jsx-string'/.test(e.line)));
  t.equal(run.end?.exit, 1);
});

t.test('a failing case with a YAML diagnostic block (expected/actual)', async (t) => {
  const run = parse('omayexec-fail-yaml.raw');
  const s = only(run, 'omayexec-policy');
  t.equal(s.status, 'fail');
  t.equal(s.exit, 1);
  t.equal(s.cases.length, 4, 'four cases, none made up from the YAML or diff lines');
  t.same(s.cases.map((c) => c.status), ['pass', 'pass', 'fail', 'pass']);
  const bad = s.cases[2]!;
  t.equal(bad.id, 'omayexec.policy sysctl=1 mount=noexec mode=0755 type=regular via=openat2+O_MAYEXEC caps=all -> EACCES');
  t.equal(bad.expected, 'EACCES', 'expected read from the YAML block');
  t.equal(bad.actual, 'fd', 'actual read from the YAML block');
  t.equal(s.cases[3]!.id, 'omayexec.policy sysctl=1 mount=exec mode=0755 type=directory via=openat2+O_MAYEXEC caps=all -> EACCES',
    'the case after the YAML block is parsed normally');
  t.equal(s.cases[3]!.expected, 'EACCES');
  t.notOk(s.cases.some((c) => c.status === 'error'), 'no plan-mismatch or exit-status error');
});

t.test('YAML keys indented deeper than the --- marker are not taken as the case\'s own', async (t) => {
  // A nested mapping (e.g. "found:" inside "at:") must not overwrite the case's actual.
  const lines = [
    'OMX {"event":"suite-begin","suite":"x"}',
    'TAP version 14',
    'not ok 1 - a -> EACCES',
    '  ---',
    '  expected: EACCES',
    '  actual: fd',
    '  at:',
    '    actual: nested-value',
    '  ...',
    '1..1',
    'OMX {"event":"suite-end","suite":"x","exit":1,"signal":null,"seconds":1,"timedOut":false}',
  ];
  const c = parseRunnerOutput(lines).suites[0]!.cases[0]!;
  t.equal(c.actual, 'fd');
  t.equal(c.expected, 'EACCES');
});

t.test('wanted/found (node-tap t.same wording) map to expected/actual, quotes stripped', async (t) => {
  const lines = [
    'OMX {"event":"suite-begin","suite":"x"}',
    'not ok 1 - b -> ENOEXEC',
    '  ---',
    "  wanted: 'ENOEXEC'",
    '  found: "EACCES"',
    '  ...',
    '1..1',
    'OMX {"event":"suite-end","suite":"x","exit":1,"signal":null,"seconds":1,"timedOut":false}',
  ];
  const c = parseRunnerOutput(lines).suites[0]!.cases[0]!;
  t.equal(c.expected, 'ENOEXEC');
  t.equal(c.actual, 'EACCES');
});

t.test('a suite skipped by its plan (1..0 # SKIP reason), then a passing suite', async (t) => {
  const run = parse('skip-suite.raw');
  t.same(run.suites.map((s) => s.id), ['omayexec-policy', 'exec']);
  const sk = only(run, 'omayexec-policy');
  t.equal(sk.status, 'skip');
  t.equal(sk.reason, 'openat2(/usr/bin/node, O_RDONLY|O_CLOEXEC|O_MAYEXEC=040000000) -> EINVAL: kernel lacks O_MAYEXEC',
    'the reason without the SKIP keyword');
  t.equal(sk.cases.length, 0, 'a skipped suite invents no case');
  const ex = only(run, 'exec');
  t.equal(ex.status, 'pass');
  t.equal(ex.cases.length, 14);
});

t.test('every suite skipped', async (t) => {
  const run = parse('all-skipped.raw');
  t.same(run.suites.map((s) => [s.id, s.status, s.reason]), [
    ['exec', 'skip', 'needs root (euid 0)'],
    ['omayexec-policy', 'skip', 'openat2(/usr/bin/node, O_RDONLY|O_CLOEXEC|O_MAYEXEC=040000000) -> EINVAL: kernel lacks O_MAYEXEC'],
  ]);
  t.same(run.suites.flatMap((s) => s.cases), []);
});

t.test('a suite whose every case is skipped is a skip, with a reason', async (t) => {
  const lines = [
    'OMX {"event":"suite-begin","suite":"uselib"}',
    'TAP version 14',
    'ok 1 - uselib type=directory -> EACCES # SKIP CONFIG_IA32_EMULATION not set',
    'ok 2 - uselib type=fifo -> EACCES # SKIP CONFIG_IA32_EMULATION not set',
    '1..2',
    'OMX {"event":"suite-end","suite":"uselib","exit":0,"signal":null,"seconds":0.5,"timedOut":false}',
  ];
  const s = parseRunnerOutput(lines).suites[0]!;
  t.equal(s.status, 'skip');
  t.ok(s.reason, 'has a reason');
  t.same(s.cases.map((c) => [c.id, c.status, c.reason]), [
    ['uselib type=directory -> EACCES', 'skip', 'CONFIG_IA32_EMULATION not set'],
    ['uselib type=fifo -> EACCES', 'skip', 'CONFIG_IA32_EMULATION not set'],
  ]);
});

t.test('node-tap TAP 14 nested subtests, all passing (real node-tap 21 output)', async (t) => {
  const run = parse('nested-subtests-pass.raw');
  const s = only(run, 'omayexec-policy');
  // node-tap's own summary line for this output: { total: 7, pass: 6, skip: 1 }
  t.same(s.cases.map((c) => [c.id, c.status]), [
    ['sysctl=1 / omayexec.policy sysctl=1 mount=noexec mode=0755 type=regular via=openat2+O_MAYEXEC -> EACCES', 'pass'],
    ['sysctl=1 / omayexec.policy sysctl=1 mount=exec mode=0755 type=regular via=openat2+O_MAYEXEC -> fd', 'pass'],
    ['sysctl=1 / omayexec.policy sysctl=1 mount=exec mode=0755 type=block via=openat2+O_MAYEXEC -> EACCES', 'skip'],
    ['sysctl=2 / mode=0400 / omayexec.policy sysctl=2 mount=exec mode=0400 type=regular via=openat2+O_MAYEXEC -> EACCES', 'pass'],
    ['sysctl=2 / mode=0400 / omayexec.policy sysctl=2 mount=exec mode=0400 type=regular via=openat2 -> fd', 'pass'],
    ['sysctl=2 / omayexec.policy sysctl=2 mount=exec mode=0500 type=regular via=openat2+O_MAYEXEC -> fd', 'pass'],
    ['sysctl=3 / omayexec.policy sysctl=3 mount=noexec mode=0500 type=regular via=openat2+O_MAYEXEC -> EACCES', 'pass'],
  ], 'leaf cases only, named by their subtest path; closing lines are not cases');
  t.equal(s.cases[2]!.reason, 'CONFIG_BLK_DEV_LOOP not set', 'skip reason of a nested case');
  t.equal(s.status, 'pass', 'a suite of passing subtests passes (plan 1..3 counts the 3 subtests)');
  t.notOk(s.cases.some((c) => c.status === 'error'), 'no synthetic error case');
});

t.test('node-tap TAP 14 nested subtests, one nested failure (real node-tap 21 output)', async (t) => {
  const run = parse('nested-subtests-fail.raw');
  const s = only(run, 'omayexec-policy');
  t.equal(s.status, 'fail');
  // node-tap's own summary line for this output: { total: 7, pass: 5, fail: 1, skip: 1 }
  t.same(
    ['pass', 'fail', 'skip', 'error'].map((st) => byStatus(s.cases, st as CaseResult['status']).length),
    [5, 1, 1, 0],
    'counts agree with node-tap\'s own summary (7 = 5 pass, 1 fail, 1 skip), nothing invented',
  );
  const failed = byStatus(s.cases, 'fail');
  t.equal(failed[0]?.id, 'sysctl=2 / mode=0400 / omayexec.policy sysctl=2 mount=exec mode=0400 type=regular via=openat2+O_MAYEXEC -> EACCES');
  t.equal(failed[0]?.expected, 'EACCES', 'expected read from the nested YAML block');
  t.equal(failed[0]?.actual, 'fd', 'actual read from the nested YAML block');
  t.notOk(s.cases.some((c) => c.id === 'sysctl=2 / mode=0400' || c.id === 'sysctl=2'), 'the failing subtests\' closing lines are not extra cases');
});

t.test('a failing subtest without a failing child still fails (crash inside it)', async (t) => {
  const lines = [
    'OMX {"event":"suite-begin","suite":"x"}',
    'TAP version 14',
    '# Subtest: sysctl=1',
    '    ok 1 - a -> EACCES',
    '    1..2',
    'not ok 1 - sysctl=1 # time=12ms',
    '1..1',
    'OMX {"event":"suite-end","suite":"x","exit":1,"signal":null,"seconds":1,"timedOut":false}',
  ];
  const s = parseRunnerOutput(lines).suites[0]!;
  t.equal(s.status, 'fail');
  const f = byStatus(s.cases, 'fail');
  t.equal(f.length, 1);
  t.equal(f[0]!.id, 'sysctl=1');
  t.match(f[0]!.reason, /subtest failed without a failing case/);
});

t.test('kernel messages and garbage interleaved with the TAP are ignored', async (t) => {
  const noisy = parse('kernel-noise.raw');
  const clean = parse('debian-6.1-pass.raw');
  const s = only(noisy, 'exec');
  t.equal(s.status, 'pass');
  t.same(s.cases.map((c) => [c.id, c.status, c.expected]), clean.suites[0]!.cases.map((c) => [c.id, c.status, c.expected]),
    'same cases as the clean stream');
  t.ok(s.tap.includes('[   12.345678] random: crng init done'), 'noise kept in the suite TAP (for the record)');
  t.ok(s.tap.includes('OMX {"event":"suite-'), 'a mangled control line is treated as text, not an event');
  t.equal(noisy.end?.exit, 0);
  t.same(noisy.profiles, clean.profiles);
});

t.test('output truncated mid-suite: no suite-end, no sentinel', async (t) => {
  const run = parse('truncated-mid-suite.raw');
  const s = only(run, 'exec');
  t.equal(s.status, 'error');
  t.match(s.reason, /no suite-end/);
  t.equal(s.exit, null);
  t.equal(byStatus(s.cases, 'pass').length, 9, 'the 9 cases seen are kept');
  const err = byStatus(s.cases, 'error');
  t.equal(err.length, 1, 'one synthetic error case');
  t.match(err[0]!.reason, /no suite-end/);
  t.equal(run.end, undefined, 'no sentinel');
});

t.test('missing final end event (sentinel)', async (t) => {
  const run = parse('no-sentinel.raw');
  t.equal(run.end, undefined);
  t.equal(only(run, 'exec').status, 'pass', 'the suite itself completed');
  t.ok(run.start, 'start seen');
});

t.test('a suite killed by a signal', async (t) => {
  const run = parse('suite-signal.raw');
  const s = only(run, 'exec');
  t.equal(s.status, 'error');
  t.equal(s.signal, 'SIGSEGV');
  t.equal(s.exit, null);
  t.equal(s.reason, 'suite process killed by SIGSEGV');
  t.equal(byStatus(s.cases, 'pass').length, 9);
  const err = byStatus(s.cases, 'error');
  t.equal(err.length, 1);
  t.match(err[0]!.id, /SIGSEGV/);
  t.same(run.stderr, [{ suite: 'exec', line: 'Segmentation fault' }]);
});

t.test('a suite that timed out (suite-end timedOut: true)', async (t) => {
  const run = parse('suite-timeout.raw');
  const s = only(run, 'exec');
  t.equal(s.status, 'timeout', 'timeout, not error, even though it was killed by SIGKILL');
  t.equal(s.seconds, 135.004);
  t.match(s.reason, /timed out after 135\.0 s/);
  t.equal(byStatus(s.cases, 'pass').length, 11);
  const bad = s.cases.filter((c) => c.status !== 'pass');
  t.equal(bad.length, 1, 'one case stands for the unfinished rest');
  t.equal(bad[0]!.status, 'fail');
  t.match(bad[0]!.reason, /^TIMEOUT /);
  t.equal(run.end?.exit, 1);
});

t.test('plan count mismatch (1..16, 14 reported)', async (t) => {
  const s = only(parse('plan-mismatch.raw'), 'exec');
  t.equal(s.status, 'fail');
  const err = byStatus(s.cases, 'error');
  t.equal(err.length, 1);
  t.equal(err[0]!.reason, 'plan said 16 cases, 14 reported');
  t.equal(byStatus(s.cases, 'pass').length, 14);
});

t.test('no failing case but a non-zero exit status is an error', async (t) => {
  const lines = runLines('debian-6.1-pass.raw').map((l) => l.replace('"suite":"exec","exit":0', '"suite":"exec","exit":1'));
  const s = only(parseRunnerOutput(lines), 'exec');
  t.equal(s.status, 'fail');
  t.match(byStatus(s.cases, 'error')[0]?.reason, /exited with status 1 without a failing case/);
});

t.test('a suite-end naming another suite does not make the open suite vanish', async (t) => {
  const lines = [
    'OMX {"event":"suite-begin","suite":"a"}',
    'ok 1 - x -> EACCES',
    'OMX {"event":"suite-end","suite":"b","exit":0,"signal":null,"seconds":1,"timedOut":false}',
    'OMX {"event":"end","exit":0,"uptime":3}',
  ];
  const run = parseRunnerOutput(lines);
  const a = run.suites.find((s) => s.id === 'a');
  t.ok(a, 'suite a is reported');
  t.not(a?.status, 'pass', 'and not as a pass');
});

t.test('directives: TODO stays a failure, TIMEOUT is a failure, time= is dropped', async (t) => {
  const lines = [
    'OMX {"event":"suite-begin","suite":"x"}',
    'not ok 1 - known bug -> EACCES # TODO upstream fix pending',
    'not ok 2 - slow -> EACCES # TIMEOUT 30 s',
    'ok 3 - timed -> ELOOP # time=12.5ms',
    '1..3',
    'OMX {"event":"suite-end","suite":"x","exit":1,"signal":null,"seconds":1,"timedOut":false}',
  ];
  const c = parseRunnerOutput(lines).suites[0]!.cases;
  t.same(c.map((x) => [x.id, x.status]), [['known bug -> EACCES', 'fail'], ['slow -> EACCES', 'fail'], ['timed -> ELOOP', 'pass']]);
  t.equal(c[1]!.reason, 'TIMEOUT 30 s');
  t.equal(c[2]!.expected, 'ELOOP');
});

t.test('empty stream', async (t) => {
  const run = parseRunnerOutput([]);
  t.same([run.profiles, run.suites, run.stderr, run.kernelSigns ?? []], [[], [], [], []]);
  t.equal(run.start, undefined);
  t.equal(run.end, undefined);
});

t.test('kernel-sign events (warnings the runner read from /dev/kmsg) are kept with their place, outside the TAP', async (t) => {
  const lines = runLines('kernel-sign-warning.raw');
  const run = parseRunnerOutput(lines);
  t.same(run.kernelSigns, [{
    suite: 'exec', kind: 'warning', line: 'WARNING: CPU: 0 PID: 142 at fs/namei.c:3084 may_open+0x1a3/0x1c0', lineNo: 10,
  }]);
  t.equal(lines[10]!.includes('"kernel-sign"'), true, 'lineNo indexes the stream');
  const s = only(run, 'exec');
  t.notOk(s.tap.some((l) => l.includes('kernel-sign')), 'not part of the suite TAP');
  t.same(s.cases.map((c) => c.id), EXEC_CASES, 'the cases are unchanged by the parser');
  t.equal(s.status, 'pass', 'the parser itself does not judge the warning (verdict.ts does)');
  const outside = parseRunnerOutput(runLines('kernel-sign-outside-suite.raw'));
  t.equal(outside.kernelSigns?.[0]?.suite, null, 'a warning between suites has suite null');
});

t.test('expectedFromName', async (t) => {
  t.equal(expectedFromName('exec execve type=fifo mount=exec mode=0755 -> EACCES'), 'EACCES');
  t.equal(expectedFromName('a ->   ELOOP  '), 'ELOOP');
  t.equal(expectedFromName('no arrow here'), undefined);
});

t.test('the real 5-suite passing run: omayexec suites skipped by the runner with the probe evidence', async (t) => {
  const run = parse('debian-6.1-pass-5suites.raw');
  t.same(run.suites.map((s) => [s.id, s.status]), [
    ['exec', 'pass'],
    ['omayexec-extra', 'skip'],
    ['omayexec-policy', 'skip'],
    ['omayexec-sysctl', 'skip'],
    ['uselib', 'pass'],
  ]);
  for (const s of run.suites.filter((x) => x.id.startsWith('omayexec-'))) {
    t.match(s.reason, /O_MAYEXEC=040000000\) -> EINVAL: kernel lacks O_MAYEXEC$/, `${s.id}: reason is the probe's evidence`);
    t.equal(s.exit, 4, `${s.id}: kselftest skip status`);
    t.same(s.cases, [], `${s.id}: no case invented`);
  }
  t.equal(only(run, 'exec').cases.length, 14);
  const uselib = only(run, 'uselib');
  t.equal(uselib.cases.length, 8);
  t.ok(uselib.cases.every((c) => c.status === 'pass' && c.id.startsWith('uselib ')));
  t.equal(run.end?.exit, 0);
});

t.test('kselftest skip status 4 with every case skipped is a skip, not an error', async (t) => {
  // harness/runner.ts maps exit 4 to "skip" (kselftest convention).
  const lines = [
    'OMX {"event":"suite-begin","suite":"uselib"}',
    'ok 1 - uselib type=directory -> EACCES # SKIP CONFIG_IA32_EMULATION not set',
    '1..1',
    'OMX {"event":"suite-end","suite":"uselib","exit":4,"signal":null,"seconds":0.2,"timedOut":false}',
  ];
  const s = parseRunnerOutput(lines).suites[0]!;
  t.equal(s.status, 'skip');
  t.same(s.cases.map((c) => c.status), ['skip']);
});

t.test('streamFacts reads from the control lines what the full parse gives, on every recorded stream', async (t) => {
  for (const name of readdirSync(runsDir).filter((f) => f.endsWith('.raw'))) {
    const lines = runLines(name);
    const run = parseRunnerOutput(lines);
    t.same(streamFacts(lines), {
      startUptime: run.start?.uptime ?? null,
      endUptime: run.end?.uptime ?? null,
      suiteSeconds: run.suites.reduce((a, s) => a + (s.seconds ?? 0), 0),
      kernel: run.start?.kernel ?? null,
      expect: run.start?.expect ?? [],
    }, name);
  }
});
