// Parity of the two targets (DESIGN.md: the ffi target is the reference the
// executor is checked against): every suite that applies on this machine's
// kernel, run through koffi in-process and through the static executor as a
// local child, reports the same cases with the same outcomes.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { projectRoot } from './fixtures/load.js';

interface Reported {
  suite: string;
  exit: number;
  lines: string[];
}

const driver = join(projectRoot, 'dist/test/parity-driver.js');
const skip = process.getuid?.() !== 0 ? 'the suites need root' : !existsSync(join(projectRoot, 'dist/guest/executor')) ? 'not built' : false;

t.test('ffi and executor targets report the same cases and outcomes on this kernel', { skip }, async (t) => {
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', process.execPath, driver], { encoding: 'utf8', timeout: 300_000 });
  t.equal(r.status, 0, `driver exit 0 (${(r.stderr ?? '').trim().split('\n').pop()})`);
  const { ffi, executor } = JSON.parse(r.stdout) as { ffi: Reported[]; executor: Reported[] };
  t.same(executor.map((s) => s.suite), ffi.map((s) => s.suite), 'the same suites, in order');
  let cases = 0;
  for (const [i, f] of ffi.entries()) {
    const e = executor[i]!;
    // Case numbers and names with the outcome in them ("... -> EACCES"), line for line.
    t.same(e.lines, f.lines, `${f.suite}: same ${f.lines.length} TAP lines through both targets`);
    t.equal(e.exit, f.exit, `${f.suite}: same exit status (${f.exit})`);
    cases += f.lines.filter((l) => /^(ok|not ok) /.test(l) && !/# SKIP/.test(l)).length;
  }
  t.ok(cases > 100, `compared ${cases} executed cases`);
  t.ok(ffi.every((s) => s.exit === 0), `every suite passes through ffi (exits ${ffi.map((s) => `${s.suite}=${s.exit}`).join(' ')})`);
});
