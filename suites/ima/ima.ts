// Suite ima: the MAY_OPENEXEC mask token of IMA's policy language (SPEC.md
// §3), profile omayexec-ima. Its probe loads the policy (EINVAL without the
// token); the policy may be writable once per boot and stays loaded, so it
// runs on fresh VM boots only. A fresh file per row is opened one way, then
// looked up in ascii_runtime_measurements.
import { O } from '../../harness/abi.js';
import { calls } from '../../harness/calls.js';
import { IMA_DIR, IMA_ROWS, imaCaseName, imaCaseParams, TRAP_OWNER } from '../../fixtures/ima.js';
import { openCall } from '../../harness/opener.js';
import { defineSuite } from '../../harness/suite.js';
import { withSysctl } from '../../harness/sysctl.js';
import { openOutcome, type Target } from '../../harness/target.js';
import { withWorkMount } from '../../harness/workmount.js';

async function measured(target: Target, path: string): Promise<boolean> {
  const list = (await target.readWholeFile(`${IMA_DIR}/ascii_runtime_measurements`)).toString('utf8');
  return list.split('\n').some((l) => l.endsWith(` ${path}`));
}

export default defineSuite(import.meta.url, {
  id: 'ima',
  // The profile probe loaded the policy (fixtures/ima.ts IMA_POLICY); a
  // failed load is this suite's SKIP, or its FAIL with --expect omayexec-ima.
  profile: 'omayexec-ima',
  needsRoot: true,
  async run(ctx) {
    const target = ctx.target;
    const fdsBefore = await target.openFdCount();
    await withWorkMount(target, { noexec: false, mode: 0o500, size: '1m' }, async (m) => {
      for (const [i, row] of IMA_ROWS.entries()) {
        // A fresh file per row: IMA measures a file once, then remembers it.
        const path = `${m.dir}/fresh-${i}`;
        await target.writeFile(path, `#!/bin/sh\n# ${i}\n`, 0o500);
        if (row.trap) await target.must(`chown ${TRAP_OWNER}`, calls.chown(path, TRAP_OWNER, 0));
        const opened = await withSysctl(target, row.sysctl, async () => openOutcome(await target.run(openCall(row.via, path, O.RDONLY | O.CLOEXEC))));
        const actual = opened !== 'fd' ? `open-${opened}` : (await measured(target, path)) ? 'measured' : 'not-measured';
        ctx.expectOutcome(imaCaseName(row), actual, row.measured ? 'measured' : 'not-measured', imaCaseParams(row));
      }
    });
    await ctx.expectNoFdLeak('ima', fdsBefore);
    ctx.reportMetrics();
  },
});
