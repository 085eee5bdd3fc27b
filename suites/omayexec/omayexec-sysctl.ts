// Suite omayexec-sysctl: fs.open_mayexec_enforce itself (SPEC.md §2.1): the
// upstream access test (CAP_SYS_ADMIN checked at write time), its range,
// file mode and who may open it.
import { statSync } from 'node:fs';
import { outcomeOf } from '../../harness/opener.js';
import { expectOutcome, gate, openFdCount, reportMetrics, skipCase } from '../../harness/suite.js';
import { suiteGate } from '../../fixtures/suites.js';
import { MAYEXEC_SYSCTL, readSysctl, writeSysctl } from '../../harness/sysctl.js';
import * as sys from '../../harness/sys.js';

/** open(O_WRONLY) then write(value): the outcome of each step. */
function openAndWrite(value: string): { open: string; write: string } {
  const fd = sys.open(MAYEXEC_SYSCTL, sys.O.WRONLY | sys.O.CLOEXEC);
  if (!fd.ok) return { open: fd.errno ?? 'E?', write: 'not-reached' };
  const w = sys.writeFd(fd.ret, value);
  sys.close(fd.ret);
  return { open: 'fd', write: w.ok ? 'ok' : w.errno ?? 'E?' };
}

const openRead = () => outcomeOf(sys.open(MAYEXEC_SYSCTL, sys.O.RDONLY | sys.O.CLOEXEC));
const openWrite = () => outcomeOf(sys.open(MAYEXEC_SYSCTL, sys.O.WRONLY | sys.O.CLOEXEC));

/** Run fn with a non-root euid (caps re-raised as asked), then back to euid 0. */
function asUser<T>(uid: number, raise: number[], fn: () => T): T {
  process.seteuid!(uid);
  try {
    // Leaving euid 0 cleared the effective set; the permitted set is kept.
    const now = sys.capget();
    let eff = 0n;
    for (const c of raise) eff |= sys.capBit(c);
    const r = sys.capset({ ...now, effective: eff & now.permitted });
    if (!r.ok) throw new Error(`capset as uid ${uid} failed: ${r.errno}`);
    return fn();
  } finally {
    process.seteuid!(0);
  }
}

if (gate(suiteGate('omayexec-sysctl'))) {
  const fdsBefore = openFdCount();
  const saved = readSysctl();
  try {
    if (process.env.OMAYEXEC_FRESH_BOOT === '1') expectOutcome('sysctl value after boot', readSysctl(), '0');
    else skipCase('sysctl value after boot', '0', 'not a fresh boot (direct mode): the value may have been set by the host');

    expectOutcome('sysctl file mode of /proc/sys/fs/open_mayexec_enforce', (statSync(MAYEXEC_SYSCTL).mode & 0o777).toString(8).padStart(4, '0'), '0600');

    // Upstream access test: with CAP_SYS_ADMIN the write succeeds; with it
    // cleared from the effective set, open still succeeds and write fails.
    const all = openAndWrite('0');
    expectOutcome('sysctl access caps=all open O_WRONLY', all.open, 'fd');
    expectOutcome('sysctl access caps=all write "0"', all.write, 'ok');
    const noAdmin = sys.withoutEffectiveCaps([sys.CAP.SYS_ADMIN], () => openAndWrite('0'));
    expectOutcome('sysctl access caps=no-sys-admin open O_WRONLY', noAdmin.open, 'fd');
    expectOutcome('sysctl access caps=no-sys-admin write "0"', noAdmin.write, 'EPERM');
    // CAP_MAC_ADMIN is neither needed nor sufficient.
    const noMac = sys.withoutEffectiveCaps([sys.CAP.MAC_ADMIN], () => openAndWrite('0'));
    expectOutcome('sysctl access caps=no-mac-admin write "0"', noMac.write, 'ok');

    for (const v of ['0', '1', '2', '3']) {
      const w = openAndWrite(v);
      expectOutcome(`sysctl range write "${v}"`, w.write, 'ok');
      expectOutcome(`sysctl range read back after writing "${v}"`, readSysctl(), v);
    }
    writeSysctl(2);
    for (const bad of ['4', '-1', 'abc', '100']) {
      const w = openAndWrite(bad);
      expectOutcome(`sysctl range write "${bad}"`, w.write, 'EINVAL');
      expectOutcome(`sysctl range value unchanged after writing "${bad}"`, readSysctl(), '2');
    }
    const nl = openAndWrite('3\n');
    expectOutcome('sysctl write "3\\n" (trailing newline)', nl.write, 'ok');
    expectOutcome('sysctl read back after writing "3\\n"', readSysctl(), '3');
    writeSysctl(0);

    // /proc/sys permission ignores capabilities: only euid 0 may open it.
    const dac = [sys.CAP.DAC_OVERRIDE, sys.CAP.DAC_READ_SEARCH];
    expectOutcome('sysctl open O_RDONLY euid=65534 caps=dac', asUser(65534, dac, openRead), 'EACCES');
    expectOutcome('sysctl open O_WRONLY euid=65534 caps=dac', asUser(65534, dac, openWrite), 'EACCES');
    expectOutcome('sysctl open O_RDONLY euid=0 caps=no-dac', sys.withoutEffectiveCaps(dac, openRead), 'fd');
    expectOutcome('sysctl open O_WRONLY euid=0 caps=no-dac', sys.withoutEffectiveCaps(dac, openWrite), 'fd');
  } finally {
    writeSysctl(saved);
  }
  expectOutcome('sysctl no fd leaked by the suite (open fds before/after)', String(openFdCount()), String(fdsBefore));
  reportMetrics();
}
