// toKtap (vm/ktap.ts), toJunit (vm/junit.ts) and writeRunFolder
// (vm/results.ts): the KTAP output read back with a real TAP parser
// (tap-parser), junit.xml with a real XML parser (fast-xml-parser), from
// parsed recorded runs.
import t, { type Test } from 'tap';
import { Parser, type FinalResults } from 'tap-parser';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import tmp from 'tmp';
import { caseRecords, runArtifacts, suiteRecords } from '../vm/finish-run.js';
import { toJunit } from '../vm/junit.js';
import { toKtap } from '../vm/ktap.js';
import { parseRunnerOutput, type ParsedRun, type SuiteResult } from '../vm/parse.js';
import { totalsOf, type KernelIdentity, type RunRecord, type Totals } from '../vm/record.js';
import { newRunId, runDir, writeRunFolder } from '../vm/results.js';
import { runLines } from './fixtures/load.js';

tmp.setGracefulCleanup();

const run = (name: string): ParsedRun => parseRunnerOutput(runLines(name));
const casesOf = (r: ParsedRun) => r.suites.flatMap((s) => s.cases);
/** KTAP of a parsed run, as the run folder gets it. */
const ktapOf = (r: ParsedRun, totals: Totals) => toKtap({ suites: suiteRecords(r), totals }, runArtifacts(r, ''));
/** junit.xml of a parsed run, as the run folder gets it. */
const junitOf = (r: ParsedRun, head: { kernel: KernelIdentity; verdict: RunRecord['verdict'] }) => toJunit({ ...head, suites: suiteRecords(r), cases: caseRecords(r) });
const KERNEL = { path: '/boot/vmlinuz', sha256: null, release: '6.1.0-56-cloud-amd64', source: 'test' };

interface Tap { final: FinalResults; asserts: { ok: boolean; id: number; name: string; skip: string | boolean; todo: string | boolean }[]; extra: string[]; comments: string[] }

function parseTap(text: string): Promise<Tap> {
  return new Promise((resolve) => {
    const asserts: Tap['asserts'] = [];
    const extra: string[] = [];
    const comments: string[] = [];
    const p = new Parser((final) => resolve({ final, asserts, extra, comments }));
    p.on('assert', (a: Tap['asserts'][number]) => asserts.push(a));
    p.on('extra', (e: string) => extra.push(e));
    p.on('comment', (c: string) => comments.push(c));
    p.end(text);
  });
}

/** One run made of several recorded suites (renamed so ids stay unique). */
function mixedRun(): ParsedRun {
  const pick = (file: string, id: string, rename: string): SuiteResult => {
    const s = run(file).suites.find((x) => x.id === id)!;
    s.id = rename;
    for (const c of s.cases) c.suite = rename;
    return s;
  };
  return {
    profiles: [],
    stderr: [],
    suites: [
      pick('debian-6.1-pass.raw', 'exec', 'exec'),
      pick('skip-suite.raw', 'omayexec-policy', 'omayexec-policy'),
      pick('omayexec-fail-yaml.raw', 'omayexec-policy', 'omayexec-sysctl'),
      pick('suite-timeout.raw', 'exec', 'exec-timeout'),
      pick('suite-signal.raw', 'exec', 'exec-signal'),
    ],
  };
}

t.test('KTAP of the real passing run reads back as one passing suite', async (t) => {
  const r = run('debian-6.1-pass.raw');
  const totals = totalsOf(casesOf(r));
  t.same(totals, { pass: 14, fail: 0, skip: 0, error: 0 });
  const text = ktapOf(r, totals);
  t.ok(text.startsWith('TAP version 13\n1..1\n'), 'kselftest header');
  const tap = await parseTap(text);
  t.equal(tap.final.ok, true);
  t.same([tap.final.count, tap.final.pass, tap.final.fail, tap.final.skip], [1, 1, 0, 0]);
  t.same([tap.final.plan.start, tap.final.plan.end], [1, 1]);
  t.same(tap.asserts.map((a) => [a.id, a.name, a.ok]), [[1, 'selftests: omayexec: exec', true]]);
  t.same(tap.extra, [], 'every nested line is a comment: nothing unparseable');
  t.same(tap.final.failures, [], 'no TAP errors');
  t.ok(tap.comments.some((c) => c.startsWith('# ok 14 - exec execve type=regular mount=exec mode=0755 -> EXECUTED')), 'suite TAP nested under "# "');
  t.ok(tap.comments.includes('# Totals: pass:14 fail:0 xfail:0 xpass:0 skip:0 error:0\n'), 'kselftest Totals line');
});

