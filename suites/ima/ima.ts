// Suite ima: the MAY_OPENEXEC mask token of IMA's policy language (SPEC.md
// §3). Probe: writing the rule fails with EINVAL on kernels without it (SKIP
// with that evidence). The rule can be loaded once per boot without
// CONFIG_IMA_WRITE_POLICY, and it stays loaded: the suite is meant for the VM.
import { O } from '../../harness/abi.js';
import { calls } from '../../harness/calls.js';
import { IMA_DIR, IMA_ROWS, IMA_RULE, imaCaseName } from '../../fixtures/ima.js';
import { openCall } from '../../harness/opener.js';
import { defineSuite } from '../../harness/suite.js';
import { withSysctl } from '../../harness/sysctl.js';
import { openOutcome, type Target } from '../../harness/target.js';
import { withWorkMount } from '../../harness/workmount.js';

async function loadRule(target: Target): Promise<string> {
  const [fd, w] = await target.runAll([
    calls.open(`${IMA_DIR}/policy`, O.WRONLY | O.CLOEXEC),
    calls.write({ result: 0 }, `${IMA_RULE}\n`),
    calls.close({ result: 0 }),
  ]);
  if (!fd!.ok) return `open policy: ${fd!.errno}`;
  return w!.ok ? 'ok' : `write: ${w!.errno}`;
}

async function measured(target: Target, path: string): Promise<boolean> {
  const list = (await target.readWholeFile(`${IMA_DIR}/ascii_runtime_measurements`)).toString('utf8');
  return list.split('\n').some((l) => l.endsWith(` ${path}`));
}

export default defineSuite(import.meta.url, {
  id: 'ima',
  // No profile gate: the suite's own probe (writing the MAY_OPENEXEC rule,
  // EINVAL without it) gives the SKIP its evidence (SPEC.md §3).
  needsRoot: true,
  async run(ctx) {
    const target = ctx.target;
    if (!ctx.freshBoot) {
      ctx.skipAll('the IMA suite loads a policy rule that stays until reboot: it runs only in a VM boot');
      return;
    }
    if (!(await target.exists(`${IMA_DIR}/policy`))) {
      ctx.skipAll(`${IMA_DIR}/policy absent: needs CONFIG_IMA and CONFIG_SECURITYFS (and a writable policy: CONFIG_IMA_WRITE_POLICY)`);
      return;
    }
    const loaded = await loadRule(target);
    if (loaded !== 'ok') {
      ctx.skipAll(`writing "${IMA_RULE}" to ${IMA_DIR}/policy -> ${loaded}: kernel lacks the MAY_OPENEXEC mask`);
      return;
    }
    await withWorkMount(target, { noexec: false, mode: 0o500, size: '1m' }, async (m) => {
      for (const [i, row] of IMA_ROWS.entries()) {
        // A fresh file per row: IMA measures a file once, then remembers it.
        const path = `${m.dir}/fresh-${i}`;
        await target.writeFile(path, `#!/bin/sh\n# ${i}\n`, 0o500);
        const opened = await withSysctl(target, row.sysctl, async () => openOutcome(await target.run(openCall(row.via, path, O.RDONLY | O.CLOEXEC))));
        const actual = opened !== 'fd' ? `open-${opened}` : (await measured(target, path)) ? 'measured' : 'not-measured';
        ctx.expectOutcome(imaCaseName(row), actual, row.measured ? 'measured' : 'not-measured');
      }
    });
  },
});
