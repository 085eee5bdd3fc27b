// End to end: boot Debian's stock 6.1 cloud kernel in QEMU and run the
// suites in it, through the CLI exactly as a user does. Slow (software
// emulation: ~20-30 s a boot). Results go to a temporary OMAYEXEC_RESULTS.
//
// The stock kernel has no O_MAYEXEC: every omayexec-* suite must be a SKIP
// carrying the probe's EINVAL evidence, unless the profile is required.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Parser, type FinalResults } from 'tap-parser';
import type { RunRecord } from '../vm/record.js';
import { bundledSuites } from '../vm/run.js';
import { projectRoot } from '../vm/paths.js';
import { runCli } from './fixtures/cli.js';


const missing = ['qemu-system-x86_64', 'apt-cache'].filter((c) => spawnSync(c, ['--version']).error);
const skip = missing.length ? `not installed: ${missing.join(', ')}` : false;
const suites = bundledSuites().sort();

interface Boot { status: number | null; stdout: string; stderr: string; record: RunRecord; dir: string; seconds: number }

function boot(args: string[], env: Record<string, string> = {}): Boot {
  const t0 = performance.now();
  const r = runCli(['run', '--debian', '6.1', ...args], { timeout: 600_000, env });
  const seconds = (performance.now() - t0) / 1000;
  const latest = join(r.resultsDir, 'latest');
  if (!existsSync(join(latest, 'results.json'))) {
    throw new Error(`no results.json (exit ${r.status}, signal ${r.signal}): ${r.stderr.split('\n').slice(-5).join(' | ')}`);
  }
  const record = JSON.parse(readFileSync(join(latest, 'results.json'), 'utf8')) as RunRecord;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, record, dir: join(r.resultsDir, readlinkSync(latest)), seconds };
}

function parseTap(text: string): Promise<FinalResults> {
  return new Promise((resolve) => {
    const p = new Parser((f) => resolve(f));
    p.end(text);
  });
}

const omayexecSuites = suites.filter((s) => s.startsWith('omayexec'));

