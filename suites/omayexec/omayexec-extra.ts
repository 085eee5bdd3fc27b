// Suite omayexec-extra: the O_MAYEXEC cases upstream's selftest missed
// (SPEC.md §2, §2.3 bypass rule, §2.4 followed symlinks, §2.5).
import { AT, CAP, capBit, errnoName, F_GETFL, NR, O, S_IF } from '../../harness/abi.js';
import { calls, fileCalls, posixAclXattr, type CapSets } from '../../harness/calls.js';
import { checkCapSwitch } from '../../harness/caps.js';
import type { Call } from '../../harness/executor-protocol.js';
import { UNREGISTERED_MAJOR, UNREGISTERED_OBJECTS, unregisteredCaseName, unregisteredCaseParams, unregisteredExpected, type UnregisteredObject } from '../../fixtures/omayexec-extra.js';
import {
  CLASS_ROWS, CLASS_UID, classCaseName, classCaseParams, CREATE_EXPECTED, CREATE_KINDS, CREATE_MODE, createCaseName, createCaseParams, EXEC_UNDER_POLICY_ROWS, execUnderPolicyCaseName, execUnderPolicyParams,
  EXTRA_ROWS, extraCaseName, extraCaseParams, IO_URING_ROWS, ioUringCaseName, ioUringCaseParams, NODEV_EXPECTED, NODEV_OBJECTS, nodevCaseName, nodevCaseParams, type ExtraRow, type FlagName,
} from '../../fixtures/omayexec-extra.js';
import { MOUNT_KINDS, OPEN_PATHS, SYSCTL_VALUES, type CaseParams, type MountKind } from '../../fixtures/dimensions.js';
import { Batch } from '../../harness/batch.js';
import { openCall, selftestFlags } from '../../harness/opener.js';
import { runExecProbes, runPolicyHelper, sysctlArgs } from '../../harness/helpers.js';
import { defineSuite } from '../../harness/define-suite.js';
import { startState, sysctlOf } from '../../harness/suite-state.js';
import { MAYEXEC_SYSCTL, sysctlWriteCalls, withSysctl } from '../../harness/sysctl.js';
import { openOutcome, TargetError, type SysResult, type Target } from '../../harness/target.js';
import { inFreshWorkMount, scriptBody, withWorkMount, withWorkMounts, type WorkMount } from '../../harness/workmount.js';

type FreshMount = Omit<WorkMount, 'release'>;

/** One case of a batch of rows: its name, its params and what the kernel answered. */
interface RowOutcome { name: string; params: CaseParams; actual: string }

const FLAG: Record<FlagName, number> = {
  O_RDONLY: O.RDONLY,
  O_WRONLY: O.WRONLY,
  O_RDWR: O.RDWR,
  O_TRUNC: O.TRUNC,
  O_CREAT: O.CREAT,
  O_DIRECTORY: O.DIRECTORY,
  O_PATH: O.PATH,
  O_TMPFILE: O.TMPFILE,
};

const DAC_CAPS = capBit(CAP.DAC_OVERRIDE) | capBit(CAP.DAC_READ_SEARCH);

/** A group id the suite's process does not hold. */
const FOREIGN_GID = 4242;

function flagsOf(row: ExtraRow): number {
  return row.flags.reduce((acc, f) => acc | FLAG[f], O.CLOEXEC | O.MAYEXEC);
}

