// Verdicts for CI systems: kcidb.json (KernelCI's KCIDB I/O schema v5.3: one
// checkout, one build for the kernel under test, one test object per case,
// per suite and for the whole run) and the TAP 14 form of results.ktap
// (`run --format tap14`: each suite's TAP as an indented subtest).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CaseResult, CaseStatus, ParsedRun, SuiteResult, SuiteStatus } from './parse.js';
import type { RunRecord } from './results.js';
import type { Verdict } from './verdict.js';

export const KCIDB_VERSION = { major: 5, minor: 3 } as const;
/** The schema's origin pattern: the name of the submitting CI system. */
export const KCIDB_ORIGIN_RE = /^[a-z0-9_]+$/;
/** The schema's test path pattern: dot-separated nodes of [a-zA-Z0-9_-]. */
export const KCIDB_PATH_RE = /^([a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*)?$/;
/** Root node of every test path this tool reports. */
export const PATH_ROOT = 'omayexec';
const LOG_EXCERPT_MAX = 16384;

export const RESULT_FORMATS = ['ktap', 'tap14'] as const;
export type ResultFormat = (typeof RESULT_FORMATS)[number];

/** How writeRunFolder writes the CI-facing files (`run --kcidb-origin/--format`, carried in RunOptions). */
export interface CiOutputOptions {
  kcidbOrigin: string;
  format: ResultFormat;
}

export const DEFAULT_CI_OUTPUT: Readonly<CiOutputOptions> = { kcidbOrigin: 'omayexec', format: 'ktap' };

export function isKcidbOrigin(s: string): boolean {
  return KCIDB_ORIGIN_RE.test(s);
}

// ---------------------------------------------------------------- paths

/** One path node from free text: runs of other characters become "_". */
function node(s: string): string {
  const n = s.replace(/[^A-Za-z0-9_-]+/g, '_').replace(/^_+|_+$/g, '');
  return /^[-_]*$/.test(n) ? '' : n;
}

/** The suite's node: "omayexec-policy" -> "policy", "execve-check" stays. */
export function suiteNode(suite: string): string {
  return node(suite.replace(/^omayexec-/, '')) || 'suite';
}

/**
 * A case's path below its suite, from its name: every word a node
 * ("sysctl=2" -> "sysctl_2"), subtest levels (" / ") in order, the leading
 * word dropped when it repeats the suite ("policy ...", "ima: ..."), the
 * expected outcome ("-> EACCES") left out: it is what the case checks, not
 * which case it is, so a changed expectation keeps the test's identity.
 */
export function casePath(suite: string, caseId: string): string {
  const sn = suiteNode(suite);
  const words = caseId
    .split(' / ')
    .flatMap((level) => level.replace(/\s*->\s*\S+\s*$/, '').split(/\s+/))
    .map(node)
    .filter(Boolean);
  if (words[0] === sn || words[0] === node(suite)) words.shift();
  return [PATH_ROOT, sn, ...(words.length ? words : ['case'])].join('.');
}

/** Paths for every case of a run, made unique in order ("_2", "_3"... on a repeat). */
export function casePaths(cases: Pick<CaseResult, 'suite' | 'id'>[]): string[] {
  const seen = new Map<string, number>();
  return cases.map((c) => {
    const p = casePath(c.suite, c.id);
    const n = (seen.get(p) ?? 0) + 1;
    seen.set(p, n);
    return n === 1 ? p : `${p}_${n}`;
  });
}

// ---------------------------------------------------------------- objects

export type KcidbStatus = 'FAIL' | 'ERROR' | 'MISS' | 'PASS' | 'DONE' | 'SKIP';

interface KcidbResource { name: string; url: string }

export interface KcidbCheckout {
  id: string;
  origin: string;
  comment?: string;
  valid?: boolean;
  misc?: Record<string, unknown>;
}

export interface KcidbBuild {
  id: string;
  origin: string;
  checkout_id: string;
  comment?: string;
  architecture?: string;
  status?: KcidbStatus;
  output_files?: KcidbResource[];
  misc?: Record<string, unknown>;
}

export interface KcidbTest {
  id: string;
  origin: string;
  build_id: string;
  path: string;
  status: KcidbStatus;
  comment?: string;
  log_excerpt?: string;
  start_time?: string;
  duration?: number;
  environment?: { comment?: string; misc?: Record<string, unknown> };
  misc?: Record<string, unknown>;
}

export interface KcidbData {
  version: { major: number; minor: number };
  checkouts: KcidbCheckout[];
  builds: KcidbBuild[];
  tests: KcidbTest[];
}

const CASE_STATUS: Record<CaseStatus, KcidbStatus> = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP', error: 'ERROR' };
// A suite that timed out did not finish: what it would have said is unknown.
const SUITE_STATUS: Record<SuiteStatus, KcidbStatus> = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP', error: 'ERROR', timeout: 'ERROR' };
// A panic/oops is the kernel reporting itself faulty; a hang, a boot that
// never reached /init or lost output leave the kernel's status unknown.
const VERDICT_STATUS: Record<Verdict, KcidbStatus> = {
  pass: 'PASS', fail: 'FAIL', skip: 'SKIP', panic: 'FAIL', timeout: 'ERROR', 'boot-failure': 'ERROR', error: 'ERROR',
};

/** Strings may not hold NUL; excerpts are bounded (the end is what matters). */
function text(s: string): string {
  return s.replace(/\0/g, '');
}
function excerpt(lines: string[]): string | undefined {
  const chars = Array.from(text(lines.join('\n')));
  if (!chars.length) return undefined;
  return chars.length <= LOG_EXCERPT_MAX ? chars.join('') : '…' + chars.slice(chars.length - LOG_EXCERPT_MAX + 1).join('');
}

/** Run ids are "YYYYMMDD-HHMMSS-pid" in UTC: the run's start time. */
export function runStartTime(runId: string): string | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})-\d+$/.exec(runId);
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}+00:00` : undefined;
}

/** Stable key of the kernel under test: its image hash, else its release and origin. */
function kernelKey(k: RunRecord['kernel']): string {
  if (k.sha256 && /^[0-9a-f]{64}$/.test(k.sha256)) return `image-${k.sha256}`;
  return `kernel-${createHash('sha256').update(`${k.release ?? '?'}\0${k.source}`).digest('hex').slice(0, 32)}`;
}

function pruned<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null)) as T;
}

function caseExcerpt(c: Omit<CaseResult, 'line'>, suite: SuiteResult | undefined): string | undefined {
  if (c.status === 'pass') return undefined;
  const lines: string[] = [];
  if (c.expected !== undefined || c.actual !== undefined) lines.push(`expected ${c.expected ?? '?'}, actual ${c.actual ?? '?'}`);
  if (c.reason) lines.push(c.reason);
  for (const t of c.taint ?? []) lines.push(`kernel: ${t}`);
  // The suite's own words: its test line and the YAML diagnostics under it.
  const desc = c.id.split(' / ').pop() ?? '';
  const tap = suite?.tap ?? [];
  const at = desc ? tap.findIndex((l) => /^\s*(not )?ok\b/.test(l) && l.includes(desc)) : -1;
  if (at >= 0) {
    lines.push(tap[at]!);
    if (tap[at + 1]?.trim() === '---') {
      for (let i = at + 1; i < tap.length && i <= at + 40; i++) {
        lines.push(tap[i]!);
        if (tap[i]!.trim() === '...') break;
      }
    }
  }
  return excerpt(lines);
}

/** Console lines worth showing for a run that crashed or never booted: from the first sign on. */
export function consoleExcerpt(consoleText: string, record: Pick<RunRecord, 'verdict' | 'consoleSigns'>): string[] {
  if (record.verdict !== 'panic' && record.verdict !== 'boot-failure') return [];
  const lines = consoleText.split('\n').filter((l) => l.trim());
  const first = record.consoleSigns[0]?.line;
  const at = first ? lines.findIndex((l) => l.includes(first)) : -1;
  return at >= 0 ? lines.slice(Math.max(0, at - 5), at + 80) : lines.slice(-80);
}

/** kcidb.json of one run; consoleLines: kernel console excerpt for the run's test object. */
export function toKcidb(run: ParsedRun, record: RunRecord, origin: string = DEFAULT_CI_OUTPUT.kcidbOrigin, consoleLines: string[] = []): KcidbData {
  if (!isKcidbOrigin(origin)) throw new Error(`invalid KCIDB origin '${origin}' (lower-case letters, digits, _)`);
  const k = record.kernel;
  const key = kernelKey(k);
  const checkoutId = `${origin}:checkout-${key}`;
  const buildId = `${origin}:build-${key}`;
  const arch = run.start?.machine?.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const release = k.release ?? 'unknown release';
  const kernelMisc = pruned({ path: k.path, sha256: k.sha256, release: k.release, source: k.source });
  const checkout: KcidbCheckout = {
    id: checkoutId,
    origin,
    comment: text(`Linux ${release} (${k.source})`),
    // The kernel was there to test: whatever made it, its sources combined.
    valid: true,
    misc: { kernel_release: k.release ?? undefined, kernel_source: k.source },
  };
  const build: KcidbBuild = pruned({
    id: buildId,
    origin,
    checkout_id: checkoutId,
    comment: text(`Linux ${release} image${k.path ? ` ${k.path}` : ''}`),
    architecture: arch || undefined,
    // An image exists (or runs): the build itself succeeded.
    status: 'PASS' as const,
    misc: { kernel: kernelMisc },
  });
  const environment = pruned({
    comment: text(record.mode === 'direct' ? `directly on the running kernel${run.start ? ` (${run.start.machine})` : ''}` : `QEMU (${record.qemu?.accel ?? '?'})${run.start ? ` ${run.start.machine}` : ''}`),
    misc: pruned({ mode: record.mode, accel: record.qemu?.accel, machine: run.start?.machine, runner_node: run.start?.runner }),
  });
  const testId = (path: string) => `${origin}:${record.runId}:${path}`;
  const tests: KcidbTest[] = [];

  const runComment = record.overriddenExpectations && Object.keys(record.overriddenExpectations).length
    ? `${record.why} (expectations deliberately overridden: a test of the suite, no verdict on the kernel)`
    : record.why;
  tests.push(pruned({
    id: testId(PATH_ROOT),
    origin,
    build_id: buildId,
    path: PATH_ROOT,
    status: VERDICT_STATUS[record.verdict],
    comment: text(`O_MAYEXEC conformance: ${record.verdict} (exit ${record.exitCode}): ${runComment}`),
    log_excerpt: excerpt([
      `verdict ${record.verdict} (exit ${record.exitCode}): ${record.why}`,
      ...record.consoleSigns.map((s) => `${s.kind}: ${s.line}`),
      ...(consoleLines.length ? ['console:', ...consoleLines] : []),
    ]),
    start_time: runStartTime(record.runId),
    duration: typeof record.timings.total === 'number' ? record.timings.total : undefined,
    environment,
    misc: pruned({
      kind: 'run', run_id: record.runId, verdict: record.verdict, exit_code: record.exitCode, totals: record.totals,
      expect: record.expect, profiles: record.profiles.map((p) => ({ name: p.name, supported: p.supported, required: p.required, evidence: p.evidence })),
      overridden_expectations: Object.keys(record.overriddenExpectations ?? {}).length ? record.overriddenExpectations : undefined,
    }),
  }));

  for (const s of run.suites) {
    const stderr = run.stderr.filter((e) => e.suite === s.id).map((e) => e.line);
    const bad = s.status !== 'pass' && s.status !== 'skip';
    tests.push(pruned({
      id: testId(`${PATH_ROOT}.${suiteNode(s.id)}`),
      origin,
      build_id: buildId,
      path: `${PATH_ROOT}.${suiteNode(s.id)}`,
      status: SUITE_STATUS[s.status],
      comment: text(`suite ${s.id}: ${s.status}${s.reason ? ` (${s.reason})` : ''}`),
      log_excerpt: bad || s.status === 'skip' ? excerpt([...(s.reason ? [s.reason] : []), ...(bad ? stderr.slice(-100) : [])]) : undefined,
      duration: s.seconds ?? undefined,
      environment,
      misc: pruned({ kind: 'suite', suite: s.id, status: s.status, exit: s.exit, signal: s.signal, cases: s.cases.length }),
    }));
  }

  const suiteOf = new Map(run.suites.map((s) => [s.id, s]));
  const cases = record.cases;
  const paths = casePaths(cases);
  cases.forEach((c, i) => {
    tests.push(pruned({
      id: testId(paths[i]!),
      origin,
      build_id: buildId,
      path: paths[i]!,
      status: CASE_STATUS[c.status],
      comment: text(c.id),
      log_excerpt: caseExcerpt(c, suiteOf.get(c.suite)),
      misc: pruned({ kind: 'case', suite: c.suite, case: c.id, expected: c.expected, actual: c.actual, reason: c.reason, taint: c.taint }),
    }));
  });

  return { version: { ...KCIDB_VERSION }, checkouts: [checkout], builds: [build], tests };
}

/** JSON text of the data: one object per line (a thousand tests stay readable and diffable). */
export function formatKcidb(d: KcidbData): string {
  const list = (key: string, xs: object[]) =>
    xs.length ? `  "${key}": [\n${xs.map((x) => `    ${JSON.stringify(x)}`).join(',\n')}\n  ]` : `  "${key}": []`;
  return `{\n  "version": ${JSON.stringify(d.version)},\n${list('checkouts', d.checkouts)},\n${list('builds', d.builds)},\n${list('tests', d.tests)}\n}\n`;
}

/** Writes DIR/kcidb.json (with the console excerpt of a crashed run, from DIR/console.log). */
export function writeKcidb(dir: string, run: ParsedRun, record: RunRecord, origin: string = DEFAULT_CI_OUTPUT.kcidbOrigin): void {
  const consolePath = join(dir, 'console.log');
  const consoleLines = existsSync(consolePath) ? consoleExcerpt(readFileSync(consolePath, 'utf8'), record) : [];
  writeFileSync(join(dir, 'kcidb.json'), formatKcidb(toKcidb(run, record, origin, consoleLines)));
}

// ---------------------------------------------------------------- TAP 14

const yamlString = (s: string) => JSON.stringify(s);

/**
 * results.ktap in TAP 14: each suite's own TAP indented 4 spaces under
 * "# Subtest: omayexec: <suite>", closed by "ok N - omayexec: <suite>"
 * (skips carry "# SKIP reason"; failures a YAML block with status and reason).
 */
export function toTap14(run: ParsedRun, totals: RunRecord['totals']): string {
  const out = ['TAP version 14', `1..${run.suites.length}`];
  run.suites.forEach((s, i) => {
    const name = `omayexec: ${s.id}`;
    out.push(`# Subtest: ${name}`);
    for (const l of s.tap) {
      // A nested stream's version line is implied by the parent's.
      if (/^\s*TAP version \d+\s*$/.test(l)) continue;
      out.push(l.trim() ? `    ${l}` : '');
    }
    const ok = s.status === 'pass' || s.status === 'skip';
    const reason = (s.reason ?? '').replace(/[\r\n]+/g, ' ').replace(/#/g, '\\#');
    const directive = s.status === 'skip' ? ` # SKIP${reason ? ` ${reason}` : ''}` : '';
    out.push(`${ok ? 'ok' : 'not ok'} ${i + 1} - ${name}${directive}`);
    if (!ok) {
      out.push('  ---', `  status: ${s.status}`);
      if (s.reason) out.push(`  message: ${yamlString(s.reason)}`);
      if (s.seconds !== null) out.push(`  seconds: ${s.seconds}`);
      out.push('  ...');
    }
  });
  out.push(`# Totals: pass:${totals.pass} fail:${totals.fail} xfail:0 xpass:0 skip:${totals.skip} error:${totals.error}`);
  return out.join('\n') + '\n';
}