t.test('KTAP of a mixed run: fail, skip, timeout and crash each read back right', async (t) => {
  const r = mixedRun();
  const totals = totalsOf(casesOf(r));
  const tap = await parseTap(ktapOf(r, totals));
  t.same([tap.final.count, tap.final.fail, tap.final.skip], [5, 3, 1], '5 suites: 3 not ok, 1 skip');
  t.same(tap.asserts.map((a) => [a.id, a.ok]), [[1, true], [2, true], [3, false], [4, false], [5, false]]);
  t.equal(tap.asserts[1]!.skip, 'openat2(/usr/bin/node, O_RDONLY|O_CLOEXEC|O_MAYEXEC=040000000) -> EINVAL: kernel lacks O_MAYEXEC',
    'the SKIP directive carries the reason');
  t.equal(tap.final.skips[0]?.name, 'selftests: omayexec: omayexec-policy');
  t.notOk(tap.asserts[3]!.skip, 'a timeout is not a skip');
  t.same(tap.extra, []);
  const line = (await parseTap(ktapOf(r, totals))).comments.find((c) => c.startsWith('# Totals:'));
  t.equal(line, `# Totals: pass:${totals.pass} fail:${totals.fail} xfail:0 xpass:0 skip:${totals.skip} error:${totals.error}\n`);
  t.same(totals, { pass: 14 + 3 + 11 + 9, fail: 1 + 1, skip: 0, error: 1 }, 'totals from the cases');
});

t.test('KTAP of an all-skipped run: every suite a SKIP, none failing', async (t) => {
  const r = run('all-skipped.raw');
  const tap = await parseTap(ktapOf(r, totalsOf(casesOf(r))));
  t.same([tap.final.count, tap.final.fail, tap.final.skip], [2, 0, 2]);
  t.same(tap.final.skips.map((s) => s.skip), ['needs root (euid 0)', 'openat2(/usr/bin/node, O_RDONLY|O_CLOEXEC|O_MAYEXEC=040000000) -> EINVAL: kernel lacks O_MAYEXEC']);
});

// --- junit.xml -------------------------------------------------------------

interface JCase { name: string; classname: string; failure?: { message: string }; error?: { message: string }; skipped?: { message: string } }
interface JSuite { name: string; tests: string; failures: string; errors: string; skipped: string; time: string; testcase?: JCase[]; properties: { property: { name: string; value: string }[] } }
interface JRoot { testsuites: { name: string; tests: string; failures: string; errors: string; skipped: string; testsuite?: JSuite[] } }

function parseJunit(t: Test, xml: string): JRoot {
  t.equal(XMLValidator.validate(xml), true, 'well-formed XML');
  const p = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '',
    parseAttributeValue: false,
    isArray: (name) => ['testsuite', 'testcase', 'property'].includes(name),
  });
  return p.parse(xml) as JRoot;
}

const kind = (c: JCase) => (c.failure !== undefined ? 'failure' : c.error !== undefined ? 'error' : c.skipped !== undefined ? 'skipped' : 'passed');

function countsOf(cases: JCase[]) {
  const n = { failure: 0, error: 0, skipped: 0, passed: 0 };
  for (const c of cases) n[kind(c)]++;
  return n;
}

