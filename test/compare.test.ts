// compare (vm/compare.ts) on recorded runs (test/fixtures/runs-recorded/):
// Debian's stock kernel against the O_MAYEXEC reference kernel, the reference
// against a "fault kernel" copy of itself with a few cases flipped to fail,
// the reference against the real dir-eacces fault kernel, and the CLI's exit
// status (`node bin/omayexec-conformance.js compare A B`): 1 with a
// regression, 0 without.
import t from 'tap';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tmp from 'tmp';
import { compareRuns, formatComparison, loadRun, type Comparison } from '../vm/compare.js';
import type { RunRecord } from '../vm/record.js';
import { runCli } from './fixtures/cli.js';
import { fixturesDir, projectRoot } from './fixtures/load.js';

tmp.setGracefulCleanup();
const RECORDED = join(fixturesDir, 'runs-recorded');
const STOCK = join(RECORDED, 'debian-6.1-stock');
const REFERENCE = join(RECORDED, 'reference-6.1-pass');
const REFERENCE_IMA_ERROR = join(RECORDED, 'reference-6.1-ima-error');
const FAULT = join(RECORDED, 'fault-dir-eacces');
const O_MAYEXEC_SUITES = ['omayexec-policy', 'omayexec-sysctl', 'omayexec-extra', 'ima'];
const cliSkip = existsSync(join(projectRoot, 'dist/vm/cli.js')) ? false : 'not built (npm run build)';

