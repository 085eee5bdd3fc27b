// kcidb.json: a run's verdicts for KernelCI's KCIDB (I/O schema v5.3,
// vm/kcidb-schema.ts): one checkout, one build for the kernel under test, one
// test object per case, per suite and for the whole run. A pure function of
// the record and the artifacts; the origin is the caller's plain value.
import { createHash } from 'node:crypto';
import { caseName, casesBySuite, type CaseRecord, type CaseStatus, type RunArtifacts, type RunRecord, type SuiteStatus } from './record.js';
import { isKcidbOrigin, KCIDB_VERSION, type KcidbBuild, type KcidbCheckout, type KcidbData, type KcidbStatus, type KcidbTest } from './kcidb-schema.js';
import type { Verdict } from './verdict.js';

/** Root node of every test path this tool reports. */
export const PATH_ROOT = 'omayexec';
const LOG_EXCERPT_MAX = 16384;

/** What kcidb.json needs besides the record. */
export type KcidbArtifacts = Pick<RunArtifacts, 'caseTap' | 'stderr' | 'start' | 'console'>;

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
 * A case's path below its suite, from the two parts of its identity
 * (caseKey: suite and name, the expected outcome left out, so a changed
 * expectation keeps the test's identity): every word of the name a node
 * ("sysctl=2" -> "sysctl_2"), subtest levels (" / ") in order, the leading
 * word dropped when it repeats the suite ("policy ...", "ima: ...").
 */
export function casePath(c: Pick<CaseRecord, 'suite' | 'id'>): string {
  const suite = c.suite;
  const sn = suiteNode(suite);
  const words = caseName(c.id)
    .split(' / ')
    .flatMap((level) => level.split(/\s+/))
    .map(node)
    .filter(Boolean);
  if (words[0] === sn || words[0] === node(suite)) words.shift();
  return [PATH_ROOT, sn, ...(words.length ? words : ['case'])].join('.');
}

/** Paths for every case of a run, made unique in order ("_2", "_3"... on a repeat). */
export function casePaths(cases: Pick<CaseRecord, 'suite' | 'id'>[]): string[] {
  const seen = new Map<string, number>();
  return cases.map((c) => {
    const p = casePath(c);
    const n = (seen.get(p) ?? 0) + 1;
    seen.set(p, n);
    return n === 1 ? p : `${p}_${n}`;
  });
}

// ---------------------------------------------------------------- objects

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

function caseExcerpt(c: CaseRecord, tap: string[]): string | undefined {
  if (c.status === 'pass') return undefined;
  const lines: string[] = [];
  if (c.expected !== undefined || c.actual !== undefined) lines.push(`expected ${c.expected ?? '?'}, actual ${c.actual ?? '?'}`);
  if (c.reason) lines.push(c.reason);
  for (const t of c.taint ?? []) lines.push(`kernel: ${t}`);
  // The suite's own words: its test line and the first 40 lines of the YAML diagnostics under it.
  lines.push(...tap.slice(0, 41));
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

/** kcidb.json of one run, as data; origin: the submitting CI system (`run --kcidb-origin`). */
export function toKcidb(record: RunRecord, a: KcidbArtifacts, origin: string): KcidbData {
  if (!isKcidbOrigin(origin)) throw new Error(`invalid KCIDB origin '${origin}' (lower-case letters, digits, _)`);
  const start = a.start;
  const consoleLines = consoleExcerpt(a.console, record);
  const k = record.kernel;
  const key = kernelKey(k);
  const checkoutId = `${origin}:checkout-${key}`;
  const buildId = `${origin}:build-${key}`;
  const arch = start?.machine?.toLowerCase().replace(/[^a-z0-9_]/g, '_');
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
    comment: text(record.mode === 'direct' ? `directly on the running kernel${start ? ` (${start.machine})` : ''}` : `QEMU (${record.qemu?.accel ?? '?'})${start ? ` ${start.machine}` : ''}`),
    misc: pruned({ mode: record.mode, accel: record.qemu?.accel, machine: start?.machine, runner_node: start?.runner }),
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

  const bySuite = casesBySuite(record.cases);
  for (const s of record.suites) {
    const stderr = a.stderr.filter((e) => e.suite === s.id).map((e) => e.line);
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
      misc: pruned({ kind: 'suite', suite: s.id, status: s.status, exit: s.exit, signal: s.signal, cases: bySuite.get(s.id)?.length ?? 0 }),
    }));
  }

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
      log_excerpt: caseExcerpt(c, a.caseTap[i] ?? []),
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

/** kcidb.json's text. */
export function kcidbJson(record: RunRecord, a: KcidbArtifacts, origin: string): string {
  return formatKcidb(toKcidb(record, a, origin));
}
