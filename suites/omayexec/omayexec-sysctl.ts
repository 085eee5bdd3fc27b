// Suite omayexec-sysctl: fs.open_mayexec_enforce itself (SPEC.md §2.1): the
// upstream access test, CAP_SYS_ADMIN checked at write time in the initial
// user namespace, a refused write changing nothing, reads needing no
// capability, the range, the file mode and who may open it. A case is a
// step of a batch: the switch into the state the case names, the
// open/write/read, the switch back, and the value read back; the steps of
// a group run in order in one round trip.
import { SYSCTL_VALUES } from '../../fixtures/dimensions.js';
import { CAP, capBit, O } from '../../harness/abi.js';
import { Batch } from '../../harness/batch.js';
import { calls, type CapSets } from '../../harness/calls.js';
import type { Call } from '../../harness/executor-protocol.js';
import { defineSuite } from '../../harness/define-suite.js';
import type { SuiteContext } from '../../harness/suite.js';
import { startState, sysctlOf } from '../../harness/suite-state.js';
import { MAYEXEC_SYSCTL, readSysctl, sysctlReadCalls, sysctlWriteCalls, writeSysctl } from '../../harness/sysctl.js';
import { openOutcome, TargetError, type SysResult, type Target } from '../../harness/target.js';

const CLONE_NEWUSER = 0x10000000;
const without = (caps: CapSets, ...drop: number[]): CapSets => ({ ...caps, effective: drop.reduce((e, c) => e & ~capBit(c), caps.effective) });

/** open O_RDONLY, read, close: the value is the read's output. */
const readCalls = (): Call[] => sysctlReadCalls(0);

function valueAt(rs: SysResult[], at: number): string {
  if (!rs[at]!.ok) return `open-${rs[at]!.errno}`;
  if (!rs[at + 1]!.ok) return `read-${rs[at + 1]!.errno}`;
  return rs[at + 1]!.outs[0]!.toString('utf8').trim();
}

/** open O_WRONLY, write, close as three outcomes. */
function writeOutcome(rs: SysResult[], at: number): { open: string; write: string } {
  if (!rs[at]!.ok) return { open: rs[at]!.errno ?? 'E?', write: 'not-reached' };
  return { open: 'fd', write: rs[at + 1]!.ok ? 'ok' : rs[at + 1]!.errno ?? 'E?' };
}

/** A step of a case batch: its calls are in the batch; read its outcome from the batch's results. */
type Read<T> = (rs: SysResult[]) => T;

/** Write `value` in capability state `state`, restore `caps`, read the value back. */
function writeIn(b: Batch, caps: CapSets, state: CapSets, value: string): Read<{ open: string; write: string; after: string }> {
  b.setCaps('case state', state);
  const w = b.add(...sysctlWriteCalls(value, 0));
  b.setCaps('restore', caps);
  const r = b.add(...readCalls());
  return (rs) => ({ ...writeOutcome(rs, w), after: valueAt(rs, r) });
}

/** The capability is counted when write() runs, not when the file was opened. */
function switchBetweenOpenAndWrite(b: Batch, caps: CapSets, openWith: CapSets, writeWith: CapSets, value: string): Read<{ write: string; after: string }> {
  b.setCaps('open state', openWith);
  const fd = b.must(`open O_WRONLY of ${MAYEXEC_SYSCTL}`, calls.open(MAYEXEC_SYSCTL, O.WRONLY | O.CLOEXEC));
  b.setCaps('write state', writeWith);
  const w = b.add(calls.write(b.resultOf(fd), value));
  b.add(calls.close(b.resultOf(fd)));
  b.setCaps('restore', caps);
  const r = b.add(...readCalls());
  return (rs) => ({ write: rs[w]!.ok ? 'ok' : rs[w]!.errno ?? 'E?', after: valueAt(rs, r) });
}

/** With a non-root euid and `raise` effective, open `flags`; back to euid 0 and `caps` in the same batch. */
function openAsUser(b: Batch, caps: CapSets, uid: number, raise: number[], flags: number): Read<string> {
  b.must(`setresuid to euid ${uid}`, calls.setresuid(-1, uid, -1));
  // Leaving euid 0 cleared the effective set; the permitted set is kept.
  const effective = raise.reduce((e, c) => e | capBit(c), 0n) & caps.permitted;
  b.setCaps('as the user', { ...caps, effective });
  const o = b.add(calls.open(MAYEXEC_SYSCTL, flags | O.CLOEXEC, 0, true));
  b.must('setresuid back to euid 0', calls.setresuid(-1, 0, -1));
  b.setCaps('restore', caps);
  return (rs) => openOutcome(rs[o]!);
}

