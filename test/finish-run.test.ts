// finishRun, the one way every run ends (VM, direct, ingested), on recorded
// streams without a boot: the verdict comes from what the stream shows, the
// input is not mutated, and a stream reporting a case twice is never a pass.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import tmp from 'tmp';
import { finishRun, type ObservedRun } from '../vm/finish-run.js';
import { runLines } from './fixtures/load.js';

tmp.setGracefulCleanup();

function observed(lines: string[], over: Partial<ObservedRun> = {}): ObservedRun {
  const root = tmp.dirSync({ unsafeCleanup: true }).name;
  process.env.OMAYEXEC_RESULTS = root;
  return {
    runId: 'r1', dir: root, mode: 'vm', lines, expect: [], overrides: {},
    fate: { killedFor: null, initReached: true, signs: [] },
    kernel: { path: null, sha256: null, release: null, source: 'recorded' },
    timings: { suites: 1 }, channel: 'virtio-serial', ...over,
  };
}

t.test('a recorded passing stream: verdict pass, folder written, input untouched', async (t) => {
  const lines = runLines('debian-6.1-pass.raw');
  const copy = [...lines];
  const o = observed(lines);
  const { record, dir } = finishRun(o);
  t.equal(record.verdict, 'pass', record.why);
  t.equal(record.channel, 'virtio-serial', 'the channel is recorded');
  t.same(lines, copy, 'the observed lines are not mutated');
  for (const f of ['results.json', 'results.ktap', 'junit.xml', 'kcidb.json', 'report.html', 'results.raw']) t.ok(readdirSync(dir).includes(f), `wrote ${f}`);
  t.equal(readFileSync(join(dir, 'results.raw'), 'utf8'), lines.join('\n') + '\n', 'results.raw is the stream as observed');
});

t.test('two runs mixed in one stream (cases twice): a harness error, never a pass', async (t) => {
  const lines = runLines('debian-6.1-pass.raw');
  const body = lines.filter((l) => !l.includes('"event":"start"') && !l.includes('"event":"end"'));
  const mixed = [...lines.slice(0, -1), ...body, lines[lines.length - 1]!];
  const { record } = finishRun(observed(mixed));
  t.equal(record.verdict, 'error');
  t.equal(record.exitCode, 6);
  t.match(record.why, /twice/);
});

t.test('an interrupted run or a broken session is never a pass', async (t) => {
  const lines = runLines('debian-6.1-pass.raw');
  t.match(finishRun(observed(lines, { interrupted: 'SIGTERM' })).record, { verdict: 'error', why: /interrupted by SIGTERM/ });
  t.match(finishRun(observed(lines, { sessionError: 'corrupt frame from the guest' })).record, { verdict: 'error', why: /corrupt frame/ });
  const requiredMissing = finishRun(observed(lines, { expect: ['omayexec-v7'] })).record;
  t.equal(requiredMissing.verdict, 'fail', 'a required profile absent fails');
});

t.test('run folders are created exclusively: a taken name is never reused', async (t) => {
  const root = tmp.dirSync({ unsafeCleanup: true }).name;
  process.env.OMAYEXEC_RESULTS = root;
  const { createRunDir, newRunId } = await import('../vm/results.js');
  // Another run (another pid namespace, same pid, same second) took the name.
  mkdirSync(join(root, newRunId()));
  const a = createRunDir();
  const b = createRunDir();
  t.not(a.dir, b.dir, 'two runs, two folders');
  t.equal(readdirSync(root).length, 3, 'the taken folder plus two new ones');
});
