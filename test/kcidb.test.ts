// kcidb.json (vm/kcidb.ts) and the TAP 14 results.ktap (vm/ktap.ts) from recorded run
// folders (test/fixtures/runs-recorded/: a passing reference run, one with a
// suite error, a fault kernel failing 34 cases, Debian stock, an all-skipped
// run, a kernel panic). kcidb.json is validated with a real JSON-schema
// validator (ajv, draft 2020-12) against a subset of KCIDB I/O v5.3 written
// from kcidb-io's schema facts (test/fixtures/kcidb-v5-subset.schema.json);
// the TAP 14 form is read back with tap-parser. Last, the CLI refuses bad
// --format and --kcidb-origin values before anything boots (the real run
// threading them to the run folder boots QEMU: test/kcidb-run.vm.test.ts).
import t from 'tap';
import { Parser, type FinalResults } from 'tap-parser';
import Ajv2020 from 'ajv/dist/2020.js';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import tmp from 'tmp';
import { casePath, casePaths, kcidbJson, suiteNode, toKcidb } from '../vm/kcidb.js';
import { KCIDB_PATH_RE, type KcidbData, type KcidbTest } from '../vm/kcidb-schema.js';
import { toTap14 } from '../vm/ktap.js';
import { DEFAULT_CI_OUTPUT } from '../vm/results.js';
import { runCli } from './fixtures/cli.js';
import { fixturesDir, projectRoot, recordedRun as recorded, type RecordedRun as Recorded } from './fixtures/load.js';

tmp.setGracefulCleanup();

const RUNS = ['reference-6.1-pass', 'reference-6.1-ima-error', 'fault-dir-eacces', 'debian-6.1-stock', 'debian-6.1-skip', 'debian-6.1-panic'];
const RUN_STATUS: Record<string, string> = {
  'reference-6.1-pass': 'PASS',
  'reference-6.1-ima-error': 'ERROR',
  'fault-dir-eacces': 'FAIL',
  'debian-6.1-stock': 'PASS',
  'debian-6.1-skip': 'SKIP',
  'debian-6.1-panic': 'FAIL',
};

const schema = JSON.parse(readFileSync(join(fixturesDir, 'kcidb-v5-subset.schema.json'), 'utf8')) as object;
const ajv = new Ajv2020.default({ allErrors: true, strict: true });
// RFC 3339 date-time (what KCIDB's "format": "date-time" means) and URIs.
ajv.addFormat('date-time', (s: string) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(s) && !Number.isNaN(Date.parse(s)));
ajv.addFormat('uri', (s: string) => URL.canParse(s));
const validate = ajv.compile(schema);

function schemaErrors(data: unknown): string[] {
  return validate(data) ? [] : (validate.errors ?? []).slice(0, 10).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
}

/** Every place a null hides (KCIDB: no property can be null). */
function nulls(v: unknown, at = ''): string[] {
  if (v === null) return [at || '(root)'];
  if (Array.isArray(v)) return v.flatMap((x, i) => nulls(x, `${at}[${i}]`));
  if (typeof v === 'object') return Object.entries(v as object).flatMap(([k, x]) => nulls(x, `${at}.${k}`));
  return [];
}

/** kcidb.json as the run folder gets it, read back. */
function kcidbOf(r: Recorded, origin = DEFAULT_CI_OUTPUT.kcidbOrigin): KcidbData {
  return JSON.parse(kcidbJson(r.record, r.artifacts, origin)) as KcidbData;
}

const byKind = (d: KcidbData, kind: string) => d.tests.filter((x) => (x.misc as { kind?: string } | undefined)?.kind === kind);

