// The QEMU launcher (vm/qemu.ts startQemu) against a fake
// qemu-system-x86_64 on PATH, a shell script: nothing boots. Console lines
// are scanned and copied byte for byte, a QEMU that dies before printing
// anything is a harness error naming its last stderr line, and the boot
// timeout kills a guest that never gets ready.
import t from 'tap';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HarnessError } from '../vm/errors.js';
import { qemuArgs, startQemu, type QemuOptions } from '../vm/qemu.js';

const dir = mkdtempSync(join(tmpdir(), 'omx-fake-qemu-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const bin = join(dir, 'bin');
mkdirSync(bin);
process.env.PATH = `${bin}:${process.env.PATH ?? ''}`;

/** `-object help` (the launcher's probe for the memfd RAM backend) prints `objects`, one a line, and exits. */
function fakeQemu(script: string, objects: string[] = []): void {
  const path = join(bin, 'qemu-system-x86_64');
  const probe = `if [ "$1 $2" = "-object help" ]; then printf '${objects.map((o) => `${o}\\n`).join('')}'; exit 0; fi`;
  writeFileSync(path, `#!/bin/sh\n${probe}\n${script}\n`);
  chmodSync(path, 0o755);
}

function options(name: string, over: Partial<QemuOptions> = {}): QemuOptions {
  const run = mkdtempSync(join(dir, `${name}-`));
  return {
    kernel: join(run, 'bzImage'),
    initrd: join(run, 'initrd'),
    append: 'console=ttyS0',
    arch: 'x86_64',
    accel: 'tcg',
    consoleLog: join(run, 'console.log'),
    channelDir: run,
    bootTimeoutSec: 30,
    runTimeoutSec: 30,
    resultLineCount: () => 7,
    ...over,
  };
}

t.test('console: lines scanned (init reached, a warning), stdout and stderr copied to console.log', async (t) => {
  fakeQemu(
    "printf 'Linux version 6.1\\r\\nOMX-CONSOLE init reached uptime=1.25\\n'; sleep 0.1; " +
      "printf 'WARNING: CPU: 0 PID: 1 at fs/namei.c:1 x\\n' ; printf 'qemu: note\\n' >&2; printf 'tail'",
  );
  const o = options('console');
  const seen: string[] = [];
  const q = startQemu({ ...o, onConsoleLine: (l) => seen.push(l) });
  t.equal(q.channels.length, 2, 'two channels offered');
  const out = await q.exited;
  t.same(seen, ['Linux version 6.1', 'OMX-CONSOLE init reached uptime=1.25', 'WARNING: CPU: 0 PID: 1 at fs/namei.c:1 x', 'tail']);
  t.equal(out.exitCode, 0);
  t.equal(out.killedFor, null);
  t.equal(out.timings.initUptime, 1.25, 'guest uptime at /init read from the console');
  t.ok(out.timings.firstConsole !== undefined && out.timings.initReached !== undefined, 'first console and /init timed');
  t.same(out.signs.map((s) => [s.kind, s.resultLines]), [['warning', 7]], 'the warning placed after 7 results lines');
  const log = readFileSync(o.consoleLog, 'utf8');
  t.match(log, /^Linux version 6\.1\r\nOMX-CONSOLE init reached uptime=1\.25\n/, 'console.log keeps the bytes (\\r included)');
  t.match(log, /qemu: note\n/, 'and stderr');
});

t.test('QEMU that exits with an error before any console output: a harness error with its last stderr line', async (t) => {
  fakeQemu("printf 'qemu-system-x86_64: first\\nqemu-system-x86_64: -machine q35: no such machine\\n\\n' >&2; exit 1");
  const q = startQemu(options('fails'));
  const e = await q.exited.then(() => null, (err: unknown) => err);
  t.ok(e instanceof HarnessError, 'HarnessError');
  t.equal((e as Error).message, 'qemu-system-x86_64 failed to start (exit 1): qemu-system-x86_64: -machine q35: no such machine');
});

t.test('a guest never ready is killed at the boot timeout', async (t) => {
  fakeQemu("echo booting; exec sleep 30");
  const q = startQemu(options('hang', { bootTimeoutSec: 0.5 }));
  const out = await q.exited;
  t.equal(out.killedFor, 'boot-timeout');
  t.equal(out.signal, 'SIGKILL');
});

t.test('guest RAM from a memfd when this QEMU has the backend, its default otherwise', async (t) => {
  const saved = process.env.OMAYEXEC_CACHE;
  process.env.OMAYEXEC_CACHE = mkdtempSync(join(dir, 'cache-'));
  t.teardown(() => {
    if (saved === undefined) delete process.env.OMAYEXEC_CACHE;
    else process.env.OMAYEXEC_CACHE = saved;
  });
  fakeQemu('exit 0', ['memory-backend-file', 'memory-backend-memfd', 'memory-backend-ram']);
  const withMemfd = qemuArgs(options('memfd'), 'tcg');
  t.equal(withMemfd[withMemfd.indexOf('-machine') + 1], 'q35,accel=tcg,memory-backend=omxram');
  t.ok(withMemfd.includes('memory-backend-memfd,id=omxram,size=512M'), 'the memfd object, as large as -m');
  t.equal(withMemfd[withMemfd.indexOf('-m') + 1], '512');
  fakeQemu('exit 0 # an older QEMU', ['memory-backend-file', 'memory-backend-ram']);
  const without = qemuArgs(options('older'), 'tcg');
  t.equal(without[without.indexOf('-machine') + 1], 'q35,accel=tcg', 'no memory-backend property');
  t.notOk(without.includes('-object'), 'no memory backend object');
});
