// The STOP_ON_ERROR call flag (harness/executor/PROTOCOL.md) means the same
// through both backends: calls after a failed flagged call are not made and
// report ECANCELED; a failed call without the flag stops nothing. Real
// syscalls on this machine, as an unprivileged-safe sequence in a temp dir.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import tmp from 'tmp';
import { calls } from '../harness/calls.js';
import type { Call } from '../harness/executor-protocol.js';
import { FfiBackend } from '../harness/ffi-backend.js';
import { startLocalExecutor } from '../harness/local-executor.js';
import { Target } from '../harness/target.js';
import { projectRoot } from './fixtures/load.js';

const built = existsSync(join(projectRoot, 'dist/guest/executor')) ? false : 'not built (npm run build)';

function sequence(dir: string): Call[] {
  return [
    calls.mkdir(join(dir, 'a'), 0o700),
    // Fails (no such parent), without the flag: the batch goes on.
    calls.mkdir(join(dir, 'missing/b'), 0o700),
    calls.mkdir(join(dir, 'c'), 0o700),
    // Fails with the flag: nothing after it is made.
    { ...calls.mkdir(join(dir, 'missing/d'), 0o700), stopOnError: true },
    calls.mkdir(join(dir, 'e'), 0o700),
    calls.getpid(),
  ];
}

async function check(t: Test, target: Target): Promise<void> {
  const dir = tmp.dirSync({ unsafeCleanup: true });
  t.teardown(() => dir.removeCallback());
  const rs = await target.runAll(sequence(dir.name));
  t.same(rs.map((r) => (r.ok ? 'ok' : r.errno)), ['ok', 'ENOENT', 'ok', 'ENOENT', 'ECANCELED', 'ECANCELED']);
  t.ok(existsSync(join(dir.name, 'c')), 'the call after an unflagged failure was made');
  t.notOk(existsSync(join(dir.name, 'e')), 'the call after a flagged failure was not made');
}

t.test('ffi backend', async (t) => {
  await check(t, new Target(new FfiBackend()));
});

t.test('executor (a local child over pipes)', { skip: built }, async (t) => {
  const local = await startLocalExecutor();
  t.teardown(() => local.stop());
  await check(t, new Target(local.backend));
});
