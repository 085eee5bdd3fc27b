// The one way a run ends, whatever produced its stream (a VM, direct mode, a
// board's bundle): parse the observed lines, decide the verdict, build the
// record and the writers' artifacts, write the run folder. Never mutates its input.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CaseResult, ParsedRun } from './parse.js';
import { parseRunnerOutput } from './parse.js';
import { caseKey, totalsOf, type CaseRecord, type KernelIdentity, type RunArtifacts, type RunRecord, type RunTimings, type SuiteRecord } from './record.js';
import { writeRunFolder, type CiOutputOptions } from './results.js';
import type { QemuOutcome } from './qemu.js';
import { attributeWarnings, decideVerdict, type GuestFate } from './verdict.js';
import { EXIT_CODES } from './errors.js';

export interface ObservedRun {
  runId: string;
  dir: string;
  mode: 'vm' | 'direct';
  /** The results stream, line by line, as the runner wrote it. */
  lines: string[];
  fate: GuestFate;
  expect: string[];
  overrides: Record<string, string>;
  kernel: KernelIdentity;
  timings: RunTimings;
  qemu?: QemuOutcome;
  configCheck?: RunRecord['configCheck'];
  /** The executor's channel (VM runs). */
  channel?: string | null;
  /** The run was stopped from outside (signal name) or its session broke (text): never a pass. */
  interrupted?: string | null;
  sessionError?: string | null;
  ci?: CiOutputOptions;
}

/**
 * --expect PROFILE is checked by the host too, as a pseudo-suite "profiles":
 * a required profile the probe found absent fails the run even when none of
 * its suites was selected.
 */
export function requiredProfilesSuite(run: ParsedRun, expect: string[]): ParsedRun['suites'][number] | null {
  if (!expect.length || !run.start) return null;
  const cases: CaseResult[] = expect.map((name) => {
    const p = run.profiles.find((x) => x.name === name);
    const actual = p ? (p.supported ? 'supported' : p.evidence) : 'not probed';
    const ok = p?.supported === true;
    return { id: `profile ${name} required (--expect) -> supported`, suite: 'profiles', status: ok ? 'pass' : 'fail', expected: 'supported', actual, line: -1 };
  });
  const failed = cases.some((c) => c.status === 'fail');
  return { id: 'profiles', status: failed ? 'fail' : 'pass', exit: 0, signal: null, seconds: 0, tap: [], cases };
}

/** Case ids seen twice in one stream: two runs' output mixed, or a suite reporting a case twice. */
function duplicatedCases(run: ParsedRun): string[] {
  const seen = new Set<string>();
  const dup = new Set<string>();
  for (const c of run.suites.flatMap((s) => s.cases)) {
    const key = caseKey(c);
    if (seen.has(key)) dup.add(c.id);
    seen.add(key);
  }
  return [...dup];
}

/** The record's suites: what the parser found, without their TAP and cases. */
export function suiteRecords(run: ParsedRun): SuiteRecord[] {
  return run.suites.map(({ tap: _tap, cases: _cases, ...s }) => s);
}

/** The record's case list: every case, suite after suite, without its place in the stream. */
export function caseRecords(run: ParsedRun): CaseRecord[] {
  return run.suites.flatMap((s) => s.cases).map(({ line: _line, tapLine: _tapLine, ...c }) => c);
}

/** A case's own TAP: its test line, then the YAML block right under it. */
function caseTap(tap: string[], at: number | undefined): string[] {
  if (at === undefined || at < 0 || at >= tap.length) return [];
  const own = [tap[at]!];
  if (tap[at + 1]?.trim() !== '---') return own;
  for (let i = at + 1; i < tap.length; i++) {
    own.push(tap[i]!);
    if (tap[i]!.trim() === '...') break;
  }
  return own;
}

/** What the writers read besides the record, in the record's order (suiteRecords, caseRecords). */
export function runArtifacts(run: ParsedRun, consoleText: string): RunArtifacts {
  return {
    suiteTap: run.suites.map((s) => s.tap),
    caseTap: run.suites.flatMap((s) => s.cases.map((c) => caseTap(s.tap, c.tapLine))),
    stderr: run.stderr,
    start: run.start ? { machine: run.start.machine, runner: run.start.runner } : null,
    console: consoleText,
  };
}

/** console.log as the launcher wrote it (VM runs); '' when there is none. */
function readConsole(dir: string): string {
  const path = join(dir, 'console.log');
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

export function finishRun(o: ObservedRun): { record: RunRecord; dir: string } {
  const run = parseRunnerOutput(o.lines);
  attributeWarnings(run, o.fate);
  const profilesSuite = requiredProfilesSuite(run, o.expect);
  if (profilesSuite) run.suites.unshift(profilesSuite);
  let v = decideVerdict(run, o.fate);
  const dups = duplicatedCases(run);
  if (dups.length && (v.verdict === 'pass' || v.verdict === 'skip' || v.verdict === 'fail')) {
    v = { verdict: 'error', exitCode: EXIT_CODES.error, why: `the results stream reports ${dups.length} case(s) twice (e.g. "${dups[0]}"): mixed or corrupt output, not a verdict` };
  }
  if (o.interrupted) v = { verdict: 'error', exitCode: EXIT_CODES.error, why: `interrupted by ${o.interrupted}` };
  else if (o.sessionError && v.verdict === 'pass') v = { verdict: 'error', exitCode: EXIT_CODES.error, why: o.sessionError };
  const cases = caseRecords(run);
  const record: RunRecord = {
    runId: o.runId,
    verdict: v.verdict,
    exitCode: v.exitCode,
    why: o.sessionError && v.verdict !== 'pass' && !v.why.includes(o.sessionError) ? `${v.why} (host: ${o.sessionError})` : v.why,
    mode: o.mode,
    kernel: { ...o.kernel, release: run.start?.kernel ?? o.kernel.release },
    expect: o.expect,
    profiles: run.profiles.map((p) => ({ ...p, required: o.expect.includes(p.name) })),
    totals: totalsOf(cases),
    suites: suiteRecords(run),
    cases,
    timings: o.timings,
    qemu: o.qemu && { accel: o.qemu.accel, argv: o.qemu.argv, exitCode: o.qemu.exitCode, signal: o.qemu.signal, killedFor: o.qemu.killedFor },
    consoleSigns: o.fate.signs.map((s) => ({ kind: s.kind, line: s.line })),
    overriddenExpectations: o.overrides,
    ...(o.configCheck !== undefined ? { configCheck: o.configCheck } : {}),
    ...(o.channel !== undefined ? { channel: o.channel } : {}),
  };
  writeFileSync(join(o.dir, 'results.raw'), o.lines.join('\n') + '\n');
  writeRunFolder(o.dir, record, runArtifacts(run, readConsole(o.dir)), o.ci);
  return { record, dir: o.dir };
}