t.test('the schema subset rejects what KCIDB rejects (the validator is live)', async (t) => {
  const good = kcidbOf(recorded('debian-6.1-stock'));
  t.same(schemaErrors(good), [], 'a generated document passes');
  const broken = (f: (d: KcidbData & Record<string, unknown>) => void) => {
    const d = structuredClone(good) as KcidbData & Record<string, unknown>;
    f(d);
    return schemaErrors(d);
  };
  t.ok(broken((d) => (d.version.major = 4)).length, 'major 4');
  t.ok(broken((d) => (d.version.minor = 4)).length, 'minor 4 (newer than 5.3)');
  t.ok(broken((d) => (d.tests[1]!.path = 'omayexec.exec.with space')).length, 'a path with a space');
  t.ok(broken((d) => (d.tests[1]!.path = 'omayexec..exec')).length, 'an empty path node');
  t.ok(broken((d) => ((d.tests[1] as { status: string }).status = 'pass')).length, 'a lower-case status');
  t.ok(broken((d) => delete (d.tests[1] as Partial<KcidbTest>).build_id).length, 'a test without build_id');
  t.ok(broken((d) => (d.tests[1]!.id = 'Omayexec:x')).length, 'an id whose origin has upper case');
  t.ok(broken((d) => (d.builds[0]!.origin = 'omx-ci')).length, 'an origin with a dash');
  t.ok(broken((d) => ((d.tests[1] as unknown as Record<string, unknown>).waived = false)).length, 'a property v5.3 does not have (waived left v5.1)');
  t.ok(broken((d) => (d.tests[0]!.start_time = '28/11/2026')).length, 'a start_time that is no RFC 3339 date-time');
  t.ok(broken((d) => (d.tests[0]!.log_excerpt = 'x'.repeat(16385))).length, 'a log excerpt over 16384 characters');
  t.ok(broken((d) => (d.tests[0]!.comment = 'a\u0000b')).length, 'a NUL in free text');
  t.ok(broken((d) => (d.builds[0]!.architecture = 'x86-64')).length, 'an architecture with a dash');
});

for (const name of RUNS) {
  t.test(`${name}: kcidb.json is valid KCIDB v5.3 and says what results.json says`, async (t) => {
    const r = recorded(name);
    const d = kcidbOf(r);
    t.same(schemaErrors(d), [], 'valid against the schema subset');
    t.same(nulls(d), [], 'no null anywhere');
    t.same(d.version, { major: 5, minor: 3 });
    t.equal(d.checkouts.length, 1, 'one checkout');
    t.equal(d.builds.length, 1, 'one build');
    const [checkout, build] = [d.checkouts[0]!, d.builds[0]!];
    t.equal(build.checkout_id, checkout.id, 'the build belongs to the checkout');
    t.ok(d.tests.every((x) => x.build_id === build.id), 'every test belongs to the build');
    const ids = [checkout.id, build.id, ...d.tests.map((x) => x.id)];
    t.ok(ids.every((id) => id.startsWith('omayexec:')), 'ids are <origin>:..., default origin omayexec');
    t.ok([checkout, build, ...d.tests].every((o) => o.origin === 'omayexec'), 'origin omayexec everywhere');
    t.equal(new Set(d.tests.map((x) => x.id)).size, d.tests.length, 'test ids unique');
    t.equal(new Set(d.tests.map((x) => x.path)).size, d.tests.length, 'test paths unique');
    t.ok(d.tests.every((x) => KCIDB_PATH_RE.test(x.path)), 'every path matches the schema pattern');

    // The kernel: path, sha256, release in the build.
    const k = (build.misc as { kernel: Record<string, string> }).kernel;
    t.same(k, Object.fromEntries(Object.entries(r.record.kernel).filter(([, v]) => v !== null)), 'kernel identity (path, sha256, release, source) in build.misc');
    if (r.record.kernel.sha256) t.match(build.id, new RegExp(`^omayexec:build-image-${r.record.kernel.sha256}$`), 'build id from the image sha256');
    t.equal(build.architecture, 'x86_64', 'architecture from the runner (x86_64)');

    // One test per case, per suite, plus the run.
    const runTests = byKind(d, 'run');
    const suiteTests = byKind(d, 'suite');
    const caseTests = byKind(d, 'case');
    t.equal(runTests.length, 1, 'one run test');
    t.equal(suiteTests.length, r.record.suites.length, `one test per suite (${r.record.suites.length})`);
    t.equal(caseTests.length, r.record.cases.length, `one test per case (${r.record.cases.length})`);
    t.equal(d.tests.length, 1 + r.record.suites.length + r.record.cases.length);
    t.equal(runTests[0]!.path, 'omayexec');
    t.equal(runTests[0]!.status, RUN_STATUS[name], `run: ${r.record.verdict} -> ${RUN_STATUS[name]}`);
    t.same((runTests[0]!.misc as { totals: unknown }).totals, r.record.totals, 'run totals');
    const status = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP', error: 'ERROR' } as const;
    t.same(caseTests.map((x) => x.status), r.record.cases.map((c) => status[c.status]), 'case statuses, in order');
    t.same(caseTests.map((x) => x.comment), r.record.cases.map((c) => c.id), 'case names kept as the comment');
    t.ok(caseTests.every((x, i) => x.path.startsWith(`omayexec.${suiteNode(r.record.cases[i]!.suite)}.`)), 'case paths under omayexec.<suite>.');
    t.same(suiteTests.map((x) => x.path), r.record.suites.map((s) => `omayexec.${suiteNode(s.id)}`), 'suite paths');
    const counts = (xs: KcidbTest[]) => xs.reduce<Record<string, number>>((a, x) => ((a[x.status] = (a[x.status] ?? 0) + 1), a), {});
    const rt = r.record.totals;
    t.same(counts(caseTests), Object.fromEntries(Object.entries({ PASS: rt.pass, FAIL: rt.fail, SKIP: rt.skip, ERROR: rt.error }).filter(([, n]) => n)), 'status counts = totals');
    t.ok(caseTests.filter((x) => x.status === 'PASS').every((x) => x.log_excerpt === undefined), 'no excerpt on passing cases');
    t.ok(caseTests.filter((x) => x.status !== 'PASS').every((x) => x.log_excerpt), 'an excerpt on every other case');

    const again = kcidbOf(recorded(name));
    t.same(again, d, 'stable: the same run gives the same document (ids included)');
  });
}