function openIn(b: Batch, caps: CapSets, state: CapSets, flags: number): Read<string> {
  b.setCaps('case state', state);
  const o = b.add(calls.open(MAYEXEC_SYSCTL, flags | O.CLOEXEC, 0, true));
  b.setCaps('restore', caps);
  return (rs) => openOutcome(rs[o]!);
}

/** Write `value` then read it back. */
function writeThenRead(b: Batch, value: string): Read<{ write: string; after: string }> {
  const w = b.add(...sysctlWriteCalls(value, 0));
  const r = b.add(...readCalls());
  return (rs) => ({ write: writeOutcome(rs, w).write, after: valueAt(rs, r) });
}

/** A write that sets up the next cases: it must succeed. */
function setValue(b: Batch, value: number): void {
  b.must(`write ${value} to ${MAYEXEC_SYSCTL}`, ...sysctlWriteCalls(value, 0));
}

/** Root of a child user namespace (uid 0 mapped to 0) writes `value`: a forked child, so the namespace dies with it. */
async function writeFromUserNamespace(target: Target, value: string): Promise<{ write: string } | { unavailable: string }> {
  return target.withChild(async (child) => {
    const [ns] = await child.runAll([calls.unshare(CLONE_NEWUSER)]);
    if (!ns!.ok) return { unavailable: `unshare(CLONE_NEWUSER) -> ${ns!.errno}: kernel without CONFIG_USER_NS` };
    await child.mustAll('map uid 0 to 0 in the child user namespace', [
      calls.open('/proc/self/uid_map', O.WRONLY | O.CLOEXEC), calls.write({ result: 0 }, '0 0 1\n'), calls.close({ result: 0 }),
    ]);
    const rs = await child.runAll(sysctlWriteCalls(value, 0));
    return { write: writeOutcome(rs, 0).open === 'fd' ? writeOutcome(rs, 0).write : `open-${rs[0]!.errno}` };
  });
}

async function accessCases(ctx: SuiteContext, caps: CapSets): Promise<void> {
  const target = ctx.target;
  const noAdmin = without(caps, CAP.SYS_ADMIN);
  // One batch for the cases in this process, in this order: each starts
  // from the value the ones before left.
  const b = new Batch();
  // Upstream access test: with CAP_SYS_ADMIN the write succeeds; with it
  // cleared from the effective set, open still succeeds and write fails.
  const all = writeIn(b, caps, caps, '0');
  const same = writeIn(b, caps, noAdmin, '0');
  // A refused write of a different value changes nothing.
  const other = writeIn(b, caps, noAdmin, '1');
  // CAP_MAC_ADMIN is neither needed nor sufficient.
  const noMac = writeIn(b, caps, without(caps, CAP.MAC_ADMIN), '0');
  const macOnly = writeIn(b, caps, { ...caps, effective: capBit(CAP.MAC_ADMIN) }, '1');
  // Checked when write() runs.
  const dropped = switchBetweenOpenAndWrite(b, caps, caps, noAdmin, '1');
  const raised = switchBetweenOpenAndWrite(b, caps, noAdmin, caps, '1');
  setValue(b, 0);
  const rs = await b.run(target);
  ctx.expectOutcome('sysctl access caps=all open O_WRONLY', all(rs).open, 'fd');
  ctx.expectOutcome('sysctl access caps=all write "0"', all(rs).write, 'ok');
  ctx.expectOutcome('sysctl access caps=no-sys-admin open O_WRONLY', same(rs).open, 'fd');
  ctx.expectOutcome('sysctl access caps=no-sys-admin write "0"', same(rs).write, 'EPERM');
  ctx.expectOutcome('sysctl access caps=no-sys-admin write "1" over "0"', other(rs).write, 'EPERM');
  ctx.expectOutcome('sysctl access caps=no-sys-admin value after the refused write of "1"', other(rs).after, '0');
  ctx.expectOutcome('sysctl access caps=no-mac-admin write "0"', noMac(rs).write, 'ok');
  ctx.expectOutcome('sysctl access caps=mac-admin-only write "1" over "0"', macOnly(rs).write, 'EPERM');
  ctx.expectOutcome('sysctl access caps=mac-admin-only value after the refused write of "1"', macOnly(rs).after, '0');
  ctx.expectOutcome('sysctl access open with CAP_SYS_ADMIN, drop it, write "1"', dropped(rs).write, 'EPERM');
  ctx.expectOutcome('sysctl access value after the write refused at write time', dropped(rs).after, '0');
  ctx.expectOutcome('sysctl access open without CAP_SYS_ADMIN, raise it, write "1"', raised(rs).write, 'ok');
  ctx.expectOutcome('sysctl access value after the write allowed at write time', raised(rs).after, '1');
  // The initial user namespace's CAP_SYS_ADMIN, not the writer's own namespace's.
  const name = 'sysctl access write "1" as root of a child user namespace (uid 0 mapped to 0)';
  const ns = await writeFromUserNamespace(target, '1');
  if ('unavailable' in ns) ctx.skipCase(name, 'EPERM', ns.unavailable);
  else ctx.expectOutcome(name, ns.write, 'EPERM');
  ctx.expectOutcome('sysctl access value after the child user namespace wrote "1"', await readSysctl(target), '0');
}

