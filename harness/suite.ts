// What every suite stands on: the profile gate (SKIP or, when the user
// declared the profile required, FAIL), the root check, and one assertion
// shape so every case reports expected and actual by name.
//
// A suite is an ES module whose evaluation (top-level await included) is the
// suite: the suite host (harness/suite-host.ts) imports one suite after the
// other in a single node process, so tap is loaded once per run rather than
// once per suite. `t` is the running suite's own tap Test, a TAP stream of
// its own; run by hand (`node dist/suites/exec/exec.js`) a suite prints to
// stdout and sets the exit code itself.
import { readdirSync } from 'node:fs';
// @tapjs/core first: imported alone, @tapjs/test reaches core's TAP class
// before its own Test exists (a cycle tap's main module resolves the same way).
import '@tapjs/core';
import { Test, type TestOpts } from '@tapjs/test';
import { probe, type ProfileName } from './profiles.js';

type SuiteTest = Test;

interface RunningSuite {
  id: string;
  write: (chunk: string) => void;
  /** Created on first use of `t`: a suite that prints its own TAP never gets one. */
  test: SuiteTest | null;
  cpuAtBegin: NodeJS.CpuUsage;
  msAtBegin: number;
}

let running: RunningSuite | null = null;
let hosted = false;

function suiteTest(): SuiteTest {
  if (!running) {
    if (hosted) throw new Error('t used outside a running suite (after its module finished?)');
    // Run by hand: this process is the suite.
    beginSuite(process.argv[1] ?? 'suite', (c) => process.stdout.write(c));
    process.once('beforeExit', () => {
      void endSuite().then((code) => (process.exitCode = code));
    });
  }
  const r = running!;
  if (!r.test) {
    // No tap timeout: the runner enforces the suite timeout, and tap's 30 s
    // default would cut a slow suite short under emulation.
    const test: SuiteTest = new Test({ name: r.id, timeout: 0 } as TestOpts);
    test.on('data', (c: string) => r.write(c));
    r.test = test;
  }
  return r.test;
}

/**
 * The running suite's tap Test: each access resolves to the current suite.
 * Bound methods are cached per Test (~900 cases per suite under emulation).
 */
const boundMethods = new WeakMap<SuiteTest, Map<PropertyKey, unknown>>();
export const t: SuiteTest = new Proxy({} as SuiteTest, {
  get(_target, prop) {
    const test = suiteTest();
    const value: unknown = Reflect.get(test, prop, test);
    if (typeof value !== 'function') return value;
    let cache = boundMethods.get(test);
    if (!cache) boundMethods.set(test, (cache = new Map()));
    let bound = cache.get(prop);
    if (!bound) cache.set(prop, (bound = (value as (...a: unknown[]) => unknown).bind(test)));
    return bound;
  },
});

/** The suite host calls this once: from then on `t` outside a suite is a bug. */
export function enterHostMode(): void {
  hosted = true;
}

/** Suite host option: evaluate one suite's module in a child of that suite (a role it reads from its env). */
export const CHILD_OPTION = '--suite-child';

/**
 * argv (after node) that evaluates suite `id` again in a child process,
 * for work that must not touch the suite's own process (securebits locks).
 */
export function suiteChildArgs(id: string): string[] {
  const self = process.argv[1]!;
  return hosted ? [self, CHILD_OPTION, id] : [self];
}

/** Start suite `id`; its TAP goes to `write`. */
export function beginSuite(id: string, write: (chunk: string) => void): void {
  running = { id, write, test: null, cpuAtBegin: process.cpuUsage(), msAtBegin: performance.now() };
}

/**
 * End the running suite (after its module finished, or threw `error`) and
 * wait until its TAP is written. Returns the suite's exit status as a suite
 * process would have: 0 when nothing failed, 1 otherwise.
 */