t.test('reference run: the policy matrix as test paths (omayexec.policy.sysctl_2.mount_noexec...)', async (t) => {
  const d = kcidbOf(recorded('reference-6.1-pass'));
  const policy = d.tests.filter((x) => x.path.startsWith('omayexec.policy.sysctl_'));
  t.equal(policy.length, 896, '4 sysctl x 2 mounts x 2 modes x 7 types x 4 paths x 2 caps');
  t.ok(policy.some((x) => x.path === 'omayexec.policy.sysctl_2.mount_noexec.mode_0500.type_regular.via_openat2_O_MAYEXEC.caps_dac'));
  t.ok(policy.some((x) => x.path === 'omayexec.policy.sysctl_0.mount_exec.mode_0400.type_socket.via_open_O_MAYEXEC.caps_no-dac'));
  t.ok(d.tests.some((x) => x.path === 'omayexec.sysctl.range.write.4'), 'sysctl range write "4" -> EINVAL');
  t.ok(d.tests.some((x) => x.path === 'omayexec.exec.execveat_AT_EMPTY_PATH.type_socket-fd.mount_exec.mode_0755'));
  const run = byKind(d, 'run')[0]!;
  t.equal(run.start_time, '2026-11-28T21:38:17+00:00', 'run start from the run id (UTC)');
  t.equal(run.duration, 36.081111475, 'run duration = timings.total');
  t.same(run.environment, { comment: 'QEMU (tcg) x86_64', misc: { mode: 'vm', accel: 'tcg', machine: 'x86_64', runner_node: 'v20.20.2' } });
  t.equal(byKind(d, 'suite').find((x) => x.path === 'omayexec.execve-check')?.status, 'SKIP');
  t.match(byKind(d, 'suite').find((x) => x.path === 'omayexec.execve-check')?.log_excerpt, /kernel lacks AT_EXECVE_CHECK/, 'the skip says why');
});

t.test('fault kernel (dir-eacces): exactly the 34 failing cases are FAIL, with the suite\'s diagnostics', async (t) => {
  const r = recorded('fault-dir-eacces');
  const d = kcidbOf(r);
  const failed = byKind(d, 'case').filter((x) => x.status === 'FAIL');
  t.equal(failed.length, 34);
  t.same(failed.map((x) => x.comment), r.record.cases.filter((c) => c.status === 'fail').map((c) => c.id));
  t.ok(failed.every((x) => /\.(type_)?directory\./.test(x.path)), 'all of them open a directory');
  const first = failed[0]!;
  t.equal(first.path, 'omayexec.policy.sysctl_0.mount_exec.mode_0500.type_directory.via_openat2_O_MAYEXEC.caps_dac');
  t.match(first.log_excerpt, /^not ok 8 - policy sysctl=0 mount=exec mode=0500 type=directory via=openat2\+O_MAYEXEC caps=dac -> EISDIR$/m, 'the TAP line');
  t.match(first.log_excerpt, /^ {2}expected: EISDIR$/m, 'the YAML expected');
  t.match(first.log_excerpt, /^ {2}actual: EACCES$/m, 'the YAML actual');
  t.same(byKind(d, 'suite').filter((x) => x.status === 'FAIL').map((x) => x.path), ['omayexec.policy', 'omayexec.extra']);
});