t.test('junit of the real passing run', async (t) => {
  const r = run('debian-6.1-pass.raw');
  const j = parseJunit(t, junitOf(r, { kernel: KERNEL, verdict: 'pass' }));
  const root = j.testsuites;
  t.same([root.name, root.tests, root.failures, root.errors, root.skipped], ['omayexec-conformance', '14', '0', '0', '0']);
  const suites = root.testsuite ?? [];
  t.equal(suites.length, 1);
  t.equal(suites[0]!.name, 'exec');
  t.equal(suites[0]!.time, '4.018');
  t.same(suites[0]!.properties.property.map((p) => [p.name, p.value]), [['kernel.release', '6.1.0-56-cloud-amd64'], ['verdict', 'pass']]);
  const cases = suites[0]!.testcase ?? [];
  t.equal(cases.length, 14);
  t.equal(cases[12]!.name, 'exec execveat(AT_SYMLINK_NOFOLLOW) type=symlink mount=exec mode=0755 -> ELOOP', '"->" survives escaping');
  t.ok(cases.every((c) => c.classname === 'omayexec.exec'));
  t.same(countsOf(cases), { failure: 0, error: 0, skipped: 0, passed: 14 });
});

t.test('junit of a mixed run: counts agree with the testcases; skips are not passes', async (t) => {
  const r = mixedRun();
  const j = parseJunit(t, junitOf(r, { kernel: KERNEL, verdict: 'fail' }));
  const root = j.testsuites;
  const suites = root.testsuite ?? [];
  t.same(suites.map((s) => s.name), ['exec', 'omayexec-policy', 'omayexec-sysctl', 'exec-timeout', 'exec-signal']);
  const all = suites.flatMap((s) => s.testcase ?? []);
  const n = countsOf(all);
  t.same(n, { failure: 2, error: 1, skipped: 1, passed: 14 + 3 + 11 + 9 }, 'testcase elements: the skipped suite is one skipped testcase');
  for (const s of suites) {
    const sc = countsOf(s.testcase ?? []);
    t.same([Number(s.tests), Number(s.failures), Number(s.errors), Number(s.skipped)],
      [(s.testcase ?? []).length, sc.failure, sc.error, sc.skipped], `testsuite ${s.name}: attributes match its testcases`);
  }
  const policy = suites.find((s) => s.name === 'omayexec-policy')!;
  t.equal(policy.testcase?.[0]?.skipped?.message, 'openat2(/usr/bin/node, O_RDONLY|O_CLOEXEC|O_MAYEXEC=040000000) -> EINVAL: kernel lacks O_MAYEXEC',
    'skip reason in <skipped message>');
  const timeout = suites.find((s) => s.name === 'exec-timeout')!;
  t.match(timeout.testcase?.find((c) => c.failure)?.failure?.message, /TIMEOUT suite timed out after 135\.0 s/);
  const signal = suites.find((s) => s.name === 'exec-signal')!;
  t.equal(signal.testcase?.find((c) => c.error)?.error?.message, 'suite process killed by SIGSEGV');
  // The root element is what most CI systems read.
  t.equal(Number(root.tests), all.length, 'root tests = number of testcases');
  t.equal(Number(root.skipped), n.skipped, 'root skipped = skipped testcases');
  t.equal(Number(root.failures), n.failure);
  t.equal(Number(root.errors), n.error);
  t.equal(Number(root.tests) - Number(root.failures) - Number(root.errors) - Number(root.skipped), n.passed,
    'what a CI reader derives as passed from the root counts is the real number of passes');
});

t.test('junit of an all-skipped run reports nothing as passed', async (t) => {
  const r = run('all-skipped.raw');
  const j = parseJunit(t, junitOf(r, { kernel: KERNEL, verdict: 'skip' }));
  const all = (j.testsuites.testsuite ?? []).flatMap((s) => s.testcase ?? []);
  t.same(countsOf(all), { failure: 0, error: 0, skipped: 2, passed: 0 });
  const root = j.testsuites;
  t.equal(Number(root.tests) - Number(root.failures) - Number(root.errors) - Number(root.skipped), 0, 'root counts: 0 passed');
  t.equal(Number(root.skipped), 2, 'root counts the 2 skipped suites');
});