/** The open(s) of a row, as calls; `outcome` reads their results. */
function rowOpens(row: ExtraRow, m: FreshMount): { calls: Call[]; outcome: (rs: SysResult[]) => string } {
  const flags = flagsOf(row);
  const open = (path: string, mode = 0, close = true) => {
    if (row.via === 'open') return calls.open(path, flags, mode, close);
    if (row.via === 'openat') return calls.openat(AT.FDCWD, path, flags, mode, close);
    return calls.openat2(AT.FDCWD, path, { flags, mode }, close);
  };
  const one = (c: Call) => ({ calls: [c], outcome: (rs: SysResult[]) => openOutcome(rs[0]!) });
  if (row.expected.includes('F_GETFL')) {
    // The open, then F_GETFL on its fd: is the bit still visible?
    return {
      calls: [open(m.paths.regular, 0, false), calls.fcntl({ result: -1 }, F_GETFL), calls.close({ result: -1 })],
      outcome: ([r, fl]) => {
        if (!r!.ok) return r!.errno ?? 'E?';
        if (!fl!.ok) return `F_GETFL-${fl!.errno}`;
        return (fl!.ret & O.MAYEXEC) !== 0 ? 'fd+O_MAYEXEC-in-F_GETFL' : 'fd-without-O_MAYEXEC-in-F_GETFL';
      },
    };
  }
  switch (row.target) {
    case 'regular':
    case 'group-x-only':
      return one(open(m.paths.regular));
    case 'directory':
      return one(open(m.paths.directory));
    case 'symlink-followed':
      return one(open(m.paths.symlink));
    case 'new-file':
      return one(open(`${m.dir}/created`, row.mode));
    case 'tmpfile':
      return one(open(m.dir, row.mode));
    case 'created-then-reopened': {
      const path = `${m.dir}/created-twice`;
      return {
        calls: [open(path, row.mode), open(path, row.mode)],
        outcome: ([first, second]) => (first!.ok ? openOutcome(second!) : `first-open-${first!.errno}`),
      };
    }
    case 'proc-self-status':
      return one(open('/proc/self/status'));
  }
}

/** Give a RESULT of -1 (the batch's first call of this group) its place in the whole batch. */
function at(group: Call[], offset: number): Call[] {
  return group.map((c) => ({ ...c, args: c.args.map((a) => ('result' in a && a.result === -1 ? { result: offset } : a)) }));
}

/**
 * One row's calls and how to read their results: the sysctl value, the
 * capability drop (verified with capget), the open(s), the restores. Every
 * call runs even when an earlier one failed, so the restores always happen.
 */
function rowBatch(row: ExtraRow, m: FreshMount, caps: CapSets, saved: string): { batch: Call[]; read: (rs: SysResult[]) => string } {
  const batch: Call[] = [];
  if (row.target === 'group-x-only') batch.push(calls.chown(m.paths.regular, 0, FOREIGN_GID));
  const setAt = batch.length;
  batch.push(...sysctlWriteCalls(row.sysctl, setAt));
  const dropped = { ...caps, effective: caps.effective & ~(row.caps === 'no-dac' ? DAC_CAPS : capBit(CAP.DAC_OVERRIDE)) };
  const switched = row.caps !== 'dac';
  const dropAt = batch.length;
  if (switched) batch.push(calls.capset(dropped), calls.capget());
  const opens = rowOpens(row, m);
  const openAt = batch.length;
  batch.push(...at(opens.calls, openAt));
  const restoreAt = batch.length;
  if (switched) batch.push(calls.capset(caps), calls.capget());
  const backAt = batch.length;
  batch.push(...sysctlWriteCalls(saved, backAt));
  const read = (rs: SysResult[]) => {
    if (row.target === 'group-x-only' && !rs[0]!.ok) throw new TargetError(`chown to gid ${FOREIGN_GID} failed: ${rs[0]!.errno}`);
    if (!rs[setAt + 1]!.ok) throw new TargetError(`writing ${row.sysctl} to the sysctl failed: ${rs[setAt]!.errno ?? rs[setAt + 1]!.errno}`);
    if (!rs[backAt + 1]!.ok) throw new TargetError(`restoring the sysctl to ${saved} failed: ${rs[backAt]!.errno ?? rs[backAt + 1]!.errno}`);
    if (switched) {
      checkCapSwitch(`drop to ${row.caps}`, rs[dropAt]!, rs[dropAt + 1]!, dropped.effective);
      checkCapSwitch('restore', rs[restoreAt]!, rs[restoreAt + 1]!, caps.effective);
    }
    return opens.outcome(rs.slice(openAt, restoreAt));
  };
  return { batch, read };
}