t.test('run with a suite error: the suite is ERROR and its stderr is the excerpt', async (t) => {
  const d = kcidbOf(recorded('reference-6.1-ima-error'));
  const ima = byKind(d, 'suite').find((x) => x.path === 'omayexec.ima')!;
  t.equal(ima.status, 'ERROR');
  t.match(ima.log_excerpt, /suite printed no TAP plan/);
  t.match(ima.log_excerpt, /Error: ENOSPC: no space left on device, write/, 'the suite\'s stderr');
  const c = byKind(d, 'case').find((x) => x.status === 'ERROR')!;
  t.equal(c.path, 'omayexec.ima.suite.printed.no.TAP.plan', 'the synthetic case (the leading "ima:" repeats the suite)');
  t.equal(byKind(d, 'run')[0]!.status, 'ERROR');
});

t.test('all-skipped run: run and suites SKIP with the probe evidence, no case', async (t) => {
  const d = kcidbOf(recorded('debian-6.1-skip'));
  t.equal(byKind(d, 'case').length, 0);
  t.same(byKind(d, 'suite').map((x) => [x.path, x.status]), [['omayexec.policy', 'SKIP'], ['omayexec.sysctl', 'SKIP'], ['omayexec.execve-check', 'SKIP']]);
  t.match(byKind(d, 'suite')[0]!.log_excerpt, /kernel lacks O_MAYEXEC/);
  t.equal(byKind(d, 'run')[0]!.status, 'SKIP');
});

t.test('panicked run: FAIL with the panic and the console excerpt (from console.log, handed in as text)', async (t) => {
  const r = recorded('debian-6.1-panic');
  const text = kcidbJson(r.record, r.artifacts, DEFAULT_CI_OUTPUT.kcidbOrigin);
  const d = JSON.parse(text) as KcidbData;
  t.same(schemaErrors(d), [], 'valid');
  t.equal(text.split('\n').filter((l) => l.startsWith('    {"id":')).length, 2 + d.tests.length, 'one object per line');
  const run = byKind(d, 'run')[0]!;
  t.equal(run.status, 'FAIL', 'a panic is the kernel reporting itself faulty');
  t.match(run.log_excerpt, /^verdict panic \(exit 3\): kernel panic: \[\s+14\.752121\] Kernel panic - not syncing: sysrq triggered crash$/m);
  t.match(run.log_excerpt, /^console:$/m);
  t.match(run.log_excerpt, /sysrq_handle_crash/, 'the backtrace from console.log');
  const noConsole = JSON.parse(kcidbJson(r.record, { ...r.artifacts, console: '' }, DEFAULT_CI_OUTPUT.kcidbOrigin)) as KcidbData;
  t.notMatch(byKind(noConsole, 'run')[0]!.log_excerpt, /^console:$/m, 'without the console text no console excerpt: the writer reads nothing from disk');
  t.same(byKind(d, 'suite').map((x) => [x.path, x.status]), [['omayexec.exec', 'PASS'], ['omayexec.fault-sysrq-crash', 'ERROR']]);
  const cases = byKind(d, 'case');
  t.equal(cases.length, 16);
  t.same(cases.filter((x) => x.status !== 'PASS').map((x) => [x.path, x.status]), [['omayexec.fault-sysrq-crash.output.ended.before.the.suite.finished.no.suite-end', 'ERROR']]);
  t.ok(cases.some((x) => x.path === 'omayexec.fault-sysrq-crash.runs.once.before.the.crash' && x.status === 'PASS'), 'the case before the crash kept');
});