async function rangeCases(ctx: SuiteContext): Promise<void> {
  const b = new Batch();
  const good = SYSCTL_VALUES.map(String).map((v) => ({ v, w: writeThenRead(b, v) }));
  setValue(b, 2);
  const bad = ['4', '-1', 'abc', '100'].map((v) => ({ v, w: writeThenRead(b, v) }));
  const nl = writeThenRead(b, '3\n');
  const rs = await b.run(ctx.target);
  for (const { v, w } of good) {
    ctx.expectOutcome(`sysctl range write "${v}"`, w(rs).write, 'ok');
    ctx.expectOutcome(`sysctl range read back after writing "${v}"`, w(rs).after, v);
  }
  for (const { v, w } of bad) {
    ctx.expectOutcome(`sysctl range write "${v}"`, w(rs).write, 'EINVAL');
    ctx.expectOutcome(`sysctl range value unchanged after writing "${v}"`, w(rs).after, '2');
  }
  ctx.expectOutcome('sysctl write "3\\n" (trailing newline)', nl(rs).write, 'ok');
  ctx.expectOutcome('sysctl read back after writing "3\\n"', nl(rs).after, '3');
}

async function openerCases(ctx: SuiteContext, caps: CapSets): Promise<void> {
  const b = new Batch();
  // Reading needs no capability beyond the file mode.
  setValue(b, 2);
  b.setCaps('no capabilities', { ...caps, effective: 0n });
  const r = b.add(...readCalls());
  b.setCaps('restore', caps);
  setValue(b, 0);
  // /proc/sys permission ignores capabilities: only euid 0 may open it.
  const dac = [CAP.DAC_OVERRIDE, CAP.DAC_READ_SEARCH];
  const noDac = without(caps, ...dac);
  const userRead = openAsUser(b, caps, 65534, dac, O.RDONLY);
  const userWrite = openAsUser(b, caps, 65534, dac, O.WRONLY);
  const rootRead = openIn(b, caps, noDac, O.RDONLY);
  const rootWrite = openIn(b, caps, noDac, O.WRONLY);
  const rs = await b.run(ctx.target);
  ctx.expectOutcome('sysctl read euid=0 caps=none (empty effective set) value', valueAt(rs, r), '2');
  ctx.expectOutcome('sysctl open O_RDONLY euid=65534 caps=dac', userRead(rs), 'EACCES');
  ctx.expectOutcome('sysctl open O_WRONLY euid=65534 caps=dac', userWrite(rs), 'EACCES');
  ctx.expectOutcome('sysctl open O_RDONLY euid=0 caps=no-dac', rootRead(rs), 'fd');
  ctx.expectOutcome('sysctl open O_WRONLY euid=0 caps=no-dac', rootWrite(rs), 'fd');
}

export default defineSuite(import.meta.url, {
  id: 'omayexec-sysctl',
  profile: 'omayexec-v7',
  needsRoot: true,
  kconfig: [
    { option: 'PROC_SYSCTL', why: 'fs.open_mayexec_enforce lives in /proc/sys' },
    { option: 'USER_NS', why: 'the write from a child user namespace (it SKIPs without)' },
  ],
  saveRestore: [MAYEXEC_SYSCTL],
  async run(ctx) {
    const target = ctx.target;
    const start = await startState(target);
    const { caps, fds: fdsBefore } = start;
    const saved = sysctlOf(start);
    try {
      if (ctx.freshBoot) ctx.expectOutcome('sysctl value after boot', saved, '0');
      else ctx.skipCase('sysctl value after boot', '0', 'not a fresh boot (direct mode): the value may have been set by the host');
      const st = await target.stat(MAYEXEC_SYSCTL);
      const mode = 'errno' in st ? st.errno : (st.mode & 0o777).toString(8).padStart(4, '0');
      ctx.expectOutcome('sysctl file mode of /proc/sys/fs/open_mayexec_enforce', mode, '0600');
      await writeSysctl(target, 0);
      await accessCases(ctx, caps);
      await rangeCases(ctx);
      await openerCases(ctx, caps);
    } finally {
      await writeSysctl(target, saved);
    }
    await ctx.expectNoFdLeak('sysctl', fdsBefore);
    ctx.reportMetrics();
  },
});
