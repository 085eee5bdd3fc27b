// `pack` as a board user meets it: unpack the bundle somewhere else, run its
// run_omayexec.sh on this machine's kernel with the machine's node, ingest
// the output. Every suite the build bundled must be in the stream.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import tmp from 'tmp';
import { bundledSuites } from '../vm/run.js';
import { freshResultsDir, runCli } from './fixtures/cli.js';
import { projectRoot } from './fixtures/load.js';

const skip = process.getuid?.() !== 0 ? 'the bundle runs the suites as root' : !existsSync(join(projectRoot, 'dist/board/suites.json')) ? 'not built' : false;

t.test('pack -> run_omayexec.sh elsewhere -> ingest: every bundled suite reported, verdict pass', { skip }, async (t) => {
  const dir = tmp.dirSync({ unsafeCleanup: true, prefix: 'omx-pack-' }).name;
  const results = freshResultsDir('omx-pack-results-');
  const env = { OMAYEXEC_RESULTS: results };
  const packed = runCli(['pack', '-o', join(dir, 'b.tar.gz')], { env });
  t.equal(packed.status, 0, `pack exit 0 (${packed.stderr.trim()})`);
  t.equal(spawnSync('tar', ['xzf', 'b.tar.gz'], { cwd: dir }).status, 0, 'the bundle unpacks');
  const ran = spawnSync(join(dir, 'omayexec-conformance/run_omayexec.sh'), [], { cwd: dir, encoding: 'utf8', timeout: 300_000 });
  t.equal(ran.status, 0, `run_omayexec.sh exit 0 (${ran.stderr.trim().split('\n').pop()})`);
  writeFileSync(join(dir, 'omayexec.raw'), ran.stdout);
  const ingested = runCli(['ingest', join(dir, 'omayexec.raw')], { env });
  t.equal(ingested.status, 0, 'ingest: verdict pass (exit 0)');
  const record = JSON.parse(readFileSync(join(results, 'latest', 'results.json'), 'utf8')) as { verdict: string; suites: { id: string }[] };
  t.equal(record.verdict, 'pass');
  t.same(record.suites.map((s) => s.id).filter((id) => id !== 'profiles').sort(), bundledSuites().sort(), 'every bundled suite is in the stream');
});

t.test('pack -o into a missing folder is bad input; onto a full disk it leaves no truncated bundle', { skip }, async (t) => {
  const missing = runCli(['pack', '-o', '/nonexistent-omx/dir/x.tgz']);
  t.equal(missing.status, 2, 'exit 2');
  t.match(missing.stderr, /^omayexec-conformance: pack -o \/nonexistent-omx\/dir\/x\.tgz: \/nonexistent-omx\/dir is not a directory\n$/, 'one line naming the folder');
  const tiny = tmp.dirSync({ unsafeCleanup: true, prefix: 'omx-full-' }).name;
  t.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'omx-full', tiny]).status, 0, 'a 64 KB tmpfs');
  try {
    const full = runCli(['pack', '-o', join(tiny, 'b.tar.gz')]);
    t.equal(full.status, 6, 'exit 6');
    t.equal(full.stderr.trim().split('\n').length, 1, `one line (${full.stderr.trim()})`);
    t.same(readdirSync(tiny), [], 'nothing left on the full disk, no bundle under the name asked for');
  } finally {
    spawnSync('umount', [tiny]);
  }
});
