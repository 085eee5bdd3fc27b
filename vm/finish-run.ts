// The one way a run ends, whatever produced its stream (a VM, direct mode, a
// board's bundle): parse the observed lines, decide the verdict, build the
// record and write the run folder. Never mutates its input.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CaseResult, ParsedRun } from './parse.js';
import { parseRunnerOutput } from './parse.js';
import { totalsOf, writeRunFolder, type KernelIdentity, type RunRecord } from './results.js';
import type { CiOutputOptions } from './kcidb.js';
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
  timings: Record<string, number | null>;
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
    const key = `${c.suite}\u0000${c.id}`;
    if (seen.has(key)) dup.add(c.id);
    seen.add(key);
  }
  return [...dup];
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
  const cases = run.suites.flatMap((s) => s.cases).map(({ line: _line, ...c }) => c);
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
    suites: run.suites.map(({ tap: _tap, cases: _cases, ...s }) => s),
    cases,
    timings: o.timings,
    qemu: o.qemu && { accel: o.qemu.accel, argv: o.qemu.argv, exitCode: o.qemu.exitCode, signal: o.qemu.signal, killedFor: o.qemu.killedFor },
    consoleSigns: o.fate.signs.map((s) => ({ kind: s.kind, line: s.line })),
    overriddenExpectations: o.overrides,
    ...(o.configCheck !== undefined ? { configCheck: o.configCheck } : {}),
    ...(o.channel !== undefined ? { channel: o.channel } : {}),
  };
  writeFileSync(join(o.dir, 'results.raw'), o.lines.join('\n') + '\n');
  writeRunFolder(o.dir, run, record, o.ci);
  return { record, dir: o.dir };
}
