// Suite omayexec-sysctl: fs.open_mayexec_enforce itself (SPEC.md §2.1): the
// upstream access test (CAP_SYS_ADMIN checked at write time), its range,
// file mode and who may open it.
import { CAP, capBit, O } from '../../harness/abi.js';
import { calls } from '../../harness/calls.js';
import { setCaps, withoutCaps } from '../../harness/caps.js';
import { defineSuite } from '../../harness/suite.js';
import { MAYEXEC_SYSCTL, readSysctl, writeSysctl } from '../../harness/sysctl.js';
import { openOutcome, type Target } from '../../harness/target.js';

/** open(O_WRONLY) then write(value): the outcome of each step. */
async function openAndWrite(target: Target, value: string): Promise<{ open: string; write: string }> {
  const [fd, w] = await target.runAll([calls.open(MAYEXEC_SYSCTL, O.WRONLY | O.CLOEXEC), calls.write({ result: 0 }, value), calls.close({ result: 0 })]);
  if (!fd!.ok) return { open: fd!.errno ?? 'E?', write: 'not-reached' };
  return { open: 'fd', write: w!.ok ? 'ok' : w!.errno ?? 'E?' };
}

const openRead = (t: Target) => t.run(calls.open(MAYEXEC_SYSCTL, O.RDONLY | O.CLOEXEC, 0, true)).then(openOutcome);
const openWrite = (t: Target) => t.run(calls.open(MAYEXEC_SYSCTL, O.WRONLY | O.CLOEXEC, 0, true)).then(openOutcome);

/** Run fn with a non-root euid (caps re-raised as asked), then back to euid 0. */
async function asUser<T>(target: Target, uid: number, raise: number[], fn: () => Promise<T>): Promise<T> {
  const before = await target.capget();
  await target.must(`setresuid(-1, ${uid}, -1)`, calls.setresuid(-1, uid, -1));
  try {
    // Leaving euid 0 cleared the effective set; the permitted set is kept.
    let eff = 0n;
    for (const c of raise) eff |= capBit(c);
    await setCaps(target, { ...before, effective: eff & before.permitted });
    return await fn();
  } finally {
    await target.must('setresuid(-1, 0, -1)', calls.setresuid(-1, 0, -1));
    await setCaps(target, before);
  }
}

export default defineSuite(import.meta.url, {
  id: 'omayexec-sysctl',
  profile: 'omayexec-v7',
  needsRoot: true,
  async run(ctx) {
    const target = ctx.target;
    const fdsBefore = await target.openFdCount();
    const saved = await readSysctl(target);
    try {
      if (ctx.freshBoot) ctx.expectOutcome('sysctl value after boot', saved, '0');
      else ctx.skipCase('sysctl value after boot', '0', 'not a fresh boot (direct mode): the value may have been set by the host');

      const st = await target.stat(MAYEXEC_SYSCTL);
      const mode = 'errno' in st ? st.errno : (st.mode & 0o777).toString(8).padStart(4, '0');
      ctx.expectOutcome('sysctl file mode of /proc/sys/fs/open_mayexec_enforce', mode, '0600');

      // Upstream access test: with CAP_SYS_ADMIN the write succeeds; with it
      // cleared from the effective set, open still succeeds and write fails.
      const all = await openAndWrite(target, '0');
      ctx.expectOutcome('sysctl access caps=all open O_WRONLY', all.open, 'fd');
      ctx.expectOutcome('sysctl access caps=all write "0"', all.write, 'ok');
      const noAdmin = await withoutCaps(target, [CAP.SYS_ADMIN], () => openAndWrite(target, '0'));
      ctx.expectOutcome('sysctl access caps=no-sys-admin open O_WRONLY', noAdmin.open, 'fd');
      ctx.expectOutcome('sysctl access caps=no-sys-admin write "0"', noAdmin.write, 'EPERM');
      // CAP_MAC_ADMIN is neither needed nor sufficient.
      const noMac = await withoutCaps(target, [CAP.MAC_ADMIN], () => openAndWrite(target, '0'));
      ctx.expectOutcome('sysctl access caps=no-mac-admin write "0"', noMac.write, 'ok');

      for (const v of ['0', '1', '2', '3']) {
        const w = await openAndWrite(target, v);
        ctx.expectOutcome(`sysctl range write "${v}"`, w.write, 'ok');
        ctx.expectOutcome(`sysctl range read back after writing "${v}"`, await readSysctl(target), v);
      }
      await writeSysctl(target, 2);
      for (const bad of ['4', '-1', 'abc', '100']) {
        const w = await openAndWrite(target, bad);
        ctx.expectOutcome(`sysctl range write "${bad}"`, w.write, 'EINVAL');
        ctx.expectOutcome(`sysctl range value unchanged after writing "${bad}"`, await readSysctl(target), '2');
      }
      const nl = await openAndWrite(target, '3\n');
      ctx.expectOutcome('sysctl write "3\\n" (trailing newline)', nl.write, 'ok');
      ctx.expectOutcome('sysctl read back after writing "3\\n"', await readSysctl(target), '3');
      await writeSysctl(target, 0);

      // /proc/sys permission ignores capabilities: only euid 0 may open it.
      const dac = [CAP.DAC_OVERRIDE, CAP.DAC_READ_SEARCH];
      ctx.expectOutcome('sysctl open O_RDONLY euid=65534 caps=dac', await asUser(target, 65534, dac, () => openRead(target)), 'EACCES');
      ctx.expectOutcome('sysctl open O_WRONLY euid=65534 caps=dac', await asUser(target, 65534, dac, () => openWrite(target)), 'EACCES');
      ctx.expectOutcome('sysctl open O_RDONLY euid=0 caps=no-dac', await withoutCaps(target, dac, () => openRead(target)), 'fd');
      ctx.expectOutcome('sysctl open O_WRONLY euid=0 caps=no-dac', await withoutCaps(target, dac, () => openWrite(target)), 'fd');
    } finally {
      await writeSysctl(target, saved);
    }
    await ctx.expectNoFdLeak('sysctl', fdsBefore);
    ctx.reportMetrics();
  },
});