export async function endSuite(error?: unknown): Promise<number> {
  const r = running;
  running = null;
  if (!r) return 0;
  let status = 0;
  if (error !== undefined) {
    if (r.test) r.test.threw(error);
    else process.stderr.write(`suite ${r.id} threw: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    status = 1;
  }
  if (!r.test) return status;
  const test = r.test;
  const ended = test.promise();
  test.end();
  await ended;
  return test.passing() && status === 0 ? 0 : 1;
}

/** Profiles the user declared required (--expect), passed down by the runner. */
export function requiredProfiles(): Set<string> {
  return new Set((process.env.OMAYEXEC_EXPECT ?? '').split(',').filter(Boolean));
}

export interface SuiteGate {
  /** ABI profile the suite verifies; absent means it runs on any kernel. */
  profile?: ProfileName;
  needsRoot?: boolean;
}

/**
 * Decide whether the suite runs. When it cannot, prints the whole suite's
 * TAP (a SKIP plan, or one failing case when the profile was required) and
 * returns false.
 */
export function gate(spec: SuiteGate): boolean {
  if (spec.needsRoot && process.getuid?.() !== 0) {
    t.plan(0, 'SKIP needs root (euid 0)');
    return false;
  }
  if (!spec.profile) return true;
  const result = probe(spec.profile);
  if (result.supported) return true;
  if (requiredProfiles().has(spec.profile)) {
    t.fail(`profile ${spec.profile} is required (--expect) but absent`, {
      expected: 'supported',
      actual: result.evidence,
      ...quiet,
    });
    return false;
  }
  t.plan(0, `SKIP ${result.evidence}`);
  return false;
}

/** Suppress tap's stack and source diagnostics: they describe the suite, not the kernel. */
// null (not undefined) is what makes tap drop them; its types only allow strings.
const quiet = { stack: null, at: null, source: null } as unknown as Record<string, string>;

/**
 * Expectation overrides (case name -> outcome), only ever set by the
 * project's own tests through `run --override-expectation`, to prove a suite
 * reports exactly the case whose expectation was made wrong. The host marks
 * such runs in results.json.
 */
function overrides(): Record<string, string> {
  try {
    return JSON.parse(process.env.OMAYEXEC_OVERRIDES ?? '{}') as Record<string, string>;
  } catch {
    return {};
  }
}
// Read on first use: the suite host sets the environment after loading.
let expectationOverrides: Record<string, string> | null = null;

/** One case: the name states the whole case and ends with "-> EXPECTED". */
export function expectOutcome(name: string, actual: string, specExpected: string): boolean {
  // '*' overrides every case: a test of the project proves each case can fail.
  expectationOverrides ??= overrides();
  const expected = expectationOverrides[name] ?? expectationOverrides['*'] ?? specExpected;
  // t.pass/t.fail rather than t.equal: the comparison is a string equality,
  // and skipping tap's deep-compare machinery matters for ~1000 cases under
  // emulation.
  if (actual === expected) return t.pass(`${name} -> ${expected}`);
  return t.fail(`${name} -> ${expected}`, { expected, actual, ...quiet });
}

/** Open fds of this process (SPEC.md §7: a suite must not leak any). */
export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

export function skipCase(name: string, expected: string, reason: string): void {
  t.pass(`${name} -> ${expected}`, { skip: reason });
}

/**
 * Per-suite costs for the benchmark: CPU and wall time since the suite began,
 * plus whatever the suite measured (e.g. microseconds per open). Printed as a
 * TAP comment ("# omx-metrics {json}") the host parser keeps with the suite.
 */
export function reportMetrics(extra: Record<string, number> = {}): void {
  const r = running;
  const cpu = process.cpuUsage(r?.cpuAtBegin);
  const ms = r ? performance.now() - r.msAtBegin : process.uptime() * 1000;
  const metrics = { cpuUserMs: Math.round(cpu.user / 1000), cpuSystemMs: Math.round(cpu.system / 1000), wallMs: Math.round(ms), ...extra };
  t.comment(`omx-metrics ${JSON.stringify(metrics)}`);
}
