// Suite exec: the errno rules of execve/execveat on non-regular files and
// noexec mounts (SPEC.md §4). Each exec runs in a child of the exec-probe
// helper, so an exec the kernel wrongly allows replaces that child, never
// the executor. Rows sharing a mount kind and mode share one work mount;
// all the mounts exist at once and one helper process runs every probe.
import { AF_UNIX, AT, SOCK_STREAM } from '../../harness/abi.js';
import { calls } from '../../harness/calls.js';
import { EXEC_ROWS, execCaseName, execCaseParams, type ExecRow } from '../../fixtures/exec.js';
import { runExecProbes } from '../../harness/helpers.js';
import { defineSuite } from '../../harness/define-suite.js';
import type { Target } from '../../harness/target.js';
import { withWorkMounts, type WorkMount } from '../../harness/workmount.js';

/** The socket row's fd becomes fd 3 of the helper (and of its children). */
const SOCKET_FD_IN_HELPER = '3';

function probeFor(row: ExecRow, m: WorkMount): string[] {
  if (row.object === 'socket-fd') return ['execveat', SOCKET_FD_IN_HELPER, '', String(AT.EMPTY_PATH)];
  const path = m.paths[row.object];
  switch (row.via) {
    case 'execve':
      return ['execve', path];
    case 'execveat':
      return ['execveat', 'cwd', path, '0'];
    case 'execveat(AT_SYMLINK_NOFOLLOW)':
      return ['execveat', 'cwd', path, String(AT.SYMLINK_NOFOLLOW)];
    case 'execveat(AT_EMPTY_PATH)':
      throw new Error('AT_EMPTY_PATH rows take a socket fd');
  }
}

async function runProbes(target: Target, probes: string[][]): Promise<string[]> {
  const s = await target.must('socket(AF_UNIX)', calls.socket(AF_UNIX, SOCK_STREAM));
  try {
    return await runExecProbes(target, probes, [s.ret]);
  } finally {
    await target.run(calls.close(s.ret));
  }
}

export default defineSuite(import.meta.url, {
  id: 'exec',
  profile: 'exec-cleanups',
  needsRoot: true,
  kconfig: [
    { option: 'BINFMT_SCRIPT', why: 'rows that execute a #! script' },
    { option: 'UNIX', why: 'the row that execs through an AF_UNIX socket fd' },
  ],
  async run(ctx) {
    const target = ctx.target;
    const fdsBefore = await target.openFdCount();
    const groups = new Map<string, ExecRow[]>();
    for (const row of EXEC_ROWS) {
      const key = `${row.mount}:${row.mode}`;
      groups.set(key, [...(groups.get(key) ?? []), row]);
    }
    const grouped = [...groups.values()];
    const opts = grouped.map((rows) => ({ noexec: rows[0]!.mount === 'noexec', mode: rows[0]!.mode }));
    let probeMs = 0;
    const outcomes = await withWorkMounts(target, opts, async (ms) => {
      const probes = grouped.flatMap((rows, g) => rows.map((r) => probeFor(r, ms[g]!)));
      const t0 = performance.now();
      const o = await runProbes(target, probes);
      probeMs = performance.now() - t0;
      return o;
    });
    const actual = new Map<ExecRow, string>(grouped.flat().map((r, i) => [r, outcomes[i]!]));
    // Report in table order.
    for (const row of EXEC_ROWS) ctx.expectOutcome(execCaseName(row), actual.get(row)!, row.expected, execCaseParams(row));
    await ctx.expectNoFdLeak('exec', fdsBefore);
    // One helper process, one fork + exec per probe.
    ctx.reportMetrics({ probes: EXEC_ROWS.length, mounts: groups.size, microsPerProbe: Math.round((probeMs * 1000) / EXEC_ROWS.length) });
  },
});