function compareCli(a: string, b: string, json = false) {
  const r = runCli(['compare', a, b, ...(json ? ['--json'] : [])], { timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A run folder holding a modified copy of a recorded results.json. */
function craftedRun(from: string, edit: (r: RunRecord) => void): string {
  const dir = tmp.dirSync({ unsafeCleanup: true, prefix: 'omx-compare-' }).name;
  cpSync(from, dir, { recursive: true });
  const r = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as RunRecord;
  edit(r);
  writeFileSync(join(dir, 'results.json'), JSON.stringify(r, null, 2) + '\n');
  return dir;
}

const empty = (c: Comparison, keys: (keyof Comparison)[]) => Object.fromEntries(keys.map((k) => [k, (c[k] as string[]).length]));

t.test('stock Debian 6.1 -> reference 6.1: the O_MAYEXEC cases are newly run, nothing regresses', async (t) => {
  const stock = loadRun(STOCK);
  const ref = loadRun(REFERENCE);
  const c = compareRuns(stock, ref);
  const expected = ref.cases.filter((x) => O_MAYEXEC_SUITES.includes(x.suite)).map((x) => x.id);
  t.equal(expected.length, 963, '897 policy + 30 sysctl + 29 extra + 7 ima');
  t.same(c.newlyRun, expected, 'exactly the cases of the O_MAYEXEC and IMA suites, in run order');
  t.same(empty(c, ['regressions', 'fixes', 'newlySkipped', 'disappeared']), { regressions: 0, fixes: 0, newlySkipped: 0, disappeared: 0 });
  t.equal(c.kernelDiffers, true);
  t.same([c.base.kernel, c.candidate.kernel], ['6.1.0-56-cloud-amd64', '6.1.192']);
  const text = formatComparison(c);
  t.match(text, /^newly run: 963$/m);
  t.match(text, /^ {2}policy sysctl=0 mount=exec mode=0500 type=regular via=openat2 caps=dac -> fd$/m);
  t.match(text, /^ {2}\.\.\. 763 more \(see --json\)$/m, 'long lists cut at 200');
});

t.test('stock -> the reference run with a suite error: newly run, and the worse verdict is the regression', async (t) => {
  const c = compareRuns(loadRun(STOCK), loadRun(REFERENCE_IMA_ERROR));
  t.equal(c.newlyRun.length, 957, '956 O_MAYEXEC cases + the ima suite\'s error case');
  t.ok(c.newlyRun.includes('ima: suite printed no TAP plan'));
  t.same(c.regressions, ['(run) verdict pass -> error'], 'no case regressed; the verdict did');
});

t.test('compare CLI: stock -> reference exits 0 and says which cases are newly run', { skip: cliSkip }, async (t) => {
  const r = compareCli(STOCK, join(REFERENCE, 'results.json'));
  t.equal(r.status, 0, 'exit 0: no regression');
  t.equal(r.stderr, '');
  t.match(r.stdout, /^regressions \(pass -> fail\): 0$/m);
  t.match(r.stdout, /^newly run: 963$/m);
  t.match(r.stdout, /^kernel identity differs \(release or image sha256\)$/m);
});

// The crafted fault kernel: the reference run with three cases of three
// suites flipped to fail, as a kernel breaking those rules would report.
const FLIPS: Record<string, string> = {
  'policy sysctl=1 mount=noexec mode=0500 type=regular via=openat2+O_MAYEXEC caps=dac -> EACCES': 'fd',
  'sysctl range write "4" -> EINVAL': 'ok',
  'exec execve type=directory mount=exec mode=0755 -> EACCES': 'EISDIR',
};

function faultKernel(): string {
  return craftedRun(REFERENCE, (r) => {
    let flipped = 0;
    for (const c of r.cases) {
      if (FLIPS[c.id] === undefined) continue;
      c.status = 'fail';
      c.actual = FLIPS[c.id];
      flipped++;
    }
    if (flipped !== Object.keys(FLIPS).length) throw new Error(`only ${flipped} of the cases to flip found`);
    r.totals = { ...r.totals, pass: r.totals.pass - flipped, fail: r.totals.fail + flipped };
    r.verdict = 'fail';
    r.exitCode = 1;
    r.why = `${flipped} case(s) failed`;
    r.runId = 'crafted-fault-kernel';
    r.kernel = { ...r.kernel, sha256: 'f'.repeat(64) };
  });
}

t.test('reference -> crafted fault kernel: exactly the flipped cases are regressions; exit 1', { skip: cliSkip }, async (t) => {
  const fault = faultKernel();
  const c = compareRuns(loadRun(REFERENCE), loadRun(fault));
  const order = loadRun(REFERENCE).cases.map((x) => x.id).filter((id) => FLIPS[id] !== undefined);
  t.same(c.regressions, order, 'the three flipped cases, nothing else');
  t.same(empty(c, ['fixes', 'newlySkipped', 'newlyRun', 'disappeared']), { fixes: 0, newlySkipped: 0, newlyRun: 0, disappeared: 0 });
  t.equal(c.kernelDiffers, true, 'another image');
  const r = compareCli(REFERENCE, fault);
  t.equal(r.status, 1, 'exit 1: a regression');
  t.match(r.stdout, /^regressions \(pass -> fail\): 3$/m);
  for (const id of order) t.ok(r.stdout.split('\n').includes(`  ${id}`), `listed: ${id}`);
  const j = compareCli(REFERENCE, fault, true);
  t.equal(j.status, 1);
  t.same(JSON.parse(j.stdout), c, '--json is the comparison');
});

t.test('crafted fault kernel -> reference: the same cases are fixes; exit 0', { skip: cliSkip }, async (t) => {
  const fault = faultKernel();
  const c = compareRuns(loadRun(fault), loadRun(REFERENCE));
  t.same([...c.fixes].sort(), Object.keys(FLIPS).sort());
  t.same(c.regressions, []);
  t.equal(compareCli(fault, REFERENCE).status, 0);
});

t.test('reference -> an identical copy: nothing changed; exit 0', { skip: cliSkip }, async (t) => {
  const copy = craftedRun(REFERENCE, () => {});
  const c = compareRuns(loadRun(REFERENCE), loadRun(copy));
  t.same(empty(c, ['regressions', 'fixes', 'newlySkipped', 'newlyRun', 'disappeared']), { regressions: 0, fixes: 0, newlySkipped: 0, newlyRun: 0, disappeared: 0 });
  t.equal(c.kernelDiffers, false);
  const r = compareCli(REFERENCE, copy);
  t.equal(r.status, 0);
  t.match(r.stdout, /^same kernel image$/m);
});

t.test('reference -> the real dir-eacces fault kernel: its 34 failing cases are the regressions; exit 1', { skip: cliSkip }, async (t) => {
  const fault = loadRun(FAULT);
  const c = compareRuns(loadRun(REFERENCE), fault);
  t.same(c.regressions, fault.cases.filter((x) => x.status === 'fail').map((x) => x.id));
  t.equal(c.regressions.length, 34);
  t.ok(c.regressions.every((id) => id.includes('directory')), 'all about directories');
  t.same(empty(c, ['fixes', 'newlySkipped', 'newlyRun', 'disappeared']), { fixes: 0, newlySkipped: 0, newlyRun: 0, disappeared: 0 });
  t.equal(compareCli(REFERENCE, FAULT).status, 1);
});

t.test('compare: a folder without results.json is bad input (exit 2)', { skip: cliSkip }, async (t) => {
  const r = compareCli(REFERENCE, tmp.dirSync({ unsafeCleanup: true }).name);
  t.equal(r.status, 2);
  t.match(r.stderr, /^omayexec-conformance: no run found at /);
});

t.test('reference -> stock kernel (O_MAYEXEC gone, its suites skipped whole): should be a regression', { skip: cliSkip }, async (t) => {
  const c = compareRuns(loadRun(REFERENCE), loadRun(STOCK));
  t.equal(c.lost.length, 963, 'the 963 O_MAYEXEC/IMA cases that passed are listed as lost');
  t.equal(c.disappeared.length, 0, 'and not as merely "no longer reported"');
  t.same(c.newlySkipped, [], 'not "newly skipped": a suite skipped whole reports no cases');
  t.same(c.regressions, [], 'no case went from pass to fail');
  t.equal(compareCli(REFERENCE, STOCK).status, 1, 'exit 1: losing the feature is a regression for git bisect run');
  t.equal(compareCli(REFERENCE, join(RECORDED, 'debian-6.1-skip')).status, 1, 'reference -> all-skipped run: exit 1');
});
