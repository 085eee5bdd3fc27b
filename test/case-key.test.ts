// caseKey (vm/record.ts), the one identity of a case: suite and name, the
// expected outcome and the params left out. compare (vm/compare.ts) matches
// cases by it and KCIDB (vm/kcidb.ts) builds its test paths from the same
// parts; both are checked here on crafted cases and on the recorded runs.
import t from 'tap';
import { compareRuns } from '../vm/compare.js';
import { casePath, casePaths } from '../vm/kcidb.js';
import { caseKey, caseName, type CaseRecord, type RunRecord } from '../vm/record.js';
import { recordedRun } from './fixtures/load.js';

const RUNS = ['reference-6.1-pass', 'reference-6.1-observed', 'reference-6.1-ima-error', 'fault-dir-eacces', 'debian-6.1-stock', 'debian-6.1-skip', 'debian-6.1-panic'];

const policy = (expected: string, extra: Partial<CaseRecord> = {}): CaseRecord => ({
  id: `policy sysctl=2 mount=noexec mode=0500 type=regular via=openat2+O_MAYEXEC caps=dac -> ${expected}`,
  suite: 'omayexec-policy',
  status: 'pass',
  expected,
  actual: expected,
  ...extra,
});

t.test('caseName drops the expected outcome at every subtest level, nothing else', async (t) => {
  t.equal(caseName('policy sysctl=2 mount=noexec -> EACCES'), 'policy sysctl=2 mount=noexec');
  t.equal(caseName('group a -> x / leaf case -> fd'), 'group a / leaf case');
  t.equal(caseName('ima: suite printed no TAP plan'), 'ima: suite printed no TAP plan', 'a host-made case has no expectation');
  t.equal(caseName('sysctl write "3\\n" (trailing newline) -> ok'), 'sysctl write "3\\n" (trailing newline)');
  t.equal(caseName('a -> b -> c'), 'a -> b', 'only the last "-> X" is the expectation');
});

t.test('caseKey: a changed expectation is the same case; suite, name and subtest level are not', async (t) => {
  t.equal(caseKey(policy('fd')), caseKey(policy('EACCES')), 'another expected outcome: same key');
  t.equal(caseKey(policy('fd')), caseKey(policy('fd', { status: 'fail', actual: 'EACCES' })), 'another status or actual: same key');
  t.equal(caseKey(policy('fd')), caseKey(policy('fd', { params: { sysctl: 2 } })), 'params or none: same key (records before params match those after)');
  t.not(caseKey(policy('fd')), caseKey(policy('fd', { suite: 'omayexec-extra' })), 'another suite: another case');
  t.not(caseKey(policy('fd')), caseKey({ ...policy('fd'), id: policy('fd').id.replace('caps=dac', 'caps=no-dac') }), 'another name: another case');
  t.not(caseKey({ suite: 's', id: 'a / b -> x' }), caseKey({ suite: 's', id: 'a b -> x' }), 'subtest levels stay apart');
  t.not(caseKey({ suite: 'a', id: 'b c' }), caseKey({ suite: 'a b', id: 'c' }), 'the suite and the name do not run together');
});

t.test('KCIDB agrees: the same key is the same test path, a changed expectation keeps it', async (t) => {
  t.equal(casePath(policy('fd')), casePath(policy('EACCES')));
  t.equal(casePath(policy('fd')), 'omayexec.policy.sysctl_2.mount_noexec.mode_0500.type_regular.via_openat2_O_MAYEXEC.caps_dac');
  for (const name of RUNS) {
    const cases = recordedRun(name).record.cases;
    const pathOfKey = new Map<string, string>();
    const keyOfPath = new Map<string, string>();
    let disagreements = 0;
    for (const c of cases) {
      const [k, p] = [caseKey(c), casePath(c)];
      if ((pathOfKey.get(k) ?? p) !== p || (keyOfPath.get(p) ?? k) !== k) disagreements++;
      pathOfKey.set(k, p);
      keyOfPath.set(p, k);
    }
    t.equal(disagreements, 0, `${name}: one key, one path, both ways (${cases.length} cases)`);
    t.equal(pathOfKey.size, cases.length, `${name}: no case twice`);
    t.same(casePaths(cases), cases.map((c) => casePath(c)), `${name}: no path needed numbering`);
  }
});

/** A run of the given cases, the rest as a passing run. */
function runOf(runId: string, cases: CaseRecord[]): RunRecord {
  return {
    runId, verdict: 'pass', exitCode: 0, why: '', mode: 'vm', kernel: { path: null, sha256: null, release: '6.1', source: 'test' },
    expect: [], profiles: [], totals: { pass: cases.length, fail: 0, skip: 0, error: 0 }, suites: [], cases, timings: {}, consoleSigns: [], overriddenExpectations: {},
  };
}

t.test('compare: a changed expectation is the same case with another expected value, not lost + newly run', async (t) => {
  const c = compareRuns(runOf('a', [policy('fd')]), runOf('b', [policy('EACCES')]));
  t.same([c.lost, c.disappeared, c.newlyRun, c.regressions], [[], [], [], []], 'nothing lost, gone or new');
  t.same(c.expectationChanged, ['policy sysctl=2 mount=noexec mode=0500 type=regular via=openat2+O_MAYEXEC caps=dac: expected fd -> EACCES']);
  const failing = compareRuns(runOf('a', [policy('fd')]), runOf('b', [policy('EACCES', { status: 'fail', actual: 'fd' })]));
  t.same(failing.regressions, [policy('EACCES').id], 'a pass that fails the new expectation is a regression');
  t.equal(failing.expectationChanged.length, 1, 'and its expectation changed');
  const skipped = compareRuns(runOf('a', [policy('fd')]), runOf('b', [{ ...policy('fd'), status: 'skip', expected: undefined, actual: undefined, reason: 'x' }]));
  t.same([skipped.lost, skipped.expectationChanged], [[policy('fd').id], []], 'a skipped case expects what its name says');
  // Between the two reference recordings the fd-leak checks changed form
  // (expected the fd count before, now "unchanged"): the same cases.
  const two = compareRuns(recordedRun('reference-6.1-pass').record, recordedRun('reference-6.1-observed').record);
  t.same(two.expectationChanged, ['policy', 'sysctl', 'extra'].map((s) => `${s} no fd leaked by the suite (open fds before/after): expected 19 -> unchanged`));
  t.same(two.regressions, [], 'no regression');
});
