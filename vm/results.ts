// One run folder: results.json (the record), results.ktap (kselftest form),
// junit.xml; console.log is written live by the launcher. results/latest
// points at the newest run.
import { accessSync, constants, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { BadInputError, EXIT_CODES } from './errors.js';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { ProbeResult } from '../harness/profiles.js';
import type { CaseResult, ParsedRun, SuiteResult } from './parse.js';
import { resultsRoot } from './paths.js';
import { toHtml } from './report-html.js';
import { DEFAULT_CI_OUTPUT, toTap14, writeKcidb, type CiOutputOptions } from './kcidb.js';
import type { Verdict } from './verdict.js';

export interface KernelIdentity {
  path: string | null;
  sha256: string | null;
  release: string | null;
  source: string;
}

export interface RunRecord {
  runId: string;
  verdict: Verdict;
  exitCode: number;
  why: string;
  mode: 'vm' | 'direct';
  kernel: KernelIdentity;
  expect: string[];
  profiles: (ProbeResult & { required: boolean })[];
  totals: { pass: number; fail: number; skip: number; error: number };
  suites: Omit<SuiteResult, 'tap' | 'cases'>[];
  cases: Omit<CaseResult, 'line'>[];
  timings: Record<string, number | null>;
  qemu?: { accel: string; argv: string[]; exitCode: number | null; signal: string | null; killedFor: string | null };
  consoleSigns: { kind: string; line: string }[];
  /** Non-empty only when a test of the project made expectations wrong on purpose. */
  overriddenExpectations: Record<string, string>;
  /** Kernel config pre-check (VM runs): where the config came from and what it lacks. */
  configCheck?: { source: string; fatal: string[]; suiteLevel: { option: string; suites: string | string[] }[] } | null;
  /** VM runs: the executor's channel (virtio-serial or ttyS1), null when none came up. */
  channel?: string | null;
}

export function newRunId(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}-${process.pid}`;
}

export function runDir(runId: string): string {
  const dir = join(resultsRoot(), runId);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * A new run folder, created exclusively: two runs never share one. Pids
 * repeat across pid namespaces (containers sharing a results volume), so a
 * taken name gets a random suffix instead of being reused.
 */
export function createRunDir(): { runId: string; dir: string } {
  const root = resultsRoot();
  try {
    mkdirSync(root, { recursive: true });
    accessSync(root, constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BadInputError(`results folder ${root} is not writable (${code === 'EEXIST' ? 'ENOTDIR' : code}): set OMAYEXEC_RESULTS to a writable folder`);
  }
  const base = newRunId();
  for (let attempt = 0; attempt < 20; attempt++) {
    const runId = attempt === 0 ? base : `${base}-${randomBytes(3).toString('hex')}`;
    const dir = join(root, runId);
    try {
      mkdirSync(dir); // EEXIST when another run took the name
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') continue;
      if (code === 'EROFS' || code === 'EACCES' || code === 'ENOTDIR') throw new BadInputError(`results folder ${root} is not writable (${code}): set OMAYEXEC_RESULTS to a writable folder`);
      throw e;
    }
    // Until finishRun replaces it: a run killed before its end leaves a folder that says so.
    writeFileSync(join(dir, 'results.json'), JSON.stringify({ runId, verdict: 'error', exitCode: EXIT_CODES.error, why: 'the run did not finish (still running, or killed before writing its verdict)' }, null, 2) + '\n');
    return { runId, dir };
  }
  throw new Error(`could not create a new run folder under ${root}`);
}

export function totalsOf(cases: { status: string }[]): RunRecord['totals'] {
  const t = { pass: 0, fail: 0, skip: 0, error: 0 };
  for (const c of cases) t[c.status as keyof typeof t]++;
  return t;
}

/** kselftest's runner format: each suite's TAP nested under "# ". */
export function toKtap(run: ParsedRun, totals: RunRecord['totals']): string {
  const out = ['TAP version 13', `1..${run.suites.length}`];
  run.suites.forEach((s, i) => {
    out.push(`# selftests: omayexec: ${s.id}`);
    for (const l of s.tap) out.push(l ? `# ${l}` : '#');
    const directive = s.status === 'skip' ? ` # SKIP ${s.reason ?? ''}`.trimEnd() : s.status === 'timeout' ? ' # TIMEOUT' : '';
    const ok = s.status === 'pass' || s.status === 'skip';
    out.push(`${ok ? 'ok' : 'not ok'} ${i + 1} selftests: omayexec: ${s.id}${directive}`);
  });
  out.push(`# Totals: pass:${totals.pass} fail:${totals.fail} xfail:0 xpass:0 skip:${totals.skip} error:${totals.error}`);
  return out.join('\n') + '\n';
}

function xml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!)
    // XML 1.0 forbids most control characters.
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');
}

export function toJunit(run: ParsedRun, record: Pick<RunRecord, 'kernel' | 'verdict'>): string {
  const out = ['<?xml version="1.0" encoding="UTF-8"?>'];
  // A suite skipped as a whole has no cases: it is written as one skipped
  // testcase, and counted as such at the root too.
  const all = run.suites.flatMap((s) => (s.cases.length ? s.cases : [{ status: 'skip' }]));
  const t = totalsOf(all);
  out.push(`<testsuites name="omayexec-conformance" tests="${all.length}" failures="${t.fail}" errors="${t.error}" skipped="${t.skip}">`);
  for (const s of run.suites) {
    const st = totalsOf(s.cases);
    const time = (s.seconds ?? 0).toFixed(3);
    out.push(`  <testsuite name="${xml(s.id)}" tests="${s.cases.length || 1}" failures="${st.fail}" errors="${st.error}" skipped="${s.cases.length ? st.skip : 1}" time="${time}">`);
    out.push(`    <properties><property name="kernel.release" value="${xml(record.kernel.release ?? '')}"/><property name="verdict" value="${record.verdict}"/></properties>`);
    if (!s.cases.length) {
      out.push(`    <testcase classname="omayexec.${xml(s.id)}" name="${xml(s.id)}"><skipped message="${xml(s.reason ?? '')}"/></testcase>`);
    }
    for (const c of s.cases) {
      out.push(`    <testcase classname="omayexec.${xml(s.id)}" name="${xml(c.id)}">`);
      const detail = `expected ${c.expected ?? '?'}, actual ${c.actual ?? '?'}${c.reason ? `; ${c.reason}` : ''}`;
      if (c.status === 'fail') out.push(`      <failure message="${xml(detail)}" type="mismatch">${xml(detail)}</failure>`);
      if (c.status === 'error') out.push(`      <error message="${xml(c.reason ?? 'error')}" type="error"/>`);
      if (c.status === 'skip') out.push(`      <skipped message="${xml(c.reason ?? '')}"/>`);
      out.push('    </testcase>');
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return out.join('\n') + '\n';
}

export function writeRunFolder(dir: string, run: ParsedRun, record: RunRecord, ci: CiOutputOptions = DEFAULT_CI_OUTPUT): void {
  writeFileSync(join(dir, 'results.json'), JSON.stringify(record, null, 2) + '\n');
  writeFileSync(join(dir, 'results.ktap'), ci.format === 'tap14' ? toTap14(run, record.totals) : toKtap(run, record.totals));
  writeFileSync(join(dir, 'junit.xml'), toJunit(run, record));
  writeFileSync(join(dir, 'report.html'), toHtml(run, record));
  writeKcidb(dir, run, record, ci.kcidbOrigin);
  const latest = join(resultsRoot(), 'latest');
  rmSync(latest, { force: true });
  symlinkSync(record.runId, latest);
}
