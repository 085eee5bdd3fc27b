// Suite exec: the errno rules of execve/execveat on non-regular files and
// noexec mounts (SPEC.md §4). Each exec runs in the exec-probe helper, so an
// exec the kernel wrongly allows replaces the helper, never this suite.
import { EXEC_ROWS, execCaseName, type ExecRow } from '../../fixtures/exec.js';
import { execProbeOutcome, runHelper } from '../../harness/helpers.js';
import { expectOutcome, gate } from '../../harness/suite.js';
import { suiteGate } from '../../fixtures/suites.js';
import * as sys from '../../harness/sys.js';
import { withWorkMount, type WorkMount } from '../../harness/workmount.js';

function runRow(row: ExecRow, m: WorkMount): string {
  if (row.object === 'socket-fd') {
    const s = sys.socket(sys.AF_UNIX, sys.SOCK_STREAM);
    if (!s.ok) throw new Error(`socket(AF_UNIX) failed: ${s.errno}`);
    try {
      // The socket becomes fd 3 of the helper.
      const flags = String(sys.AT.EMPTY_PATH);
      return execProbeOutcome(runHelper('exec-probe', ['execveat', '3', '', flags], [s.ret]));
    } finally {
      sys.close(s.ret);
    }
  }
  const path = m.paths[row.object];
  switch (row.via) {
    case 'execve':
      return execProbeOutcome(runHelper('exec-probe', ['execve', path]));
    case 'execveat':
      return execProbeOutcome(runHelper('exec-probe', ['execveat', 'cwd', path, '0']));
    case 'execveat(AT_SYMLINK_NOFOLLOW)':
      return execProbeOutcome(runHelper('exec-probe', ['execveat', 'cwd', path, String(sys.AT.SYMLINK_NOFOLLOW)]));
    case 'execveat(AT_EMPTY_PATH)':
      throw new Error('AT_EMPTY_PATH rows take a socket fd');
  }
}

if (gate(suiteGate('exec'))) {
  for (const row of EXEC_ROWS) {
    const actual = withWorkMount({ noexec: row.mount === 'noexec', mode: row.mode }, (m) => runRow(row, m));
    expectOutcome(execCaseName(row), actual, row.expected);
  }
}
