// CpioWriter (vm/cpio.ts): archives read back by GNU cpio, listed with
// `cpio -itv` and extracted with `cpio -idm`, then compared with what was
// written (contents, modes, symlink targets, device numbers, mtimes).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstatSync, readFileSync, readlinkSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tmp from 'tmp';
import { CpioWriter, type CpioEntry } from '../vm/cpio.js';

tmp.setGracefulCleanup();

const haveCpio = spawnSync('cpio', ['--version']).status === 0;

function tempDir(t: { teardown: (f: () => void) => void }): string {
  const d = tmp.dirSync({ unsafeCleanup: true, prefix: 'omx-cpio-' });
  t.teardown(() => d.removeCallback());
  return d.name;
}

function cpio(args: string[], archive: string, cwd?: string) {
  const r = spawnSync('cpio', args, { input: readFileSync(archive), cwd, encoding: 'utf8', env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' } });
  if (r.error) throw r.error;
  return r;
}

function writeArchive(path: string, entries: CpioEntry[]): void {
  const w = new CpioWriter(path);
  for (const e of entries) w.add(e);
  w.finish();
}

t.test('an archive of every entry kind, read back by GNU cpio', { skip: haveCpio ? false : 'cpio not installed' }, async (t) => {
  const dir = tempDir(t);
  const big = randomBytes(2.5 * 1024 * 1024 + 3); // more than two 1 MiB copy chunks, unaligned
  const source = join(dir, 'source.bin');
  writeFileSync(source, big);
  const archive = join(dir, 'test.cpio');
  const entries: CpioEntry[] = [
    { kind: 'dir', path: '/bin', mode: 0o755 },
    { kind: 'dir', path: '/dev', mode: 0o755 },
    { kind: 'dir', path: '/etc', mode: 0o750 },
    { kind: 'dir', path: '/tmp', mode: 0o1777 },
    { kind: 'dir', path: '/usr', mode: 0o755 },
    { kind: 'dir', path: '/usr/bin', mode: 0o755 },
    { kind: 'file', path: '/usr/bin/big', mode: 0o755, source },
    { kind: 'data', path: '/etc/hello.txt', mode: 0o644, data: Buffer.from('hello\n') },
    { kind: 'data', path: '/etc/empty', mode: 0o600, data: Buffer.alloc(0) },
    { kind: 'data', path: '/etc/abc', mode: 0o640, data: Buffer.from('x') }, // 4-byte name+NUL, 1-byte body
    { kind: 'symlink', path: '/bin/sh', target: 'busybox' },
    { kind: 'symlink', path: '/bin/hello', target: '/etc/hello.txt' },
    { kind: 'node', path: '/dev/null2', mode: 0o666, type: 'char', major: 1, minor: 3 },
    { kind: 'node', path: '/dev/loop9', mode: 0o660, type: 'block', major: 7, minor: 9 },
  ];
  writeArchive(archive, entries);
  const raw = readFileSync(archive);
  t.equal(raw.toString('ascii', 0, 6), '070701', 'newc magic');
  t.equal(raw.length % 4, 0, 'archive length 4-byte aligned');

  const list = cpio(['-itv'], archive);
  t.equal(list.status, 0, `cpio -itv exits 0 (${list.stderr.trim()})`);
  t.notMatch(list.stderr, /warning|error|junk|skipped/i, 'no complaint from cpio');
  const rows = list.stdout.trim().split('\n');
  const names = rows.map((l) => l.replace(/ -> .*$/, '').split(/\s+/).pop());
  t.same(names, entries.map((e) => e.path.replace(/^\//, '')), 'names in order, leading / stripped');
  const perms = Object.fromEntries(rows.map((l, i) => [names[i], l.split(/\s+/)[0]]));
  t.same(perms, {
    bin: 'drwxr-xr-x', dev: 'drwxr-xr-x', etc: 'drwxr-x---', tmp: 'drwxrwxrwt', usr: 'drwxr-xr-x', 'usr/bin': 'drwxr-xr-x',
    'usr/bin/big': '-rwxr-xr-x', 'etc/hello.txt': '-rw-r--r--', 'etc/empty': '-rw-------', 'etc/abc': '-rw-r-----',
    'bin/sh': 'lrwxrwxrwx', 'bin/hello': 'lrwxrwxrwx', 'dev/null2': 'crw-rw-rw-', 'dev/loop9': 'brw-rw----',
  }, 'types and permission bits as cpio lists them');
  t.match(rows.find((l) => l.endsWith('bin/sh -> busybox')), /^l/, 'symlink listed with its target');
  t.match(rows.find((l) => l.endsWith('dev/null2')), /\s1,\s+3\s/, 'char node 1,3');
  t.match(rows.find((l) => l.endsWith('dev/loop9')), /\s7,\s+9\s/, 'block node 7,9');
  t.match(rows.find((l) => l.endsWith('usr/bin/big')), new RegExp(`\\s${big.length}\\s`), 'big file size');
  t.ok(rows.every((l) => /\sroot\s+root\s/.test(l)), 'owned by root:root');
  t.ok(rows.every((l) => /1970/.test(l)), 'mtime 0 (reproducible archives)');

  const out = join(dir, 'x');
  spawnSync('mkdir', [out]);
  const ex = cpio(['-idm', '--no-absolute-filenames'], archive, out);
  t.equal(ex.status, 0, `cpio -idm exits 0 (${ex.stderr.trim()})`);
  t.same(readdirSync(out).sort(), ['bin', 'dev', 'etc', 'tmp', 'usr']);
  t.ok(readFileSync(join(out, 'usr/bin/big')).equals(big), 'file copied from source: identical bytes');
  t.equal(readFileSync(join(out, 'etc/hello.txt'), 'utf8'), 'hello\n');
  t.equal(readFileSync(join(out, 'etc/abc'), 'utf8'), 'x');
  t.equal(statSync(join(out, 'etc/empty')).size, 0);
  const mode = (p: string) => lstatSync(join(out, p)).mode & 0o7777;
  t.same(
    ['usr/bin/big', 'etc/hello.txt', 'etc/empty', 'etc/abc', 'etc', 'tmp'].map(mode),
    [0o755, 0o644, 0o600, 0o640, 0o750, 0o1777],
    'modes on disk, sticky bit included',
  );
  t.equal(readlinkSync(join(out, 'bin/sh')), 'busybox', 'relative symlink target');
  t.equal(readlinkSync(join(out, 'bin/hello')), '/etc/hello.txt', 'absolute symlink target kept verbatim');
  t.ok(lstatSync(join(out, 'bin/sh')).isSymbolicLink());
  t.equal(statSync(join(out, 'etc/hello.txt')).mtimeMs, 0, 'mtime 0 restored by -m');
  const nul = lstatSync(join(out, 'dev/null2'), { throwIfNoEntry: false });
  if (nul) {
    t.ok(nul.isCharacterDevice(), 'char node extracted as a character device');
    t.equal(nul.rdev, (1 << 8) | 3, 'rdev 1:3');
    const loop = lstatSync(join(out, 'dev/loop9'));
    t.ok(loop.isBlockDevice());
    t.equal(loop.rdev, (7 << 8) | 9, 'rdev 7:9');
    t.equal(nul.mode & 0o777, 0o666);
  } else {
    t.comment('mknod not permitted here: device nodes checked through the listing only');
  }
});

t.test('header fields: sizes, name sizes, device numbers, inode numbers', async (t) => {
  const dir = tempDir(t);
  const archive = join(dir, 'h.cpio');
  writeArchive(archive, [
    { kind: 'data', path: 'a', mode: 0o644, data: Buffer.from('12345') },
    { kind: 'node', path: 'dev/console', mode: 0o600, type: 'char', major: 5, minor: 1 },
  ]);
  const raw = readFileSync(archive);
  const field = (off: number, i: number) => parseInt(raw.toString('ascii', off + 6 + i * 8, off + 14 + i * 8), 16);
  // entry 1 at 0: 110-byte header, "a\0" padded to 112, 5-byte body padded to 8
  t.equal(field(0, 0), 1, 'first inode 1');
  t.equal(field(0, 1), 0o100644, 'regular file mode');
  t.equal(field(0, 6), 5, 'filesize');
  t.equal(field(0, 11), 2, 'namesize counts the NUL');
  const second = 112 + 8;
  t.equal(raw.toString('ascii', second, second + 6), '070701', 'second header 4-byte aligned after name and body padding');
  t.equal(field(second, 0), 2, 'inode numbers increase');
  t.equal(field(second, 1), 0o020600, 'char device mode');
  t.same([field(second, 9), field(second, 10)], [5, 1], 'rdevmajor, rdevminor');
  t.equal(field(second, 6), 0, 'device node has no body');
  const trailer = raw.indexOf('TRAILER!!!');
  t.ok(trailer > second, 'trailer present at the end');
  t.equal(raw.length % 4, 0);
});

t.test('two archives concatenated (base + run initrd): cpio reads the first up to its trailer', { skip: haveCpio ? false : 'cpio not installed' }, async (t) => {
  const dir = tempDir(t);
  const a = join(dir, 'a.cpio');
  const b = join(dir, 'b.cpio');
  writeArchive(a, [{ kind: 'data', path: 'one', mode: 0o644, data: Buffer.from('1') }]);
  writeArchive(b, [{ kind: 'data', path: 'two', mode: 0o644, data: Buffer.from('2') }]);
  const both = join(dir, 'ab.cpio');
  writeFileSync(both, Buffer.concat([readFileSync(a), readFileSync(b)]));
  t.equal(cpio(['-it'], both).stdout.trim(), 'one', 'the kernel unpacks both; cpio stops at the first trailer');
  t.equal(readFileSync(a).length % 4, 0, 'the second archive starts 4-byte aligned, as the kernel unpacker needs');
});
