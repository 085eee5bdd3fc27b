// Suite omayexec-extra: the O_MAYEXEC cases upstream's selftest missed
// (SPEC.md §2, §2.3 bypass rule, §2.4 followed symlinks, §2.5).
import { AT, CAP, F_GETFL, O } from '../../harness/abi.js';
import { calls } from '../../harness/calls.js';
import { withoutCaps } from '../../harness/caps.js';
import { EXEC_UNDER_POLICY_ROWS, EXTRA_ROWS, extraCaseName, type ExtraRow, type FlagName } from '../../fixtures/omayexec-extra.js';
import { runExecProbes } from '../../harness/helpers.js';
import { defineSuite } from '../../harness/suite.js';
import { withSysctl } from '../../harness/sysctl.js';
import { openOutcome, type Target } from '../../harness/target.js';
import { withWorkMount, type WorkMount } from '../../harness/workmount.js';

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

/** A group id the suite's process does not hold. */
const FOREIGN_GID = 4242;

function flagsOf(row: ExtraRow): number {
  return row.flags.reduce((acc, f) => acc | FLAG[f], O.CLOEXEC | O.MAYEXEC);
}

const mayexecOpen = (target: Target, path: string, flags: number, mode = 0) =>
  target.run(calls.openat2(AT.FDCWD, path, { flags, mode }, true)).then(openOutcome);

/** Opens as the row says; returns the outcome (the fd is always closed). */
async function openRow(target: Target, row: ExtraRow, m: WorkMount): Promise<string> {
  const flags = flagsOf(row);
  switch (row.target) {
    case 'regular':
    case 'directory':
    case 'group-x-only':
      return mayexecOpen(target, m.paths[row.target === 'directory' ? 'directory' : 'regular'], flags);
    case 'symlink-followed':
      return mayexecOpen(target, m.paths.symlink, flags);
    case 'new-file':
      return mayexecOpen(target, `${m.dir}/created`, flags, row.mode);
    case 'tmpfile':
      return mayexecOpen(target, m.dir, flags, row.mode);
    case 'created-then-reopened': {
      const path = `${m.dir}/created-twice`;
      const first = await mayexecOpen(target, path, flags, row.mode);
      if (first !== 'fd') return `first-open-${first}`;
      return mayexecOpen(target, path, flags, row.mode);
    }
    case 'proc-self-status':
      return mayexecOpen(target, '/proc/self/status', flags);
  }
}

/** The open, then F_GETFL on its fd: is the bit still visible? */
async function flagVisible(target: Target, row: ExtraRow, m: WorkMount): Promise<string> {
  const [r, fl] = await target.runAll([
    calls.openat2(AT.FDCWD, m.paths.regular, { flags: flagsOf(row) }),
    calls.fcntl({ result: 0 }, F_GETFL),
    calls.close({ result: 0 }),
  ]);
  if (!r!.ok) return r!.errno ?? 'E?';
  if (!fl!.ok) return `F_GETFL-${fl!.errno}`;
  return (fl!.ret & O.MAYEXEC) !== 0 ? 'fd+O_MAYEXEC-in-F_GETFL' : 'fd-without-O_MAYEXEC-in-F_GETFL';
}

async function runRow(target: Target, row: ExtraRow, m: WorkMount): Promise<string> {
  if (row.target === 'group-x-only') await target.must('chown', calls.chown(m.paths.regular, 0, FOREIGN_GID));
  const open = () => (row.expected === 'fd+O_MAYEXEC-in-F_GETFL' ? flagVisible(target, row, m) : openRow(target, row, m));
  return withSysctl(target, row.sysctl, () => (row.caps === 'dac' ? open() : withoutCaps(target, [CAP.DAC_OVERRIDE, CAP.DAC_READ_SEARCH], open)));
}

export default defineSuite(import.meta.url, {
  id: 'omayexec-extra',
  profile: 'omayexec-v7',
  needsRoot: true,
  async run(ctx) {
    const target = ctx.target;
    const fdsBefore = await target.openFdCount();
    for (const row of EXTRA_ROWS) {
      const actual = await withWorkMount(target, { noexec: row.mount === 'noexec', mode: row.mode }, (m) => runRow(target, row, m));
      ctx.expectOutcome(extraCaseName(row), actual, row.expected);
    }
    for (const row of EXEC_UNDER_POLICY_ROWS) {
      const actual = await withWorkMount(target, { noexec: false, mode: row.mode }, (m) =>
        withSysctl(target, row.sysctl, async () => (await runExecProbes(target, [['execve', m.paths[row.object]]]))[0]!),
      );
      ctx.expectOutcome(`extra execve type=${row.object} mode=0${row.mode.toString(8)} sysctl=${row.sysctl} (exec ignores the policy)`, actual, row.expected);
    }
    await ctx.expectNoFdLeak('extra', fdsBefore);
    ctx.reportMetrics();
  },
});
