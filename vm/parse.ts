// Turns the runner's output (control lines framing each suite's TAP) into
// suites and cases. Accepts TAP 13/14 and KTAP-style nesting by indentation,
// ignores lines that are neither (kernel messages, garbage), and never
// invents a pass: a suite without its end line, plan or clean exit is an error.
import type { CaseParams } from '../fixtures/dimensions.js';
import { CONTROL_PREFIX, decodeEvent, type RunnerEvent } from '../harness/protocol.js';
import type { ProbeResult } from '../harness/profiles.js';
import { expectedFromName, type CaseRecord, type CaseStatus, type SuiteRecord } from './record.js';

export interface CaseResult extends CaseRecord {
  /** Index of the TAP line in the results stream. */
  line: number;
  /** Index of the test line in its suite's TAP (absent: a case the host made up). */
  tapLine?: number;
}

export interface SuiteResult extends SuiteRecord {
  tap: string[];
  cases: CaseResult[];
}

export interface ParsedRun {
  start?: Extract<RunnerEvent, { event: 'start' }>;
  end?: Extract<RunnerEvent, { event: 'end' }>;
  /** Executors that died and were replaced during the run. */
  executorRestarts?: Extract<RunnerEvent, { event: 'executor-restart' }>[];
  profiles: ProbeResult[];
  suites: SuiteResult[];
  stderr: { suite: string; line: string }[];
  /** Kernel warnings the runner read from /dev/kmsg, with their place in the stream. */
  kernelSigns?: { suite: string | null; kind: string; line: string; lineNo: number }[];
}

