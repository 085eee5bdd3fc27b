// Two real runs started at once in separate pid namespaces (both CLIs are
// pid 1 there: their run ids are the same second and the same pid) sharing
// one results folder: a passing kernel and a kernel that fails cases. Each
// run must get a folder of its own and its own verdict (it used to be one
// folder, one mixed stream, and both "pass").
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import tmp from 'tmp';
import { buildKernel } from '../vm/kernel/build.js';
import type { RunRecord } from '../vm/record.js';
import { spawnCli } from './fixtures/cli.js';
import { projectRoot } from './fixtures/load.js';

const skip = process.getuid?.() !== 0 ? 'unshare -p needs root' : false;

function runInPidNamespace(kernel: string, results: string): Promise<number | null> {
  const { child } = spawnCli(['run', '--kernel', kernel, '--suite', 'omayexec-policy', '--quiet'], {
    wrap: ['unshare', '--pid', '--fork', '--mount-proc'], env: { OMAYEXEC_RESULTS: results },
  });
  return new Promise((resolve) => child.on('close', (code) => resolve(code)));
}

t.test('two runs in separate pid namespaces, one results folder: two folders, two verdicts', { skip }, async (t) => {
  const good = await buildKernel({ series: '6.1', patches: 'omayexec-v7' });
  const bad = await buildKernel({ series: '6.1', patches: 'omayexec-v7', extraPatches: [join(projectRoot, 'vm/kernel/faults/6.1/dir-eacces.patch')] });
  const results = tmp.dirSync({ unsafeCleanup: true }).name;
  const [goodExit, badExit] = await Promise.all([runInPidNamespace(good.image, results), runInPidNamespace(bad.image, results)]);
  const folders = readdirSync(results).filter((d) => d !== 'latest');
  t.equal(folders.length, 2, `two run folders (${folders.join(', ')})`);
  const records = folders.map((d) => JSON.parse(readFileSync(join(results, d, 'results.json'), 'utf8')) as RunRecord);
  const byImage = new Map(records.map((r) => [r.kernel.path, r]));
  const g = byImage.get(good.image);
  const b = byImage.get(bad.image);
  t.equal(g?.verdict, 'pass', `the reference kernel passes (${g?.why})`);
  t.equal(b?.verdict, 'fail', `the dir-eacces kernel fails (${b?.why})`);
  t.equal(goodExit, 0, 'exit 0 for the passing kernel');
  t.equal(badExit, 1, 'exit 1 for the failing kernel');
  t.equal(g?.totals.pass, 897, 'the passing run holds its own 897 cases, no more');
  t.ok((b?.totals.fail ?? 0) > 0 && (b?.totals.pass ?? 0) + (b?.totals.fail ?? 0) === 897, 'the failing run holds its own 897 cases');
});