/** The nodev rows: every sysctl value, both device types, the four open paths, in one batch. */
async function nodevOutcomes(target: Target, saved: string): Promise<RowOutcome[]> {
  const b = new Batch();
  const at: { name: string; params: CaseParams; i: number }[] = [];
  const rs = await inFreshWorkMount(target, { noexec: false, nodev: true, mode: 0o500 }, (m) => {
    for (const sysctl of SYSCTL_VALUES) {
      b.must('nodev rows: sysctl write', ...sysctlWriteCalls(sysctl, 0));
      for (const object of NODEV_OBJECTS) {
        for (const via of OPEN_PATHS) {
          at.push({ name: nodevCaseName(object, via, sysctl), params: nodevCaseParams(object, via, sysctl), i: b.add(openCall(via, m.paths[object], selftestFlags(false))) });
        }
      }
    }
    b.must('restoring the sysctl', ...sysctlWriteCalls(saved, 0));
    return b.calls;
  });
  b.check(rs);
  return at.map(({ name, params, i }) => ({ name, params, actual: openOutcome(rs[i]!) }));
}

/** Block and char nodes of an unregistered major, every sysctl value and open path, in one batch. */
async function unregisteredOutcomes(target: Target, saved: string): Promise<(RowOutcome & { expected: string })[]> {
  const b = new Batch();
  const at: { name: string; params: CaseParams; i: number; expected: string }[] = [];
  const rs = await inFreshWorkMount(target, { noexec: false, mode: 0o500 }, (m) => {
    const node = (o: UnregisteredObject) => `${m.dir}/${o}-${UNREGISTERED_MAJOR}-0`;
    for (const o of UNREGISTERED_OBJECTS) {
      b.must('unregistered-major rows: node', calls.mknod(node(o), (o === 'block' ? S_IF.BLK : S_IF.CHR) | 0o400, UNREGISTERED_MAJOR, 0), calls.chmod(node(o), 0o400));
    }
    for (const sysctl of SYSCTL_VALUES) {
      b.must('unregistered-major rows: sysctl write', ...sysctlWriteCalls(sysctl, 0));
      for (const o of UNREGISTERED_OBJECTS) {
        for (const via of OPEN_PATHS) {
          const i = b.add(openCall(via, node(o), selftestFlags(false)));
          at.push({ name: unregisteredCaseName(o, via, sysctl), params: unregisteredCaseParams(o, via, sysctl), i, expected: unregisteredExpected(o, via, sysctl) });
        }
      }
    }
    b.must('restoring the sysctl', ...sysctlWriteCalls(saved, 0));
    return b.calls;
  });
  b.check(rs);
  return at.map(({ name, params, i, expected }) => ({ name, params, actual: openOutcome(rs[i]!), expected }));
}

/** The creation rows of one mount kind: every sysctl value and both kinds, in one batch. */
async function createOutcomes(target: Target, mount: MountKind, saved: string): Promise<RowOutcome[]> {
  const b = new Batch();
  const at: { name: string; params: CaseParams; i: number }[] = [];
  const rs = await inFreshWorkMount(target, { noexec: mount === 'noexec', mode: 0o500 }, (m) => {
    for (const sysctl of SYSCTL_VALUES) {
      b.must('creation rows: sysctl write', ...sysctlWriteCalls(sysctl, 0));
      for (const kind of CREATE_KINDS) {
        const [path, flags] = kind === 'O_TMPFILE' ? [m.dir, O.RDWR | O.TMPFILE] : [`${m.dir}/created-${sysctl}`, O.RDWR | O.CREAT | O.EXCL];
        const i = b.add(calls.openat2(AT.FDCWD, path, { flags: flags | O.MAYEXEC | O.CLOEXEC, mode: CREATE_MODE }, true));
        at.push({ name: createCaseName(kind, mount, sysctl), params: createCaseParams(kind, mount, sysctl), i });
      }
    }
    b.must('restoring the sysctl', ...sysctlWriteCalls(saved, 0));
    return b.calls;
  });
  b.check(rs);
  return at.map(({ name, params, i }) => ({ name, params, actual: openOutcome(rs[i]!) }));
}

