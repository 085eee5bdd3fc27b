// Cached kernel images are verified before use (issue: a truncated cached
// kernel gave boot-failure on every run, forever, blaming the guest). A
// damaged reference image is rebuilt, a damaged Debian image fetched again,
// and the run that finds it passes.
import { spawnSync } from 'node:child_process';
import { truncateSync } from 'node:fs';
import t from 'tap';
import type { RunRecord } from '../vm/record.js';
import { latestRecord, runCli } from './fixtures/cli.js';

const skip = spawnSync('qemu-system-x86_64', ['--version']).error ? 'QEMU not installed' : false;

/** Not quiet: the tests read what the run says about the cache. */
function run(args: string[]): { status: number | null; record: RunRecord; stderr: string } {
  const r = runCli(['run', ...args, '--suite', 'exec'], { timeout: 40 * 60_000 });
  const record = latestRecord(r.resultsDir);
  if (!record) throw new Error(`run wrote no results.json (exit ${r.status}): ${r.stderr.trim().split('\n').pop()}`);
  return { status: r.status, record, stderr: r.stderr + r.stdout };
}

for (const [label, args] of [['reference 6.1', ['--reference', '6.1']], ['Debian 6.1', ['--debian', '6.1']]] as const) {
  t.test(`${label}: a truncated cached image is noticed and replaced`, { skip }, async (t) => {
    const first = run([...args]);
    t.equal(first.record.verdict, 'pass', `the cached kernel passes first (${first.record.why})`);
    const image = first.record.kernel.path!;
    truncateSync(image, 1_000_000);
    const again = run([...args]);
    t.match(again.stderr, /does not match/, 'the run says the cached image was damaged');
    t.equal(again.record.verdict, 'pass', `and passes with a replaced image (${again.record.why})`);
    t.equal(again.record.kernel.sha256, first.record.kernel.sha256, 'the same image as before the damage');
  });
}
