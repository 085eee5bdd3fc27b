// Suite uselib: uselib(2) error codes after the v5.9 clean-ups (SPEC.md §4),
// through the i386 entry, the only one x86-64 has; the 64-bit syscall 134 is
// not wired (ENOSYS); the O_MAYEXEC policy does not reach uselib (§2.5).
// The rows SKIP with the reason when the kernel has no way in (no IA32
// emulation) or no uselib (CONFIG_USELIB off, or 6.16+ where it was removed).
// Every row's work mount exists at once and one helper run answers them all,
// the probes first and the rows again under the policy.
import { errnoName } from '../../harness/abi.js';
import type { Sysctl } from '../../fixtures/dimensions.js';
import { LONG_NON_ELF, USELIB_ROWS, uselibCaseName, uselibCaseParams, type UselibRow } from '../../fixtures/uselib.js';
import type { HelperReply } from '../../harness/executor-protocol.js';
import { runPolicyHelper, sysctlArgs } from '../../harness/helpers.js';
import { releaseVersion } from '../../harness/profiles.js';
import { defineSuite } from '../../harness/define-suite.js';
import type { SuiteContext } from '../../harness/suite.js';
import { MAYEXEC_SYSCTL } from '../../harness/sysctl.js';
import type { Target } from '../../harness/target.js';
import { withWorkMounts } from '../../harness/workmount.js';

const MISSING = '/nonexistent-omx-uselib-probe';
/** The policy value under which the rows run a second time (both bits set). */
const POLICY: Sysctl = 3;

/** "RET -13" -> EACCES; "RET 0" -> 0. */
function outcome(line: string | undefined): string {
  const m = line === undefined ? null : /^RET (-?\d+)$/.exec(line);
  if (!m) return `UNKNOWN(${JSON.stringify(line ?? 'no answer')})`;
  const v = Number(m[1]);
  return v < 0 ? errnoName(-v) : String(v);
}

const answers = (stdout: string) => stdout.split('\n').filter((l) => l.startsWith('RET '));

/** Why the i386 uselib cannot be exercised (null when it can), from the probe answers. */
async function unavailableWhy(target: Target, p: HelperReply, getpid: string | undefined, missing: string | undefined): Promise<string | null> {
  if (!getpid || !/^RET \d+$/.test(getpid)) {
    const why = p.signal !== null ? `killed by signal ${p.signal}` : 'gave no answer';
    return `int $0x80 unavailable (helper ${why}): kernel without IA32 emulation (CONFIG_IA32_EMULATION off or ia32_emulation=0)`;
  }
  if (outcome(missing) !== 'ENOSYS') return null;
  const { release } = await target.identity();
  const [major, minor] = releaseVersion(release);
  const removed = major > 6 || (major === 6 && minor >= 16);
  return removed ? `uselib returns ENOSYS: removed from mainline in 6.16 (kernel ${release})` : `uselib returns ENOSYS: kernel built without CONFIG_USELIB (${release})`;
}

/** The work mount a row needs: rows with the same key share one. */
function mountKey(r: UselibRow): string {
  return `${r.mount}:${r.mode}:${r.body ?? ''}`;
}

/** The helper's arguments for every row, the capability state switched between them (from DAC capabilities raised). */
function rowArgs(rows: UselibRow[], paths: (r: UselibRow) => string): string[] {
  const args: string[] = ['--dac'];
  let noDac = false;
  for (const r of rows) {
    if (r.noDac !== noDac) args.push(r.noDac ? '--no-dac' : '--dac');
    noDac = r.noDac;
    args.push(paths(r));
  }
  return args;
}

interface UselibAnswers {
  /** The x86-64 syscall 134. */
  native: string;
  unavailable: string | null;
  plain: string[];
  /** Under the policy, when the kernel has it. */
  policy: string[] | null;
}

/**
 * One helper run over one set of work mounts: the probes (x86-64 syscall
 * 134, the i386 entry, uselib on a missing path), every row, and every row
 * again under the policy when the kernel has it (the helper switches it; the
 * value before is written back after).
 */
async function runAll(target: Target, rows: UselibRow[], underPolicy: boolean): Promise<UselibAnswers> {
  const keys = [...new Set(rows.map(mountKey))];
  const opts = keys.map((k) => {
    const r = rows.find((x) => mountKey(x) === k)!;
    return { noexec: r.mount === 'noexec', mode: r.mode, content: r.body === 'long-text' ? LONG_NON_ELF : undefined };
  });
  return withWorkMounts(target, opts, async (ms) => {
    const each = rowArgs(rows, (r) => ms[keys.indexOf(mountKey(r))]!.paths[r.object]);
    const args = ['--64', MISSING, 'probe', MISSING, ...each, ...(underPolicy ? [...sysctlArgs(POLICY), ...each] : [])];
    const p = await runPolicyHelper(target, 'uselib32', args);
    const [native, getpid, missing, ...got] = answers(p.stdout);
    const unavailable = await unavailableWhy(target, p, getpid, missing);
    const pass = (from: number) => rows.map((_, i) => outcome(got[from + i]));
    return { native: outcome(native), unavailable, plain: pass(0), policy: underPolicy ? pass(rows.length) : null };
  });
}

async function policyPresent(target: Target): Promise<boolean> {
  return !('errno' in (await target.stat(MAYEXEC_SYSCTL)));
}

/** The rows' cases; `sysctl`: the policy value they ran under, if any. */
function report(ctx: SuiteContext, rows: UselibRow[], actual: string[], sysctl?: Sysctl): void {
  rows.forEach((row, i) => ctx.expectOutcome(uselibCaseName(row, sysctl), actual[i]!, row.expected, uselibCaseParams(row, sysctl)));
}

function skipRows(ctx: SuiteContext, rows: UselibRow[], reason: string, sysctl?: Sysctl): void {
  for (const row of rows) ctx.skipCase(uselibCaseName(row, sysctl), row.expected, reason, uselibCaseParams(row, sysctl));
}

export default defineSuite(import.meta.url, {
  id: 'uselib',
  profile: 'exec-cleanups',
  needsRoot: true,
  kconfig: [
    { option: 'IA32_EMULATION', why: 'uselib is only reachable through the i386 entry' },
    { option: 'USELIB', why: 'the uselib(2) syscall itself' },
  ],
  saveRestore: [MAYEXEC_SYSCTL],
  async run(ctx) {
    const target = ctx.target;
    const fdsBefore = await target.openFdCount();
    const policy = await policyPresent(target);
    const got = await runAll(target, USELIB_ROWS, policy);
    ctx.expectOutcome(`uselib x86-64 syscall 134 path=${MISSING} (not wired for 64-bit callers)`, got.native, 'ENOSYS');
    if (got.unavailable) {
      skipRows(ctx, USELIB_ROWS, got.unavailable);
      skipRows(ctx, USELIB_ROWS, got.unavailable, POLICY);
    } else {
      report(ctx, USELIB_ROWS, got.plain);
      if (got.policy) report(ctx, USELIB_ROWS, got.policy, POLICY);
      else skipRows(ctx, USELIB_ROWS, `no ${MAYEXEC_SYSCTL}: kernel without O_MAYEXEC`, POLICY);
    }
    await ctx.expectNoFdLeak('uselib', fdsBefore);
    ctx.reportMetrics();
  },
});