t.test('origin: configurable, in every id; an invalid one is refused', async (t) => {
  const r = recorded('debian-6.1-stock');
  const d = kcidbOf(r, 'ci_lab_7');
  t.same(schemaErrors(d), []);
  t.ok([...d.checkouts, ...d.builds, ...d.tests].every((o) => o.origin === 'ci_lab_7' && o.id.startsWith('ci_lab_7:')));
  t.ok(d.tests.every((x) => x.build_id.startsWith('ci_lab_7:')));
  const def = kcidbOf(r);
  t.same(d.tests.map((x) => x.id.slice('ci_lab_7:'.length)), def.tests.map((x) => x.id.slice('omayexec:'.length)), 'the part after the origin does not depend on it');
  for (const bad of ['Omx', 'omx-ci', '', 'omx:ci']) t.throws(() => toKcidb(r.record, r.artifacts, bad), { message: /invalid KCIDB origin/ }, `'${bad}' refused`);
});

t.test('case paths: every word a node, subtests in order, expected outcome left out, repeats numbered', async (t) => {
  const cases: [string, string, string][] = [
    ['omayexec-policy', 'policy sysctl=2 mount=noexec mode=0500 type=regular via=open+O_MAYEXEC caps=dac -> EACCES', 'omayexec.policy.sysctl_2.mount_noexec.mode_0500.type_regular.via_open_O_MAYEXEC.caps_dac'],
    ['omayexec-sysctl', 'sysctl write "3\\\\n" (trailing newline) -> ok', 'omayexec.sysctl.write.3_n.trailing.newline'],
    ['omayexec-sysctl', 'sysctl range write "-1" -> EINVAL', 'omayexec.sysctl.range.write.-1'],
    ['execve-check', 'execve-check access type=memfd-elf mount=exec mode=0700 as=root -> 0', 'omayexec.execve-check.access.type_memfd-elf.mount_exec.mode_0700.as_root'],
    ['exec', 'exec: suite did not finish', 'omayexec.exec.suite.did.not.finish'],
    ['exec', 'group a / group b / leaf case -> fd', 'omayexec.exec.group.a.group.b.leaf.case'],
    ['exec', 'ünïcode — dash - and ### -> x', 'omayexec.exec.n_code.dash.and'],
    ['exec', '-> EACCES', 'omayexec.exec.case'],
    ['weird suite!', 'x', 'omayexec.weird_suite.x'],
  ];
  for (const [suite, id, want] of cases) {
    const p = casePath({ suite, id });
    t.equal(p, want, id);
    t.match(p, KCIDB_PATH_RE, 'matches the KCIDB path pattern');
  }
  t.same(casePaths([{ suite: 'exec', id: 'a -> 1' }, { suite: 'exec', id: 'a -> 2' }, { suite: 'exec', id: 'a' }]), ['omayexec.exec.a', 'omayexec.exec.a_2', 'omayexec.exec.a_3'], 'same case apart from the expectation: numbered in order');
});

// ------------------------------------------------------------------ TAP 14

interface Subtest { name: string; final: FinalResults }
interface Read { final: FinalResults; children: Subtest[]; asserts: { ok: boolean; id: number; name: string; skip: string | boolean }[] }

function readTap(text: string): Promise<Read> {
  return new Promise((resolve) => {
    const children: Subtest[] = [];
    const asserts: Read['asserts'] = [];
    const p = new Parser((final) => resolve({ final, children, asserts }));
    p.on('assert', (a: Read['asserts'][number]) => asserts.push(a));
    p.on('child', (c: Parser) => c.on('complete', (final: FinalResults) => children.push({ name: c.name, final })));
    p.end(text);
  });
}

function suiteOk(r: Recorded) {
  return r.run.suites.map((s) => s.status === 'pass' || s.status === 'skip');
}

