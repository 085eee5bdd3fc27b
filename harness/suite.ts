// What every suite stands on. A suite is a declarative spec (LTP-style: the
// ABI profile it verifies, whether it needs root) plus an async body that
// reports through its context: the Target that reaches the kernel under
// test, its own tap Test (its own TAP stream), and one assertion shape so
// every case reports expected and actual by name, and its params as data. The runner runs specs one
// after the other in one node process; run by hand (`node
// dist/suites/exec/exec.js`) a suite runs on this machine's kernel through
// koffi and prints its TAP like a kselftest binary.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Test, TestOpts } from '@tapjs/test';
import { decideProfile, type ProbeResult, type ProfileName } from './profiles.js';
import type { CaseParams } from '../fixtures/dimensions.js';
import type { Target } from './target.js';

/** A kernel option a suite's cases need. */
export interface KconfigNeed {
  option: string;
  why: string;
  /** A module is enough (the guest loads the kernel package's module). */
  moduleOk?: boolean;
}

/**
 * What a suite needs, declared once in its spec (LTP's struct tst_test):
 * the runner gates on profile and root, the config pre-check names the
 * missing options before a boot (the cases SKIP with the reason at run
 * time), and direct mode saves and restores the sysctls.
 */
export interface SuiteNeeds {
  /** ABI profile the suite verifies; absent means it runs on any kernel. */
  profile?: ProfileName;
  needsRoot?: boolean;
  kconfig?: KconfigNeed[];
  /** Sysctls the suite writes: direct mode saves them before the run and writes them back after, whatever happens. */
  saveRestore?: string[];
  /**
   * Kernel modules (by name) the suite needs loaded, when the kernel ships
   * them as modules: loaded just before the suite runs, so a boot whose
   * suites skip pays nothing for them (loop.ko: ~30 ms under emulation).
   */
  modules?: string[];
}

export interface SuiteSpec extends SuiteNeeds {
  id: string;
  run(ctx: SuiteContext): Promise<void>;
}

/** What the runner tells a suite about this run. */
export interface SuiteEnv {
  target: Target;
  profiles: ProbeResult[];
  /** Profiles the user declared required (--expect). */
  required: string[];
  /** A VM boot: values such as sysctl defaults are as the kernel set them. */
  freshBoot: boolean;
  /** Expectation overrides (tests of the project only): case name -> outcome. */
  overrides: Record<string, string>;
}

/** Suppress tap's stack and source diagnostics: they describe the suite, not the kernel. */
// null (not undefined) is what makes tap drop them; its types only allow strings.
const quiet = { stack: null, at: null, source: null } as unknown as Record<string, string>;

/** TAP comment after a passing case: the value the suite observed. */
export const OBSERVED_MARK = 'omx-observed';
/** TAP comment after a case (and its observed value or diagnostics): its params as JSON. */
export const PARAMS_MARK = 'omx-params';
/** TAP comment after a case: {"observed": VALUE (passes only), "params": {...}} in one line; the two marks above are what older runs wrote. */
export const CASE_MARK = 'omx-case';

export class SuiteContext {
  readonly t: Test;
  private readonly startCpu = process.cpuUsage();
  private readonly startMs = performance.now();

  constructor(TestClass: typeof Test, readonly id: string, readonly env: SuiteEnv, write: (chunk: string) => void) {
    // No tap timeout: the runner enforces the suite timeout.
    this.t = new TestClass({ name: id, timeout: 0 } as TestOpts);
    this.t.on('data', (c: string) => write(c));
  }

  get target(): Target {
    return this.env.target;
  }

  get freshBoot(): boolean {
    return this.env.freshBoot;
  }

  /**
   * One case: the name states the whole case and ends with "-> EXPECTED".
   * `params`: the same dimensions as data (fixtures build both from one row),
   * so the host never has to read them back from the name.
   */
  expectOutcome(name: string, actual: string, specExpected: string, params?: CaseParams): boolean {
    // '*' overrides every case: a test of the project proves each case can fail.
    const o = this.env.overrides;
    const expected = o[name] ?? o['*'] ?? specExpected;
    // t.pass/t.fail rather than t.equal: a string equality needs none of
    // tap's deep-compare machinery.
    const ok = actual === expected;
    if (ok) {
      this.t.pass(`${name} -> ${expected}`);
      // What the kernel answered, as seen (not read back from the name): results.json records it.
      this.describeCase({ observed: actual, params });
    } else {
      this.t.fail(`${name} -> ${expected}`, { expected, actual, ...quiet });
      this.describeCase({ params });
    }
    return ok;
  }

