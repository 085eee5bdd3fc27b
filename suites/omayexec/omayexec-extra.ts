// Suite omayexec-extra: the O_MAYEXEC cases upstream's selftest missed
// (SPEC.md §2, §2.3 bypass rule, §2.4 followed symlinks, §2.5).
import { chownSync } from 'node:fs';
import { join } from 'node:path';
import { EXEC_UNDER_POLICY_ROWS, EXTRA_ROWS, extraCaseName, type ExtraRow, type FlagName } from '../../fixtures/omayexec-extra.js';
import { runExecProbes } from '../../harness/helpers.js';
import { outcomeOf } from '../../harness/opener.js';
import { expectOutcome, gate, openFdCount, reportMetrics } from '../../harness/suite.js';
import { suiteGate } from '../../fixtures/suites.js';
import { withSysctl } from '../../harness/sysctl.js';
import * as sys from '../../harness/sys.js';
import { withWorkMount, type WorkMount } from '../../harness/workmount.js';

const FLAG: Record<FlagName, number> = {
  O_RDONLY: sys.O.RDONLY,
  O_WRONLY: sys.O.WRONLY,
  O_RDWR: sys.O.RDWR,
  O_TRUNC: sys.O.TRUNC,
  O_CREAT: sys.O.CREAT,
  O_DIRECTORY: sys.O.DIRECTORY,
  O_PATH: sys.O.PATH,
  O_TMPFILE: sys.O.TMPFILE,
};

/** A group id the suite's process does not hold. */
const FOREIGN_GID = 4242;

function flagsOf(row: ExtraRow): number {
  return row.flags.reduce((acc, f) => acc | FLAG[f], sys.O.CLOEXEC | sys.O.MAYEXEC);
}

const mayexecOpen = (path: string, flags: number, mode = 0) => sys.openat2(sys.AT.FDCWD, path, { flags, mode });

/** Opens as the row says; returns the outcome (the fd is always closed). */
function openRow(row: ExtraRow, m: WorkMount): string {
  const flags = flagsOf(row);
  switch (row.target) {
    case 'regular':
    case 'directory':
    case 'group-x-only':
      return outcomeOf(mayexecOpen(m.paths[row.target === 'directory' ? 'directory' : 'regular'], flags));
    case 'symlink-followed':
      return outcomeOf(mayexecOpen(m.paths.symlink, flags));
    case 'new-file':
      return outcomeOf(mayexecOpen(join(m.dir, 'created'), flags, row.mode));
    case 'tmpfile':
      return outcomeOf(mayexecOpen(m.dir, flags, row.mode));
    case 'created-then-reopened': {
      const path = join(m.dir, 'created-twice');
      const first = outcomeOf(mayexecOpen(path, flags, row.mode));
      if (first !== 'fd') return `first-open-${first}`;
      return outcomeOf(mayexecOpen(path, flags, row.mode));
    }
    case 'proc-self-status':
      return outcomeOf(mayexecOpen('/proc/self/status', flags));
  }
}

function runRow(row: ExtraRow, m: WorkMount): string {
  if (row.target === 'group-x-only') chownSync(m.paths.regular, 0, FOREIGN_GID);
  const open = () => {
    if (row.expected !== 'fd+O_MAYEXEC-in-F_GETFL') return openRow(row, m);
    const r = mayexecOpen(m.paths.regular, flagsOf(row));
    if (!r.ok) return r.errno ?? 'E?';
    const fl = sys.fcntl(r.ret, sys.F_GETFL);
    sys.close(r.ret);
    if (!fl.ok) return `F_GETFL-${fl.errno}`;
    return (fl.ret & sys.O.MAYEXEC) !== 0 ? 'fd+O_MAYEXEC-in-F_GETFL' : 'fd-without-O_MAYEXEC-in-F_GETFL';
  };
  return withSysctl(row.sysctl, () =>
    row.caps === 'dac' ? open() : sys.withoutEffectiveCaps([sys.CAP.DAC_OVERRIDE, sys.CAP.DAC_READ_SEARCH], open),
  );
}

if (gate(suiteGate('omayexec-extra'))) {
  const fdsBefore = openFdCount();
  for (const row of EXTRA_ROWS) {
    const actual = withWorkMount({ noexec: row.mount === 'noexec', mode: row.mode }, (m) => runRow(row, m));
    expectOutcome(extraCaseName(row), actual, row.expected);
  }
  for (const row of EXEC_UNDER_POLICY_ROWS) {
    const actual = withWorkMount({ noexec: false, mode: row.mode }, (m) =>
      withSysctl(row.sysctl, () => runExecProbes([['execve', m.paths[row.object]]])[0]!),
    );
    expectOutcome(`extra execve type=${row.object} mode=0${row.mode.toString(8)} sysctl=${row.sysctl} (exec ignores the policy)`, actual, row.expected);
  }
  expectOutcome('extra no fd leaked by the suite (open fds before/after)', String(openFdCount()), String(fdsBefore));
  reportMetrics();
}
