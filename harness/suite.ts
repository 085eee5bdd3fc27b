// What every suite stands on: the profile gate (SKIP or, when the user
// declared the profile required, FAIL), the root check, and one assertion
// shape so every case reports expected and actual by name.
import { readdirSync } from 'node:fs';
import t from 'tap';
import { probe, type ProfileName } from './profiles.js';

export { t };

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
const expectationOverrides = overrides();

/** One case: the name states the whole case and ends with "-> EXPECTED". */
export function expectOutcome(name: string, actual: string, specExpected: string): boolean {
  // '*' overrides every case: a test of the project proves each case can fail.
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
 * Per-suite costs for the benchmark: CPU time of this process so far plus
 * whatever the suite measured (e.g. microseconds per open). Printed as a TAP
 * comment ("# omx-metrics {json}") the host parser keeps with the suite.
 */
export function reportMetrics(extra: Record<string, number> = {}): void {
  const cpu = process.cpuUsage();
  const metrics = { cpuUserMs: Math.round(cpu.user / 1000), cpuSystemMs: Math.round(cpu.system / 1000), uptimeMs: Math.round(process.uptime() * 1000), ...extra };
  t.comment(`omx-metrics ${JSON.stringify(metrics)}`);
}
