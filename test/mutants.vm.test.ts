// Two fault-injected reference kernels, end to end through the CLI: each is
// built incrementally on the cached reference tree, booted and verified; the
// suite must kill both, with cases that name the broken rule. (The full set
// runs with `omayexec-conformance mutants`; see the README.)
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { MutantResult } from '../vm/mutants.js';
import { runCli } from './fixtures/cli.js';

t.test('mutants: directory EACCES and ignored mount bit are killed', async (t) => {
  const r = runCli(['mutants', '--series', '6.1', '--only', 'dir-eacces', '--only', 'mount-bit-ignored', '--quiet'], { timeout: 40 * 60_000 });
  const results = r.resultsDir;
  t.equal(r.status, 0, `exit 0: every fault killed, reference passing\n${r.stdout}\n${r.stderr}`);
  const dir = readdirSync(results).find((d) => d.endsWith('-mutants'));
  t.ok(dir, 'a mutants run folder was written');
  const summary = JSON.parse(readFileSync(join(results, dir!, 'mutants.json'), 'utf8')) as { reference: { verdict: string }; results: MutantResult[] };
  t.equal(summary.reference.verdict, 'pass', 'the reference kernel passes in the same run');
  const byName = new Map(summary.results.map((m) => [m.fault, m]));
  const dirFault = byName.get('dir-eacces');
  t.equal(dirFault?.killed, true, 'dir-eacces killed');
  t.ok(dirFault?.killedBy.some((id) => /type=directory via=openat2\+O_MAYEXEC .*-> EISDIR/.test(id)), 'by a directory + O_MAYEXEC -> EISDIR case');
  const mountFault = byName.get('mount-bit-ignored');
  t.equal(mountFault?.killed, true, 'mount-bit-ignored killed');
  t.ok(mountFault?.killedBy.some((id) => /sysctl=1 mount=noexec .*type=regular via=openat2\+O_MAYEXEC .*-> EACCES/.test(id)), 'by a sysctl=1 noexec regular-file case');
  t.match(r.stdout, /2\/2 faults killed/);
});
