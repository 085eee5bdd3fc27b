// Unit tests of the process helper (vm/process-lines.ts): lines of stdout
// and stderr whole and apart, the last unterminated line, UTF-8 split across
// chunks, exit status and signal, and a command that cannot start.
import t from 'tap';
import { HarnessError } from '../vm/errors.js';
import { runToEnd, spawnLines, type OutputStream } from '../vm/process-lines.js';

t.test('spawnLines: whole lines per stream, raw bytes, the last partial line, the exit status', async (t) => {
  const lines: [OutputStream, string][] = [];
  const chunks: Buffer[] = [];
  // printf pieces with pauses: lines and a multi-byte character arrive split over several chunks.
  const script = "printf 'one\\ntw'; sleep 0.1; printf 'o\\r\\n\\303'; sleep 0.1; printf '\\251t\\303\\251\\n'; printf 'oops\\n' >&2; printf 'no newline'; exit 3";
  const { child, ended } = spawnLines('sh', ['-c', script], {
    onLine: (line, from) => lines.push([from, line]),
    onChunk: (c, from) => from === 'stdout' && chunks.push(c),
  });
  t.ok(child.pid, 'the child is handed back');
  t.same(await ended, { code: 3, signal: null });
  t.same(lines.filter(([f]) => f === 'stdout').map(([, l]) => l), ['one', 'two', 'été', 'no newline'], 'stdout lines, \\r dropped, partial line last');
  t.same(lines.filter(([f]) => f === 'stderr').map(([, l]) => l), ['oops'], 'stderr apart');
  t.equal(Buffer.concat(chunks).toString('utf8'), 'one\ntwo\r\nété\nno newline', 'raw bytes unchanged');
});

t.test('spawnLines: stderr inherited is not read; a command that cannot start rejects', async (t) => {
  const lines: string[] = [];
  const { child, ended } = spawnLines('sh', ['-c', 'echo out; echo err >&2'], { stderr: 'inherit', onLine: (l) => lines.push(l) });
  t.equal(child.stderr, null);
  await ended;
  t.same(lines, ['out']);
  await t.rejects(spawnLines('/nonexistent/omx-no-such-command', []).ended, { code: 'ENOENT' });
});

t.test('runToEnd: status, tail, heartbeat, signal, cannot start', async (t) => {
  const seen: string[] = [];
  const beats: number[] = [];
  const r = await runToEnd('sh', ['-c', 'i=0; while [ $i -lt 70 ]; do echo line$i; i=$((i+1)); done; sleep 0.3; echo last >&2'], {
    onLine: (l) => seen.push(l),
    heartbeat: (s) => beats.push(s),
    heartbeatMs: 100,
  });
  t.equal(r.code, 0);
  t.equal(seen.length, 71, 'every line to onLine');
  t.equal(r.tail.length, 60, 'the last 60 lines kept');
  t.same(r.tail.slice(-2), ['line69', 'last']);
  t.ok(beats.length >= 1, `heartbeats while it ran (${beats.length})`);
  t.equal((await runToEnd('sh', ['-c', 'kill -9 $$'])).code, 128, 'killed by a signal: 128');
  const failed = await runToEnd('/nonexistent/omx-no-such-command', []).then(() => null, (e: unknown) => e);
  t.ok(failed instanceof HarnessError, 'a command that cannot start is a harness error');
  t.match((failed as Error).message, /^cannot run \/nonexistent\/omx-no-such-command: spawn .* ENOENT$/);
});
