// Suite ima: the MAY_OPENEXEC mask token of IMA's policy language (SPEC.md
// §3), profile omayexec-ima. Its probe loads the policy (EINVAL without the
// token); the policy may be writable once per boot and stays loaded, so it
// runs on fresh VM boots only. A fresh file per row is opened one way, then
// looked up in ascii_runtime_measurements, read once after every open.
import { O } from '../../harness/abi.js';
import { Batch } from '../../harness/batch.js';
import { calls, fileCalls } from '../../harness/calls.js';
import { IMA_DIR, IMA_ROWS, imaCaseName, imaCaseParams, TRAP_OWNER } from '../../fixtures/ima.js';
import { openCall } from '../../harness/opener.js';
import { defineSuite } from '../../harness/define-suite.js';
import { startState, sysctlOf } from '../../harness/suite-state.js';
import { MAYEXEC_SYSCTL, sysctlWriteCalls } from '../../harness/sysctl.js';
import { openOutcome, type Target } from '../../harness/target.js';
import { withWorkMount } from '../../harness/workmount.js';

async function measurementList(target: Target): Promise<string[]> {
  return (await target.readWholeFile(`${IMA_DIR}/ascii_runtime_measurements`)).toString('utf8').split('\n');
}

export default defineSuite(import.meta.url, {
  id: 'ima',
  // The profile probe loaded the policy (fixtures/ima.ts IMA_POLICY); a
  // failed load is this suite's SKIP, or its FAIL with --expect omayexec-ima.
  profile: 'omayexec-ima',
  needsRoot: true,
  kconfig: [
    { option: 'IMA', why: 'the MAY_OPENEXEC policy mask is an IMA feature' },
    { option: 'SECURITYFS', why: 'the IMA policy is written through securityfs' },
  ],
  saveRestore: [MAYEXEC_SYSCTL],
  async run(ctx) {
    const target = ctx.target;
    const start = await startState(target);
    const fdsBefore = start.fds;
    const saved = sysctlOf(start);
    await withWorkMount(target, { noexec: false, mode: 0o500, size: '1m' }, async (m) => {
      // A fresh file per row (IMA measures a file once, then remembers it),
      // all made first; then each row's open under its sysctl value; then the
      // sysctl back. One round trip; the opens are measured as they happen.
      const b = new Batch();
      const paths = IMA_ROWS.map((_, i) => `${m.dir}/fresh-${i}`);
      for (const [i, row] of IMA_ROWS.entries()) {
        b.must(`create ${paths[i]}`, ...fileCalls(paths[i]!, `#!/bin/sh\n# ${i}\n`, 0o500));
        if (row.trap) b.must(`chown ${paths[i]} to ${TRAP_OWNER}`, calls.chown(paths[i]!, TRAP_OWNER, 0));
      }
      const opens = IMA_ROWS.map((row, i) => {
        b.must(`write ${row.sysctl} to the sysctl`, ...sysctlWriteCalls(row.sysctl, 0));
        return b.add(openCall(row.via, paths[i]!, O.RDONLY | O.CLOEXEC));
      });
      b.must(`restore the sysctl to ${saved}`, ...sysctlWriteCalls(saved, 0));
      const rs = await b.run(target);
      const list = await measurementList(target);
      for (const [i, row] of IMA_ROWS.entries()) {
        const opened = openOutcome(rs[opens[i]!]!);
        const actual = opened !== 'fd' ? `open-${opened}` : list.some((l) => l.endsWith(` ${paths[i]}`)) ? 'measured' : 'not-measured';
        ctx.expectOutcome(imaCaseName(row), actual, row.measured ? 'measured' : 'not-measured', imaCaseParams(row));
      }
    });
    await ctx.expectNoFdLeak('ima', fdsBefore);
    ctx.reportMetrics();
  },
});