t.test('run --debian 6.1: the stock kernel conforms to what it has (exit 0)', { skip }, async (t) => {
  const b = boot([]);
  t.comment(`boot and run: ${b.seconds.toFixed(1)} s`);
  const r = b.record;
  t.equal(b.status, 0, 'exit 0');
  t.equal(r.verdict, 'pass');
  t.equal(r.exitCode, 0);
  t.match(b.stdout, /^verdict: pass \(exit 0\)/m, 'summary line on stdout');
  t.equal(r.mode, 'vm');
  t.match(r.kernel.release, /^6\.1\.0-\d+-cloud-amd64$/);
  t.match(r.kernel.source, /^debian linux-image-6\.1\.0-\d+-cloud-amd64-unsigned /);
  t.match(r.kernel.sha256, /^[0-9a-f]{64}$/);
  t.same(r.consoleSigns, [], 'no panic, oops or WARNING on the console');
  t.same(r.suites.map((s) => s.id).sort(), suites, 'every compiled suite ran');

  const exec = r.suites.find((s) => s.id === 'exec');
  t.equal(exec?.status, 'pass', 'suite exec passes');
  const execCases = r.cases.filter((c) => c.suite === 'exec');
  t.ok(execCases.length >= 14, `exec has at least 14 cases (${execCases.length})`);
  t.ok(execCases.every((c) => c.status === 'pass'), 'every exec case passes');
  t.ok(execCases.every((c) => c.expected !== undefined && c.expected === c.actual), 'each exec case records expected = actual');

  const v7 = r.profiles.find((p) => p.name === 'omayexec-v7');
  t.equal(v7?.supported, false, 'omayexec-v7 absent on the stock kernel');
  t.equal(v7?.required, false);
  t.match(v7?.evidence, /EINVAL/, 'evidence names EINVAL');
  t.equal(r.profiles.find((p) => p.name === 'exec-cleanups')?.supported, true, 'exec-cleanups present (>= 5.9)');

  for (const id of omayexecSuites) {
    const s = r.suites.find((x) => x.id === id);
    t.equal(s?.status, 'skip', `${id}: skip`);
    t.match(s?.reason, /EINVAL/, `${id}: the reason carries the EINVAL evidence`);
    t.ok(r.cases.filter((c) => c.suite === id).every((c) => c.status === 'skip'), `${id}: no case passes or fails`);
  }
  t.notOk(r.suites.some((s) => ['fail', 'error', 'timeout'].includes(s.status)), 'no suite failed, errored or timed out');
  t.equal(r.totals.fail + r.totals.error, 0);
  t.equal(r.totals.pass, r.cases.filter((c) => c.status === 'pass').length, 'totals agree with the cases');

  const files = readdirSync(b.dir).sort();
  for (const f of ['console.log', 'junit.xml', 'results.json', 'results.ktap', 'results.raw']) t.ok(files.includes(f), `run folder has ${f}`);
  const raw = readFileSync(join(b.dir, 'results.raw'), 'utf8').trim().split('\n');
  t.match(raw[raw.length - 1], /^OMX \{"event":"end","exit":0,/, 'the sentinel is the last results line');
  t.match(readFileSync(join(b.dir, 'console.log'), 'utf8'), /OMX-CONSOLE init reached/);
  const ktap = await parseTap(readFileSync(join(b.dir, 'results.ktap'), 'utf8'));
  t.equal(ktap.ok, true, 'results.ktap: a passing TAP stream');
  t.equal(ktap.count, r.suites.length, 'results.ktap: one test point per suite');
  t.equal(ktap.skip, r.suites.filter((s) => s.status === 'skip').length, 'results.ktap: skipped suites are SKIP');
});

t.test('run --debian 6.1 --expect omayexec-v7 --suite exec: exit 1, a failing case names the required profile', { skip }, async (t) => {
  const b = boot(['--expect', 'omayexec-v7', '--suite', 'exec']);
  t.comment(`boot and run: ${b.seconds.toFixed(1)} s`);
  const r = b.record;
  t.same(r.suites.map((s) => s.id), ['profiles', 'exec'], 'only the exec suite ran, after the host\'s check of the required profiles');
  t.equal(r.suites.find((s) => s.id === 'profiles')?.status, 'fail', 'the profiles check fails');
  t.equal(r.profiles.find((p) => p.name === 'omayexec-v7')?.required, true, 'profile recorded as required');
  t.equal(r.profiles.find((p) => p.name === 'omayexec-v7')?.supported, false);
  t.equal(b.status, 1, 'exit 1: a required profile is absent');
  t.equal(r.verdict, 'fail');
  const naming = r.cases.filter((c) => c.status === 'fail' && /omayexec-v7/.test(`${c.id} ${c.reason ?? ''} ${c.actual ?? ''}`));
  t.ok(naming.length >= 1, 'a failing case names omayexec-v7');
});

t.test('run --debian 6.1 --expect omayexec-v7 with an omayexec suite: that suite fails instead of skipping', {
  skip: skip || (omayexecSuites.length ? false : 'no omayexec-* suite built'),
}, async (t) => {
  const suite = omayexecSuites[0]!;
  const b = boot(['--expect', 'omayexec-v7', '--suite', 'exec', '--suite', suite]);
  t.comment(`boot and run: ${b.seconds.toFixed(1)} s`);
  const r = b.record;
  t.equal(b.status, 1, 'exit 1');
  t.equal(r.verdict, 'fail');
  t.equal(r.suites.find((s) => s.id === suite)?.status, 'fail', `${suite}: fail, not skip`);
  t.equal(r.suites.find((s) => s.id === 'exec')?.status, 'pass', 'exec still passes');
  const failed = r.cases.filter((c) => c.suite === suite && c.status === 'fail');
  t.equal(failed.length, 1, 'one failing case stands for the suite');
  t.match(failed[0]?.id, /profile omayexec-v7 is required \(--expect\) but absent/);
  t.match(b.stdout, /profile omayexec-v7: absent \(required\)/);
});

// Debian builds the loop driver as a module: /init loads only the channel's
// modules, and a suite that declares loop (SuiteNeeds.modules) gets it.
t.test('run --debian 6.1: loop.ko is loaded for the suites that declare it, not at boot', { skip }, async (t) => {
  const b = boot(['--suite', 'loop-unloaded', '--suite', 'loop-needed'], { OMAYEXEC_EXTRA_SUITES: join(projectRoot, 'test/fixtures/guest-suites') });
  const r = b.record;
  t.equal(b.status, 0, `exit 0 (${b.stdout.split('\n')[0]})`);
  t.same(r.suites.map((s) => [s.id, s.status]), [['loop-unloaded', 'pass'], ['loop-needed', 'pass']], 'both suites pass');
  t.equal(r.cases.filter((c) => c.status === 'pass').length, 3, 'three passing cases');
  const console = readFileSync(join(b.dir, 'console.log'), 'utf8');
  t.notMatch(console, /init: insmod/, 'no module failed to load at boot');
  t.match(console, /OMX-CONSOLE modules loaded uptime=/, '/init loaded the channel modules');
});