/**
 * The class rows (SPEC.md §2.2 rule 5), all in one work mount and one batch:
 * the files with their owners, modes and ACLs, then per sysctl value each
 * row's identity switch (verified with capget), its open, and the way back.
 */
async function classOutcomes(target: Target, caps: CapSets, saved: string): Promise<string[]> {
  const b = new Batch();
  const opens: number[] = [];
  // 13 files: more than SPEC's 4k tmpfs holds.
  const rs = await inFreshWorkMount(target, { noexec: false, mode: 0o500, size: '64k' }, (m) => {
    b.must('class rows: setup', calls.chmod(m.dir, 0o755));
    const file = (i: number) => `${m.dir}/class-${i}`;
    CLASS_ROWS.forEach((r, i) => {
      b.must('class rows: setup', ...fileCalls(file(i), scriptBody(target), r.mode));
      b.must('class rows: setup', calls.chown(file(i), r.owner.uid, r.owner.gid), calls.chmod(file(i), r.mode));
      if (r.aclUser !== undefined) {
        const acl = posixAclXattr([
          { tag: 'user_obj', perm: (r.mode >> 6) & 7 }, { tag: 'user', id: CLASS_UID, perm: r.aclUser },
          { tag: 'group_obj', perm: (r.mode >> 3) & 7 }, { tag: 'mask', perm: 0o5 }, { tag: 'other', perm: r.mode & 7 },
        ]);
        b.must('class rows: setup', calls.setxattr(file(i), 'system.posix_acl_access', acl));
      }
    });
    const noDac = { ...caps, effective: caps.effective & ~DAC_CAPS };
    for (const sysctl of [...new Set(CLASS_ROWS.map((r) => r.sysctl))]) {
      b.must('class rows: sysctl write', ...sysctlWriteCalls(sysctl, 0));
      CLASS_ROWS.forEach((r, i) => {
        if (r.sysctl !== sysctl) return;
        if (r.who === 'root-no-dac') {
          b.setCaps('drop DAC capabilities', noDac);
          opens[i] = b.add(calls.openat2(AT.FDCWD, file(i), { flags: O.RDONLY | O.CLOEXEC | O.MAYEXEC }, true));
        } else {
          b.must('class rows: setresuid', calls.setresuid(-1, CLASS_UID, -1));
          b.setCaps(`as euid ${CLASS_UID}`, { ...caps, effective: 0n });
          opens[i] = b.add(calls.openat2(AT.FDCWD, file(i), { flags: O.RDONLY | O.CLOEXEC | O.MAYEXEC }, true));
          b.must('class rows: setresuid', calls.setresuid(-1, 0, -1));
        }
        b.setCaps('restore', caps);
      });
    }
    b.must('restoring the sysctl', ...sysctlWriteCalls(saved, 0));
    return b.calls;
  });
  b.check(rs);
  return CLASS_ROWS.map((_, i) => openOutcome(rs[opens[i]!]!));
}

/** The io_uring rows: both mounts at once, one helper run switching the policy between rows; or why the kernel cannot run them. */
async function ioUringOutcomes(target: Target): Promise<{ outcomes: string[] } | { unavailable: string }> {
  const kinds = [...new Set(IO_URING_ROWS.map((r) => `${r.mount}:${r.mode}`))];
  const opts = kinds.map((k) => ({ noexec: k.startsWith('noexec'), mode: Number(k.split(':')[1]) }));
  return withWorkMounts(target, opts, async (ms) => {
    const flags = `0x${(O.RDONLY | O.CLOEXEC | O.MAYEXEC).toString(16)}`;
    const args = IO_URING_ROWS.flatMap((r) => [...sysctlArgs(r.sysctl), r.op, flags, ms[kinds.indexOf(`${r.mount}:${r.mode}`)]!.paths[r.object]]);
    const out = (await runPolicyHelper(target, 'iouring-open', args)).stdout;
    const setup = /^SETUP (\d+)$/m.exec(out);
    if (setup) return { unavailable: `io_uring_setup -> ${errnoName(Number(setup[1]))}: CONFIG_IO_URING off or kernel.io_uring_disabled set` };
    const res = out.split('\n').filter((l) => l.startsWith('RES '));
    const outcomes = IO_URING_ROWS.map((_, k) => {
      const v = res[k] === undefined ? NaN : Number(res[k]!.slice(4));
      return Number.isNaN(v) ? `UNKNOWN(${JSON.stringify(out.slice(0, 60))})` : v >= 0 ? 'fd' : errnoName(-v);
    });
    return { outcomes };
  });
}