t.test('junit: the failure message carries expected and actual; markup and control characters are escaped', async (t) => {
  const nasty = 'a <b> & "c" \'d\' \u0001\u001b[0m -> EACCES';
  const r: ParsedRun = {
    profiles: [],
    stderr: [],
    suites: [{
      id: 'x&y', status: 'fail', exit: 1, signal: null, seconds: 1.5, tap: [],
      cases: [
        { id: nasty, suite: 'x&y', status: 'fail', expected: 'EACCES', actual: 'fd', line: 3 },
        { id: 'ok one -> ELOOP', suite: 'x&y', status: 'pass', expected: 'ELOOP', actual: 'ELOOP', line: 4 },
        { id: 'skipped <one>', suite: 'x&y', status: 'skip', reason: 'needs CONFIG_X86_X32 "y"', line: 5 },
      ],
    }],
  };
  const j = parseJunit(t, junitOf(r, { kernel: { ...KERNEL, release: '6.1.0 "quoted" <rel>' }, verdict: 'fail' }));
  const s = j.testsuites.testsuite![0]!;
  t.equal(s.name, 'x&y');
  const [bad, good, skipped] = s.testcase!;
  t.equal(bad!.name, 'a <b> & "c" \'d\' [0m -> EACCES', 'name round-trips, XML-illegal control characters dropped');
  t.equal(bad!.failure?.message, 'expected EACCES, actual fd');
  t.equal(kind(good!), 'passed');
  t.equal(skipped!.name, 'skipped <one>');
  t.equal(skipped!.skipped?.message, 'needs CONFIG_X86_X32 "y"');
  t.equal(s.properties.property[0]!.value, '6.1.0 "quoted" <rel>');
});

t.test('writeRunFolder: results.json, results.ktap, junit.xml, and latest -> the newest run', async (t) => {
  const root = tmp.dirSync({ unsafeCleanup: true, prefix: 'omx-results-' });
  const saved = process.env.OMAYEXEC_RESULTS;
  process.env.OMAYEXEC_RESULTS = root.name;
  t.teardown(() => {
    if (saved === undefined) delete process.env.OMAYEXEC_RESULTS;
    else process.env.OMAYEXEC_RESULTS = saved;
    root.removeCallback();
  });
  const write = (id: string, file: string) => {
    const r = run(file);
    const cases = caseRecords(r);
    const record: RunRecord = {
      runId: id, verdict: 'pass', exitCode: 0, why: 'test', mode: 'vm', kernel: KERNEL, expect: [],
      profiles: r.profiles.map((p) => ({ ...p, required: false })), totals: totalsOf(cases),
      suites: suiteRecords(r), cases, timings: {}, consoleSigns: [], overriddenExpectations: {},
    };
    const dir = runDir(id);
    t.equal(dir, join(root.name, id), 'run folder under OMAYEXEC_RESULTS');
    writeRunFolder(dir, record, runArtifacts(r, ''));
    return dir;
  };
  const id1 = newRunId();
  t.match(id1, /^\d{8}-\d{6}-\d+$/);
  const d1 = write(id1, 'debian-6.1-pass.raw');
  for (const f of ['results.json', 'results.ktap', 'junit.xml']) t.ok(existsSync(join(d1, f)), f);
  const rec = JSON.parse(readFileSync(join(d1, 'results.json'), 'utf8')) as RunRecord;
  t.equal(rec.cases.length, 14);
  t.notOk('line' in rec.cases[0]!, 'stream line numbers are not part of the record');
  t.equal(readlinkSync(join(root.name, 'latest')), id1);
  const id2 = `${id1}-second`;
  write(id2, 'skip-suite.raw');
  t.equal(readlinkSync(join(root.name, 'latest')), id2, 'latest moves to the newest run');
  t.equal((JSON.parse(readFileSync(join(root.name, 'latest', 'results.json'), 'utf8')) as RunRecord).suites.length, 2);
});
