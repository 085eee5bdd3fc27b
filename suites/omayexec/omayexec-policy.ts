// Suite omayexec-policy: the upstream v7 selftest's 16 policy cases, every
// open of every object, as one TAP line each (SPEC.md §2.3, §2.4, §2.6).
// One batch per variant x sysctl value: the sysctl write, the opens with the
// DAC capabilities, the capability drop (verified with capget), the opens
// without them, the restore: one round trip to an executor.
import { CAP, capBit } from '../../harness/abi.js';
import { calls, type CapSets } from '../../harness/calls.js';
import { checkCapSwitch } from '../../harness/caps.js';
import type { Call } from '../../harness/executor-protocol.js';
import { OBJECT_TYPES, SYSCTL_VALUES, type CapState } from '../../fixtures/dimensions.js';
import { POLICY_SUITE, policyCaseName, policyCaseParams, policyCases, VARIANTS, type PolicyCase } from '../../fixtures/omayexec-policy.js';
import { openCall, selftestFlags } from '../../harness/opener.js';
import { defineSuite } from '../../harness/define-suite.js';
import type { SuiteContext } from '../../harness/suite.js';
import { startState, sysctlOf } from '../../harness/suite-state.js';
import { MAYEXEC_SYSCTL, sysctlWriteCalls } from '../../harness/sysctl.js';
import { openOutcome, TargetError } from '../../harness/target.js';
import { LOOP_UNKNOWN_REASON, loopDevice, withWorkMounts, type WorkMount } from '../../harness/workmount.js';

const DAC_CAPS = capBit(CAP.DAC_OVERRIDE) | capBit(CAP.DAC_READ_SEARCH);

/** capset to `sets`, then capget: the case runs in the state its name says, or the batch is an error. */
function switchCaps(sets: CapSets): Call[] {
  return [calls.capset(sets), calls.capget()];
}


async function runGroup(ctx: SuiteContext, m: WorkMount, cases: PolicyCase[], sysctl: number, saved: string, caps: CapSets, openBlock: boolean): Promise<Map<PolicyCase, string | null>> {
  const opened = (state: CapState) => cases.filter((c) => c.caps === state && (c.type !== 'block' || openBlock));
  const dac = opened('dac');
  const noDac = opened('no-dac');
  const dropped = { ...caps, effective: caps.effective & ~DAC_CAPS };
  const open = (c: PolicyCase) => openCall(c.via, m.paths[c.type], selftestFlags(c.type === 'fifo'));
  const batch: Call[] = [...sysctlWriteCalls(sysctl, 0)];
  batch.push(...dac.map(open));
  const dropAt = batch.length;
  batch.push(...switchCaps(dropped), ...noDac.map(open));
  const restoreAt = batch.length;
  batch.push(...switchCaps(caps));
  batch.push(...sysctlWriteCalls(saved, batch.length));
  const rs = await ctx.target.runAll(batch);
  if (!rs[1]!.ok) throw new TargetError(`writing ${sysctl} to the sysctl failed: ${rs[0]!.errno ?? rs[1]!.errno}`);
  checkCapSwitch('drop DAC capabilities', rs[dropAt]!, rs[dropAt + 1]!, dropped.effective);
  checkCapSwitch('restore', rs[restoreAt]!, rs[restoreAt + 1]!, caps.effective);
  if (!rs[rs.length - 2]!.ok) throw new TargetError(`restoring the sysctl to ${saved} failed: ${rs[rs.length - 2]!.errno}`);
  const outcome = new Map<PolicyCase, string | null>(cases.map((c) => [c, null]));
  dac.forEach((c, i) => outcome.set(c, openOutcome(rs[3 + i]!)));
  noDac.forEach((c, i) => outcome.set(c, openOutcome(rs[dropAt + 2 + i]!)));
  return outcome;
}

export default defineSuite(import.meta.url, {
  id: POLICY_SUITE,
  profile: 'omayexec-v7',
  needsRoot: true,
  kconfig: [
    { option: 'PROC_SYSCTL', why: 'fs.open_mayexec_enforce lives in /proc/sys' },
    { option: 'BLK_DEV_LOOP', why: 'block device 7:0 rows open a loop device (without one they expect ENXIO)', moduleOk: true },
  ],
  saveRestore: [MAYEXEC_SYSCTL],
  modules: ['loop'],
  async run(ctx) {
    const target = ctx.target;
    const start = await startState(target);
    const { caps } = start;
    const saved = sysctlOf(start);
    const loop = await loopDevice(target);
    const all = policyCases(OBJECT_TYPES, loop !== 'absent');
    let openMs = 0;
    let opens = 0;
    // Every variant's work mount at once: made in one round trip, released in one.
    await withWorkMounts(target, VARIANTS.map((v) => ({ noexec: v.mount === 'noexec', mode: v.mode })), async (ms) => {
      for (const [k, v] of VARIANTS.entries()) {
        const m = ms[k]!;
        for (const sysctl of SYSCTL_VALUES) {
          const cases = all.filter((c) => c.mount === v.mount && c.mode === v.mode && c.sysctl === sysctl);
          const t0 = performance.now();
          const outcome = await runGroup(ctx, m, cases, sysctl, saved, caps, loop !== 'unknown');
          openMs += performance.now() - t0;
          opens += cases.length;
          for (const c of cases) {
            const actual = outcome.get(c);
            if (actual === null || actual === undefined) ctx.skipCase(policyCaseName(c), c.expected, LOOP_UNKNOWN_REASON, policyCaseParams(c));
            else ctx.expectOutcome(policyCaseName(c), actual, c.expected, policyCaseParams(c));
          }
        }
      }
    });
    await ctx.expectNoFdLeak('policy', start.fds);
    // Includes the sysctl writes and capability switches around the opens.
    ctx.reportMetrics({ opens, microsPerOpen: Math.round((openMs * 1000) / Math.max(opens, 1)) });
  },
});