t.test('TAP 14: the CLI\'s recorded results.ktap (run --format tap14) is what toTap14 writes, and reads back', async (t) => {
  const r = recorded('reference-6.1-pass');
  const onDisk = readFileSync(join(r.dir, 'results.ktap'), 'utf8');
  t.equal(toTap14(r.record, r.artifacts), onDisk, 'byte for byte');
  t.match(onDisk, /^TAP version 14\n1\.\.7\n# Subtest: omayexec: exec\n {4}ok 1 - exec execve type=directory/);
  const tap = await readTap(onDisk);
  t.equal(tap.final.ok, true);
  t.same([tap.final.count, tap.final.pass, tap.final.fail, tap.final.skip], [7, 7, 0, 1], '7 suites, execve-check skipped');
  t.same(tap.final.failures, [], 'no TAP errors');
  t.same(tap.asserts.map((a) => a.name), r.run.suites.map((s) => `omayexec: ${s.id}`), 'one test point per suite, in order');
  t.same(tap.children.map((c) => c.name), r.run.suites.filter((s) => s.tap.length).map((s) => `omayexec: ${s.id}`), 'one subtest per suite');
  const childCount = tap.children.reduce((a, c) => a + c.final.count, 0);
  t.equal(childCount, r.record.cases.length, `the subtests hold every case (${r.record.cases.length})`);
  t.same(tap.children.map((c) => [c.name, c.final.count]), [
    ['omayexec: exec', 14], ['omayexec: uselib', 8], ['omayexec: omayexec-policy', 897], ['omayexec: omayexec-sysctl', 30],
    ['omayexec: omayexec-extra', 29], ['omayexec: execve-check', 0], ['omayexec: ima', 7],
  ]);
  t.equal(tap.asserts[5]!.skip, 'execveat(/usr/bin/node, AT_EXECVE_CHECK=0x10000) -> EINVAL: kernel lacks AT_EXECVE_CHECK', 'SKIP reason');
});

for (const name of ['fault-dir-eacces', 'reference-6.1-ima-error', 'debian-6.1-skip', 'debian-6.1-panic']) {
  t.test(`TAP 14 of ${name} reads back with the suites' verdicts and every case`, async (t) => {
    const r = recorded(name);
    const tap = await readTap(toTap14(r.record, r.artifacts));
    t.equal(tap.final.count, r.run.suites.length, 'one test point per suite');
    t.same(tap.asserts.map((a) => a.ok), suiteOk(r), 'ok/not ok as the suites');
    t.equal(tap.final.skip, r.run.suites.filter((s) => s.status === 'skip').length, 'skips');
    t.equal(tap.final.ok, suiteOk(r).every(Boolean));
    const failedChildren = tap.children.reduce((a, c) => a + c.final.fail, 0);
    const passedChildren = tap.children.reduce((a, c) => a + c.final.pass, 0);
    // Cases the suites printed (synthetic ones, line -1, stand for a missing plan or end).
    const realCases = r.run.suites.flatMap((s) => s.cases).filter((c) => c.line >= 0);
    t.equal(passedChildren, realCases.filter((c) => c.status === 'pass').length, 'passing cases seen in the subtests');
    t.equal(failedChildren - tap.children.reduce((a, c) => a + c.final.failures.filter((f) => f.tapError).length, 0),
      realCases.filter((c) => c.status === 'fail').length, 'failing cases seen in the subtests');
  });
}

t.test('TAP 14 of the fault kernel: the failing suites carry a YAML block', async (t) => {
  const r = recorded('fault-dir-eacces');
  const text = toTap14(r.record, r.artifacts);
  t.match(text, /^not ok 3 - omayexec: omayexec-policy\n {2}---\n {2}status: fail\n {2}seconds: [\d.]+\n {2}\.\.\.$/m);
  t.match(text, /^ {6}expected: EISDIR$/m, 'the suite\'s own YAML, 4 columns deeper');
  const tap = await readTap(text);
  t.same(tap.children.find((c) => c.name === 'omayexec: omayexec-policy')?.final.fail, 32);
  t.same(tap.children.find((c) => c.name === 'omayexec: omayexec-extra')?.final.fail, 2);
});

// ------------------------------------------------------------------ CLI

const cliSkip = (() => {
  if (!existsSync(join(projectRoot, 'dist/vm/cli.js')) || !existsSync(join(projectRoot, 'dist/guest/executor'))) return 'not built (npm run build)';
  return false;
})();

function cli(args: string[], env: Record<string, string> = {}) {
  const r = runCli(args, { env, timeout: 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, results: r.resultsDir };
}

t.test('run --format / --kcidb-origin: bad values are bad usage (exit 2), before anything boots', { skip: cliSkip }, async (t) => {
  const f = cli(['run', '--format', 'xml', '--kernel', '/nonexistent']);
  t.equal(f.status, 2);
  t.match(f.stderr, /^omayexec-conformance: unknown format 'xml'; valid: ktap, tap14\n$/);
  const o = cli(['run', '--kcidb-origin', 'My-CI', '--kernel', '/nonexistent']);
  t.equal(o.status, 2);
  t.match(o.stderr, /^omayexec-conformance: --kcidb-origin takes a KCIDB origin \(lower-case letters, digits, _\), not 'My-CI'\n$/);
  t.same(readdirSync(o.results), [], 'no run folder');
});
