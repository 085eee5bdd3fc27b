// Suite exec: the errno rules of execve/execveat on non-regular files and
// noexec mounts (SPEC.md §4). Each exec runs in a child of the exec-probe
// helper, so an exec the kernel wrongly allows replaces that child, never
// this suite. Rows sharing a mount kind and mode share one work mount and one
// helper process.
import { EXEC_ROWS, execCaseName, type ExecRow } from '../../fixtures/exec.js';
import { suiteGate } from '../../fixtures/suites.js';
import { runExecProbes } from '../../harness/helpers.js';
import { expectOutcome, gate, reportMetrics } from '../../harness/suite.js';
import * as sys from '../../harness/sys.js';
import { withWorkMount, type WorkMount } from '../../harness/workmount.js';

/** The socket row's fd becomes fd 3 of the helper (and of its children). */
const SOCKET_FD_IN_HELPER = '3';

function probeFor(row: ExecRow, m: WorkMount): string[] {
  if (row.object === 'socket-fd') return ['execveat', SOCKET_FD_IN_HELPER, '', String(sys.AT.EMPTY_PATH)];
  const path = m.paths[row.object];
  switch (row.via) {
    case 'execve':
      return ['execve', path];
    case 'execveat':
      return ['execveat', 'cwd', path, '0'];
    case 'execveat(AT_SYMLINK_NOFOLLOW)':
      return ['execveat', 'cwd', path, String(sys.AT.SYMLINK_NOFOLLOW)];
    case 'execveat(AT_EMPTY_PATH)':
      throw new Error('AT_EMPTY_PATH rows take a socket fd');
  }
}

function runGroup(rows: ExecRow[], m: WorkMount): string[] {
  const s = sys.socket(sys.AF_UNIX, sys.SOCK_STREAM);
  if (!s.ok) throw new Error(`socket(AF_UNIX) failed: ${s.errno}`);
  try {
    return runExecProbes(rows.map((r) => probeFor(r, m)), [s.ret]);
  } finally {
    sys.close(s.ret);
  }
}

if (gate(suiteGate('exec'))) {
  const groups = new Map<string, ExecRow[]>();
  for (const row of EXEC_ROWS) {
    const key = `${row.mount}:${row.mode}`;
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  const actual = new Map<ExecRow, string>();
  let probeMs = 0;
  for (const rows of groups.values()) {
    const { mount, mode } = rows[0]!;
    const outcomes = withWorkMount({ noexec: mount === 'noexec', mode }, (m) => {
      const t0 = performance.now();
      const o = runGroup(rows, m);
      probeMs += performance.now() - t0;
      return o;
    });
    rows.forEach((r, i) => actual.set(r, outcomes[i]!));
  }
  // Report in table order.
  for (const row of EXEC_ROWS) expectOutcome(execCaseName(row), actual.get(row)!, row.expected);
  // One helper process per group, one fork + exec per probe.
  reportMetrics({ probes: EXEC_ROWS.length, helperRuns: groups.size, microsPerProbe: Math.round((probeMs * 1000) / EXEC_ROWS.length) });
}