/** A row in a fresh work mount of its own: one round trip (inFreshWorkMount). */
async function runRow(target: Target, row: ExtraRow, caps: CapSets, saved: string): Promise<string> {
  let read: ((rs: SysResult[]) => string) | null = null;
  const rs = await inFreshWorkMount(target, { noexec: row.mount === 'noexec', mode: row.mode }, (m) => {
    const built = rowBatch(row, m, caps, saved);
    read = built.read;
    return built.batch;
  });
  return read!(rs);
}

export default defineSuite(import.meta.url, {
  id: 'omayexec-extra',
  profile: 'omayexec-v7',
  needsRoot: true,
  kconfig: [
    { option: 'PROC_SYSCTL', why: 'fs.open_mayexec_enforce lives in /proc/sys' },
    { option: 'TMPFS_POSIX_ACL', why: 'the class rows set a POSIX ACL on tmpfs' },
    { option: 'IO_URING', why: 'the io_uring rows (they SKIP without it)' },
    { option: 'BINFMT_SCRIPT', why: 'exec under the policy runs a #! script' },
  ],
  saveRestore: [MAYEXEC_SYSCTL],
  async run(ctx) {
    const target = ctx.target;
    const start = await startState(target);
    const { caps, fds: fdsBefore } = start;
    const saved = sysctlOf(start);
    for (const row of EXTRA_ROWS) {
      const actual = await runRow(target, row, caps, saved);
      ctx.expectOutcome(extraCaseName(row), actual, row.expected, extraCaseParams(row));
    }
    for (const o of await nodevOutcomes(target, saved)) ctx.expectOutcome(o.name, o.actual, NODEV_EXPECTED, o.params);
    for (const o of await unregisteredOutcomes(target, saved)) ctx.expectOutcome(o.name, o.actual, o.expected, o.params);
    const uring = await ioUringOutcomes(target);
    IO_URING_ROWS.forEach((r, i) => {
      if ('unavailable' in uring) ctx.skipCase(ioUringCaseName(r), r.expected, uring.unavailable, ioUringCaseParams(r));
      else ctx.expectOutcome(ioUringCaseName(r), uring.outcomes[i]!, r.expected, ioUringCaseParams(r));
    });
    const classes = await classOutcomes(target, caps, saved);
    CLASS_ROWS.forEach((r, i) => ctx.expectOutcome(classCaseName(r), classes[i]!, r.expected, classCaseParams(r)));
    for (const mount of MOUNT_KINDS) {
      for (const o of await createOutcomes(target, mount, saved)) ctx.expectOutcome(o.name, o.actual, CREATE_EXPECTED, o.params);
    }
    // Both exec rows in one work mount and one helper run, under their policy value.
    for (const sysctl of [...new Set(EXEC_UNDER_POLICY_ROWS.map((r) => r.sysctl))]) {
      const rows = EXEC_UNDER_POLICY_ROWS.filter((r) => r.sysctl === sysctl);
      for (const mode of [...new Set(rows.map((r) => r.mode))]) {
        const same = rows.filter((r) => r.mode === mode);
        const got = await withWorkMount(target, { noexec: false, mode }, (m) =>
          withSysctl(target, sysctl, () => runExecProbes(target, same.map((r) => ['execve', m.paths[r.object]]))),
        );
        same.forEach((row, i) => ctx.expectOutcome(execUnderPolicyCaseName(row), got[i]!, row.expected, execUnderPolicyParams(row)));
      }
    }
    await ctx.expectNoFdLeak('extra', fdsBefore);
    ctx.reportMetrics();
  },
});
