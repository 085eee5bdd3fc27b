// Suite uselib: uselib(2) error codes after the v5.9 clean-ups (SPEC.md §4),
// through the i386 entry, the only one x86-64 has. SKIPs with the reason when
// the kernel has no way in (no IA32 emulation) or no uselib (CONFIG_USELIB
// off, or 6.16+ where it was removed).
import { errnoName } from '../../harness/abi.js';
import { LONG_NON_ELF, USELIB_ROWS, uselibCaseName, type UselibRow } from '../../fixtures/uselib.js';
import { runHelper } from '../../harness/helpers.js';
import { releaseVersion } from '../../harness/profiles.js';
import { defineSuite } from '../../harness/suite.js';
import type { Target } from '../../harness/target.js';
import { withWorkMount } from '../../harness/workmount.js';

/** "RET -13" -> EACCES; "RET 0" -> 0. */
function outcome(stdout: string): string {
  const m = /RET (-?\d+)/.exec(stdout);
  if (!m) return `UNKNOWN(${JSON.stringify(stdout.slice(0, 60))})`;
  const v = Number(m[1]);
  return v < 0 ? errnoName(-v) : String(v);
}

/** Why uselib cannot be exercised on this kernel, or null when it can. */
async function unavailable(target: Target): Promise<string | null> {
  const p = await runHelper(target, 'uselib32', ['probe']);
  if (p.signal !== null || !/RET \d+/.test(p.stdout)) {
    return `int $0x80 unavailable (helper ${p.signal !== null ? `killed by signal ${p.signal}` : 'gave no answer'}): kernel without IA32 emulation (CONFIG_IA32_EMULATION off or ia32_emulation=0)`;
  }
  const r = outcome((await runHelper(target, 'uselib32', ['/nonexistent-omx-uselib-probe'])).stdout);
  if (r === 'ENOSYS') {
    const { release } = await target.identity();
    const [major, minor] = releaseVersion(release);
    const removed = major > 6 || (major === 6 && minor >= 16);
    return removed ? `uselib returns ENOSYS: removed from mainline in 6.16 (kernel ${release})` : `uselib returns ENOSYS: kernel built without CONFIG_USELIB (${release})`;
  }
  return null;
}

/** Rows sharing mount kind, mode and capability state share a mount and a helper run. */
async function runRows(target: Target, rows: UselibRow[]): Promise<string[]> {
  const { mount, mode, noDac, body } = rows[0]!;
  const content = body === 'long-text' ? LONG_NON_ELF : undefined;
  return withWorkMount(target, { noexec: mount === 'noexec', mode, content }, async (m) => {
    const paths = rows.map((r) => m.paths[r.object]);
    const run = await runHelper(target, 'uselib32', noDac ? ['--no-dac', ...paths] : paths);
    const answers = run.stdout.split('\n').filter((l) => l.startsWith('RET '));
    return rows.map((_, i) => (answers[i] ? outcome(answers[i]!) : 'UNKNOWN(no answer)'));
  });
}

export default defineSuite(import.meta.url, {
  id: 'uselib',
  profile: 'exec-cleanups',
  needsRoot: true,
  async run(ctx) {
    const target = ctx.target;
    const why = await unavailable(target);
    if (why) {
      ctx.skipAll(why);
      return;
    }
    const fdsBefore = await target.openFdCount();
    const groups = new Map<string, UselibRow[]>();
    for (const row of USELIB_ROWS) {
      const key = `${row.mount}:${row.mode}:${row.noDac}:${row.body ?? ''}`;
      groups.set(key, [...(groups.get(key) ?? []), row]);
    }
    const actual = new Map<UselibRow, string>();
    for (const rows of groups.values()) (await runRows(target, rows)).forEach((a, i) => actual.set(rows[i]!, a));
    for (const row of USELIB_ROWS) ctx.expectOutcome(uselibCaseName(row), actual.get(row)!, row.expected);
    await ctx.expectNoFdLeak('uselib', fdsBefore);
    ctx.reportMetrics();
  },
});