  skipCase(name: string, expected: string, reason: string, params?: CaseParams): void {
    this.t.pass(`${name} -> ${expected}`, { skip: reason });
    this.describeCase({ params });
  }

  /** One comment line per case (a line costs ~40 µs from tap to results.json): what was observed, and the params. */
  private describeCase(c: { observed?: string; params?: CaseParams }): void {
    if (c.observed !== undefined || c.params) this.t.comment(`${CASE_MARK} ${JSON.stringify(c)}`);
  }

  /** The whole suite does not apply: `1..0 # SKIP reason`. */
  skipAll(reason: string): void {
    this.t.plan(0, `SKIP ${reason}`);
  }

  /**
   * Per-suite costs for the benchmark ("# omx-metrics {json}", kept with the
   * suite by the host parser): host CPU, wall time, and what the suite measured.
   */
  reportMetrics(extra: Record<string, number> = {}): void {
    const cpu = process.cpuUsage(this.startCpu);
    const metrics = { cpuUserMs: Math.round(cpu.user / 1000), cpuSystemMs: Math.round(cpu.system / 1000), wallMs: Math.round(performance.now() - this.startMs), ...extra };
    this.t.comment(`omx-metrics ${JSON.stringify(metrics)}`);
  }

  /** Fail the case `name` when the target's fd count changed over the suite. */
  async expectNoFdLeak(label: string, before: number): Promise<void> {
    const after = await this.target.openFdCount();
    this.expectOutcome(`${label} no fd leaked by the suite (open fds before/after)`, after === before ? 'unchanged' : `${before} before, ${after} after`, 'unchanged');
  }
}

let testClass: typeof Test | null = null;

let bundledTap: string | null = null;

/**
 * Load tap from its one-file bundle (dist/harness/tap-bundle.js, made by
 * vm/bundle.ts, as the board runner bundles it) rather than from its ~400
 * modules: ~35 ms instead of ~120 ms, CPU that a VM run spends while its
 * emulated guest boots and competes with (the boot measured 0.05-0.4 s
 * slower). The CLI's runs only: a process that imports tap itself (the
 * project's tests) must not hold two copies.
 */
export function preferBundledTap(): void {
  const path = fileURLToPath(new URL('./tap-bundle.js', import.meta.url));
  if (existsSync(path)) bundledTap = pathToFileURL(path).href;
}

/**
 * tap, loaded when a suite first runs: a suite's spec, its needs included,
 * can be read without it (the config pre-check, direct mode).
 */
export async function tapTest(): Promise<typeof Test> {
  if (testClass) return testClass;
  if (bundledTap) {
    testClass = ((await import(bundledTap)) as { Test: typeof Test }).Test;
    return testClass;
  }
  // @tapjs/core first: imported alone, @tapjs/test reaches core's TAP class
  // before its own Test exists (a cycle tap's main module resolves the same way).
  await import('@tapjs/core');
  testClass ??= (await import('@tapjs/test')).Test;
  return testClass;
}

/**
 * Whether the suite runs. When it cannot, reports the whole suite (a SKIP
 * plan, or one failing case when the profile was required) and says no.
 */
async function gate(spec: SuiteSpec, ctx: SuiteContext): Promise<boolean> {
  if (spec.needsRoot) {
    const euid = await ctx.target.run({ nr: 107, args: [] }); // geteuid
    if (euid.ret !== 0) {
      ctx.skipAll(`needs root (euid ${euid.ret})`);
      return false;
    }
  }
  const d = decideProfile(spec.profile, ctx.env.profiles, ctx.env.required);
  if (d.run) {
    if (spec.modules?.length) await ctx.target.loadModules(spec.modules);
    return true;
  }
  if (d.fail) ctx.t.fail(`profile ${spec.profile} is required (--expect) but absent`, { expected: 'supported', actual: d.evidence, ...quiet });
  else ctx.skipAll(d.evidence);
  return false;
}

/**
 * Run one suite to its end. Returns its exit status as a kselftest binary
 * would: 0 when nothing failed, 1 otherwise. An exception from the body (a
 * fixture that failed, a dead executor) fails the suite, never passes it.
 */
export async function runSuite(spec: SuiteSpec, env: SuiteEnv, write: (chunk: string) => void): Promise<number> {
  const ctx = new SuiteContext(await tapTest(), spec.id, env, write);
  let status = 0;
  try {
    if (await gate(spec, ctx)) await spec.run(ctx);
  } catch (e) {
    ctx.t.threw(e);
    status = 1;
  }
  const ended = ctx.t.promise();
  ctx.t.end();
  await ended;
  return ctx.t.passing() && status === 0 ? 0 : 1;
}