const TEST_LINE = /^(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?(.*)$/;
const PLAN_LINE = /^1\.\.(\d+)\s*(?:#\s*(.*))?$/;
const DIRECTIVE = /\s+#\s*(SKIP|TODO|TIMEOUT)\b\s*(.*)$/i;

interface OpenSuite {
  result: SuiteResult;
  plan?: { count: number; reason?: string };
  subtests: string[];
  /** Test lines at depth 0 (cases and subtest closings): what the plan counts. */
  topLevelLines: number;
  /** Indent levels at which a subtest is open, with whether it had children. */
  yamlFor?: CaseResult;
  inYaml: boolean;
  yamlIndent: number;
}

function indentOf(line: string): number {
  return line.length - line.trimStart().length;
}

function parseTestLine(s: OpenSuite, text: string, depth: number, lineNo: number): void {
  const m = TEST_LINE.exec(text);
  if (!m) return;
  let desc = m[3] ?? '';
  let status: CaseStatus = m[1] === 'ok' ? 'pass' : 'fail';
  let reason: string | undefined;
  const d = DIRECTIVE.exec(desc);
  if (d) {
    desc = desc.slice(0, d.index);
    const kind = d[1]!.toUpperCase();
    reason = d[2] || undefined;
    if (kind === 'SKIP') status = 'skip';
    if (kind === 'TIMEOUT') {
      status = 'fail';
      reason = `TIMEOUT ${reason ?? ''}`.trim();
    }
    // TODO: a known failure is not a pass of the spec; keep it as a failure.
  }
  desc = desc.replace(/\s+#\s*time=[\d.]+m?s\s*$/, '').trim();
  if (depth === 0) s.topLevelLines++;
  // A line closing a subtest at this depth: its children were the cases.
  if (s.subtests.length > depth) {
    const prefix = `${s.subtests.slice(0, depth + 1).join(' / ')} / `;
    s.subtests.length = depth;
    const hadFailingChild = s.result.cases.some((c) => c.id.startsWith(prefix) && c.status !== 'pass' && c.status !== 'skip');
    if (status !== 'fail' || hadFailingChild) return;
    reason = reason ?? 'subtest failed without a failing case (plan mismatch or crash)';
  }
  const id = [...s.subtests.slice(0, depth), desc].join(' / ');
  const c: CaseResult = { id, suite: s.result.id, status, line: lineNo, tapLine: s.result.tap.length - 1 };
  if (reason) c.reason = reason;
  // A pass's actual comes from the suite's observed comment that follows it, never from the name.
  // Case names end with "-> EXPECTED" (harness/suite.ts).
  if (status === 'pass') c.expected = expectedFromName(desc);
  s.result.cases.push(c);
  s.yamlFor = c;
}

/** The params comment's JSON: an object of strings and numbers, or nothing (a mangled line only loses them). */
function parseParams(json: string): CaseParams | undefined {
  try {
    return paramsFrom(JSON.parse(json));
  } catch {
    return undefined;
  }
}

function paramsFrom(v: unknown): CaseParams | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const ok = Object.values(v).every((x) => typeof x === 'string' || typeof x === 'number');
  return ok ? (v as CaseParams) : undefined;
}

/** `# omx-case {"observed":..., "params":{...}}`: the observed value counts for a pass only; a mangled line adds nothing. */
function describeCase(c: CaseResult, json: string): void {
  let v: { observed?: unknown; params?: unknown };
  try {
    v = JSON.parse(json) as typeof v;
  } catch {
    return;
  }
  if (!v || typeof v !== 'object') return;
  if (typeof v.observed === 'string' && c.status === 'pass' && c.actual === undefined) c.actual = v.observed;
  const params = paramsFrom(v.params);
  if (params && !c.params) c.params = params;
}

function onTapLine(s: OpenSuite, raw: string, lineNo: number): void {
  s.result.tap.push(raw);
  const indent = indentOf(raw);
  const text = raw.trim();
  if (s.inYaml) {
    if (text === '...') {
      s.inYaml = false;
      return;
    }
    const kv = /^(expected|actual|wanted|found):\s*(.*)$/.exec(text);
    if (kv && s.yamlFor && indent === s.yamlIndent) {
      const key = kv[1] === 'wanted' ? 'expected' : kv[1] === 'found' ? 'actual' : kv[1];
      const value = kv[2]!.replace(/^['"]|['"]$/g, '');
      if (key === 'expected') s.yamlFor.expected ??= value;
      else s.yamlFor.actual ??= value;
    }
    return;
  }
  if (text === '---') {
    s.inYaml = true;
    s.yamlIndent = indent;
    return;
  }
  const depth = Math.floor(indent / 4);
  const observed = /^#\s*omx-observed\s(.*)$/.exec(text);
  if (observed) {
    const last = s.result.cases[s.result.cases.length - 1];
    if (last && last.status === 'pass' && last.actual === undefined) last.actual = observed[1]!;
    return;
  }
  const described = /^#\s*omx-case\s+(\{.*\})\s*$/.exec(text);
  if (described) {
    const last = s.result.cases[s.result.cases.length - 1];
    if (last) describeCase(last, described[1]!);
    return;
  }
  const params = /^#\s*omx-params\s+(\{.*\})\s*$/.exec(text);
  if (params) {
    const last = s.result.cases[s.result.cases.length - 1];
    if (last && !last.params) last.params = parseParams(params[1]!);
    return;
  }
  const metrics = /^#\s*omx-metrics\s+(\{.*\})\s*$/.exec(text);
  if (metrics && depth === 0) {
    try {
      s.result.metrics = JSON.parse(metrics[1]!) as Record<string, number>;
    } catch {
      // a mangled metrics line is only a lost figure
    }
    return;
  }
  const sub = /^#\s*Subtest:\s*(.*)$/.exec(text);
  if (sub) {
    s.subtests.length = depth;
    s.subtests[depth] = sub[1]!.trim();
    return;
  }
  if (depth === 0) {
    const plan = PLAN_LINE.exec(text);
    if (plan) {
      const reason = plan[2]?.replace(/^SKIP\b\s*/i, '');
      s.plan = { count: Number(plan[1]), reason };
      return;
    }
  }
  if (/^(not ok|ok)\b/.test(text)) parseTestLine(s, text, depth, lineNo);
}

function closeSuite(s: OpenSuite, end: Extract<RunnerEvent, { event: 'suite-end' }> | null): SuiteResult {
  const r = s.result;
  const synthetic = (reason: string) => {
    r.cases.push({ id: `${r.id}: ${reason}`, suite: r.id, status: 'error', reason, line: -1 });
  };
  const topLevelCount = s.topLevelLines;
  if (!end) {
    r.status = 'error';
    r.reason = 'output ended before the suite finished (no suite-end)';
    synthetic(r.reason);
    return r;
  }
  r.exit = end.exit;
  r.signal = end.signal;
  r.seconds = end.seconds;
  if (end.timedOut) {
    r.status = 'timeout';
    r.reason = `suite timed out after ${end.seconds.toFixed(1)} s and was killed`;
    r.cases.push({ id: `${r.id}: suite did not finish`, suite: r.id, status: 'fail', reason: `TIMEOUT ${r.reason}`, line: -1 });
    return r;
  }
  if (end.signal) {
    r.status = 'error';
    r.reason = `suite process killed by ${end.signal}`;
    synthetic(r.reason);
    return r;
  }
  if (!s.plan) {
    r.status = 'error';
    r.reason = 'suite printed no TAP plan';
    synthetic(r.reason);
    return r;
  }
  if (s.plan.count === 0 && r.cases.length === 0) {
    r.status = 'skip';
    r.reason = s.plan.reason ?? 'skipped (no reason given)';
    return r;
  }
  if (s.plan.count !== topLevelCount) {
    synthetic(`plan said ${s.plan.count} cases, ${topLevelCount} reported`);
  }
  const failed = r.cases.some((c) => c.status === 'fail' || c.status === 'error');
  // kselftest's exit 4 means skipped: fine when nothing failed.
  if (!failed && end.exit !== 0 && end.exit !== 4) synthetic(`suite exited with status ${end.exit} without a failing case`);
  const failedNow = r.cases.some((c) => c.status === 'fail' || c.status === 'error');
  const allSkipped = r.cases.every((c) => c.status === 'skip');
  r.status = failedNow ? 'fail' : allSkipped ? 'skip' : 'pass';
  if (allSkipped && !failedNow) r.reason = 'every case skipped';
  return r;
}

/** Parse the results stream (lines of the runner's output). */
export interface StreamFacts {
  startUptime: number | null;
  endUptime: number | null;
  suiteSeconds: number;
  kernel: string | null;
  expect: string[];
}

/**
 * What a launcher needs from a stream before finishRun, read from the
 * control lines only (the TAP between them is skipped): the runner's start
 * (kernel, --expect) and end, and the suites' own seconds, counted as
 * parseRunnerOutput counts them.
 */
export function streamFacts(lines: string[]): StreamFacts {
  const t: StreamFacts = { startUptime: null, endUptime: null, suiteSeconds: 0, kernel: null, expect: [] };
  let open: string | null = null;
  for (const raw of lines) {
    if (!raw.includes(CONTROL_PREFIX + '{')) continue;
    const e = decodeEvent(raw.replace(/\r$/, ''));
    if (!e) continue;
    if (e.event === 'start') {
      t.startUptime = e.uptime;
      t.kernel = e.kernel;
      t.expect = e.expect ?? [];
    } else if (e.event === 'end') t.endUptime = e.uptime;
    else if (e.event === 'suite-begin') open = e.suite;
    else if (e.event === 'suite-end') {
      if (open === e.suite) t.suiteSeconds += e.seconds ?? 0;
      open = null;
    }
  }
  return t;
}

export function parseRunnerOutput(lines: string[]): ParsedRun {
  const run: ParsedRun = { profiles: [], suites: [], stderr: [], kernelSigns: [], executorRestarts: [] };
  let open: OpenSuite | null = null;
  lines.forEach((raw, lineNo) => {
    const line = raw.replace(/\r$/, '');
    const e = decodeEvent(line);
    if (!e) {
      if (open) onTapLine(open, line, lineNo);
      return;
    }
    switch (e.event) {
      case 'start':
        run.start = e;
        break;
      case 'profile':
        run.profiles.push({ name: e.name, supported: e.supported, evidence: e.evidence });
        break;
      case 'suite-begin':
        if (open) run.suites.push(closeSuite(open, null));
        open = {
          result: { id: e.suite, status: 'error', exit: null, signal: null, seconds: null, tap: [], cases: [] },
          subtests: [],
          topLevelLines: 0,
          inYaml: false,
          yamlIndent: 0,
        };
        break;
      case 'stderr':
        run.stderr.push({ suite: e.suite, line: e.line });
        break;
      case 'suite-end':
        // An end for another suite cannot close this one: it stays, incomplete.
        if (open) run.suites.push(closeSuite(open, open.result.id === e.suite ? e : null));
        open = null;
        break;
      case 'end':
        run.end = e;
        break;
      case 'executor-restart':
        (run.executorRestarts ??= []).push(e);
        break;
      case 'kernel-sign':
        run.kernelSigns!.push({ suite: e.suite, kind: e.kind, line: e.line, lineNo });
        break;
    }
  });
  if (open) run.suites.push(closeSuite(open, null));
  return run;
}
