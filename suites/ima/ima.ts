// Suite ima: the MAY_OPENEXEC mask token of IMA's policy language (SPEC.md
// §3). Probe: writing the rule fails with EINVAL on kernels without it (SKIP
// with that evidence). The rule can be loaded once per boot without
// CONFIG_IMA_WRITE_POLICY, and it stays loaded: the suite is meant for the VM.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IMA_DIR, IMA_ROWS, IMA_RULE, imaCaseName } from '../../fixtures/ima.js';
import { suiteGate } from '../../fixtures/suites.js';
import { tryOpen } from '../../harness/opener.js';
import { expectOutcome, gate, t } from '../../harness/suite.js';
import { withSysctl } from '../../harness/sysctl.js';
import * as sys from '../../harness/sys.js';
import { withWorkMount } from '../../harness/workmount.js';

function loadRule(): string {
  const fd = sys.open(join(IMA_DIR, 'policy'), sys.O.WRONLY | sys.O.CLOEXEC);
  if (!fd.ok) return `open policy: ${fd.errno}`;
  const w = sys.writeFd(fd.ret, `${IMA_RULE}\n`);
  sys.close(fd.ret);
  return w.ok ? 'ok' : `write: ${w.errno}`;
}

function measured(path: string): boolean {
  return readFileSync(join(IMA_DIR, 'ascii_runtime_measurements'), 'utf8').split('\n').some((l) => l.endsWith(` ${path}`));
}

if (gate(suiteGate('ima'))) {
  if (process.env.OMAYEXEC_FRESH_BOOT !== '1') {
    t.plan(0, 'SKIP the IMA suite loads a policy rule that stays until reboot: it runs only in a VM boot');
  } else if (!existsSync(join(IMA_DIR, 'policy'))) {
    t.plan(0, `SKIP ${IMA_DIR}/policy absent: needs CONFIG_IMA and CONFIG_SECURITYFS (and a writable policy: CONFIG_IMA_WRITE_POLICY)`);
  } else {
    const loaded = loadRule();
    if (loaded !== 'ok') {
      t.plan(0, `SKIP writing "${IMA_RULE}" to ${IMA_DIR}/policy -> ${loaded}: kernel lacks the MAY_OPENEXEC mask`);
    } else {
      withWorkMount({ noexec: false, mode: 0o500, size: '1m' }, (m) => {
        IMA_ROWS.forEach((row, i) => {
          // A fresh file per row: IMA measures a file once, then remembers it.
          const path = join(m.dir, `fresh-${i}`);
          writeFileSync(path, `#!/bin/sh\n# ${i}\n`, { mode: 0o500 });
          const flags = sys.O.RDONLY | sys.O.CLOEXEC;
          const opened = withSysctl(row.sysctl, () => tryOpen(row.via, path, flags));
          const actual = opened !== 'fd' ? `open-${opened}` : measured(path) ? 'measured' : 'not-measured';
          expectOutcome(imaCaseName(row), actual, row.measured ? 'measured' : 'not-measured');
        });
      });
    }
  }
}
