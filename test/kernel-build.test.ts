// Unit tests of the reference kernel build recipe (vm/kernel/):
// cache keys, the config-fragment check, patch parsing, the incremental
// work-tree switch, the patch series against Debian's pristine trees, and
// buildKernel and `kernel build` on a fake kernel tree (nothing compiles).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { commandFailure, EXIT, HarnessError } from '../vm/errors.js';
import { checkFragment } from '../vm/kconfig.js';
import { cacheRoot } from '../vm/paths.js';
import { buildKernel } from '../vm/kernel/build.js';
import { computeKey, type KeyInput } from '../vm/kernel/keys.js';
import { seriesPatches, type Series } from '../vm/kernel/recipe.js';
import { syncWorkTree, touchedFiles } from '../vm/kernel/work-tree.js';
import { projectRoot } from './fixtures/load.js';

t.test('computeKey: stable for the same inputs, changes with each input', async (t) => {
  const base: KeyInput = {
    sourceVersion: '6.1.192-3',
    series: '6.1',
    patches: ['patch one\n', 'patch two\n'],
    fragment: 'CONFIG_TMPFS=y\n',
    toolchain: 'gcc (Debian 12.2.0-14) 12.2.0',
  };
  const k = computeKey(base);
  t.match(k, /^[0-9a-f]{64}$/, 'a sha256 hex digest');
  t.equal(computeKey({ ...base, patches: ['patch one\n', 'patch two\n'] }), k, 'same inputs, same key');
  t.equal(computeKey({ ...base, patches: [Buffer.from('patch one\n'), 'patch two\n'] }), k, 'Buffer or string: same content, same key');
  const variants: [string, KeyInput][] = [
    ['a patch changes', { ...base, patches: ['patch one\n', 'patch 2\n'] }],
    ['patch order changes', { ...base, patches: ['patch two\n', 'patch one\n'] }],
    ['a patch is added (fault patch)', { ...base, patches: [...base.patches, 'fault\n'] }],
    ['no patches', { ...base, patches: [] }],
    ['fragment changes', { ...base, fragment: 'CONFIG_TMPFS=y\nCONFIG_IMA=y\n' }],
    ['source version changes', { ...base, sourceVersion: '6.1.193-1' }],
    ['series changes', { ...base, series: '6.12' }],
    ['toolchain changes', { ...base, toolchain: 'gcc 13' }],
  ];
  const seen = new Set([k]);
  for (const [what, v] of variants) {
    const kv = computeKey(v);
    t.not(kv, k, `key changes when ${what}`);
    seen.add(kv);
  }
  t.equal(seen.size, variants.length + 1, 'all variant keys differ from each other');
});

t.test('checkFragment', async (t) => {
  const fragment = [
    '# comment',
    'CONFIG_TMPFS=y',
    'CONFIG_BLK_DEV_LOOP_MIN_COUNT=1',
    'CONFIG_DEFAULT_HOSTNAME="x"',
    '# CONFIG_VT is not set',
    '# CONFIG_INPUT is not set',
    '',
  ].join('\n');
  const good = [
    'CONFIG_TMPFS=y',
    'CONFIG_BLK_DEV_LOOP_MIN_COUNT=1',
    'CONFIG_DEFAULT_HOSTNAME="x"',
    '# CONFIG_VT is not set',
    // CONFIG_INPUT absent altogether: counts as not set
  ].join('\n');
  t.same(checkFragment(fragment, good), [], 'everything survived');
  const bad = [
    '# CONFIG_TMPFS is not set',
    'CONFIG_BLK_DEV_LOOP_MIN_COUNT=8',
    'CONFIG_VT=y',
    'CONFIG_INPUT=m',
  ].join('\n');
  const lost = checkFragment(fragment, bad);
  t.equal(lost.length, 5, 'five options lost');
  t.match(lost[0], /^CONFIG_TMPFS=y \(got: is not set\)$/);
  t.match(lost[1], /^CONFIG_BLK_DEV_LOOP_MIN_COUNT=1 \(got: CONFIG_BLK_DEV_LOOP_MIN_COUNT=8\)$/);
  t.match(lost[2], /^CONFIG_DEFAULT_HOSTNAME="x" \(got: absent\)$/);
  t.match(lost[3], /^# CONFIG_VT is not set \(got: CONFIG_VT=y\)$/);
  t.match(lost[4], /^# CONFIG_INPUT is not set \(got: CONFIG_INPUT=m\)$/);
  t.same(checkFragment('', bad), [], 'empty fragment: nothing to lose');
});

t.test('the project fragment keeps what the suites need', async (t) => {
  const frag = readFileSync(new URL('../../vm/kernel/config/omayexec.fragment', import.meta.url), 'utf8');
  for (const opt of [
    'CONFIG_TMPFS=y',
    'CONFIG_PROC_SYSCTL=y',
    'CONFIG_DEVTMPFS=y',
    'CONFIG_BLK_DEV_LOOP=y',
    'CONFIG_INET=y',
    'CONFIG_IA32_EMULATION=y',
    'CONFIG_USELIB=y',
    'CONFIG_MEMFD_CREATE=y',
    'CONFIG_IKCONFIG_PROC=y',
    'CONFIG_IMA=y',
    'CONFIG_SECURITYFS=y',
    '# CONFIG_VT is not set',
  ]) {
    t.ok(frag.split('\n').includes(opt), opt);
  }
});

const samplePatch = `From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001
Subject: [PATCH] sample

body
---
 a.c   | 2 +-
 new.c | 1 +

diff --git a/src/a.c b/src/a.c
index 1111111..2222222 100644
--- a/src/a.c
+++ b/src/a.c
@@ -1,3 +1,3 @@
 int a;
--- not a header: a removed line starting with "-- "
+++ not a header either
 int c;
diff --git a/new.c b/new.c
new file mode 100644
--- /dev/null
+++ b/new.c\t2020-07-23 00:00:00
@@ -0,0 +1 @@
+int n;
`;

t.test('touchedFiles parses headers, skips hunk bodies', async (t) => {
  t.same(touchedFiles(samplePatch), ['new.c', 'src/a.c']);
  t.throws(() => touchedFiles('--- a/../etc/passwd\n+++ b/../etc/passwd\n@@ -1 +1 @@\n-x\n+y\n'), /unsafe path/);
});

t.test('seriesPatches', async (t) => {
  for (const s of ['6.1', '6.12'] as Series[]) {
    const ps = seriesPatches(s, 'omayexec-v7');
    t.equal(ps.length, 4, `${s}: four patches`);
    t.same(
      ps.map((p) => basename(p)),
      [
        '0001-fs-add-O_MAYEXEC-open-flag.patch', '0002-fs-enforce-O_MAYEXEC-in-may_open.patch', '0003-ima-add-MAY_OPENEXEC-policy-mask.patch',
        '0004-fs-O_MAYEXEC-on-an-unserved-block-node-is-ENXIO.patch',
      ],
      `${s}: in order`,
    );
    for (const p of ps) {
      const text = readFileSync(p, 'utf8');
      t.match(text, /^From [0-9a-f]{40} /, `${basename(p)}: git format-patch header`);
      t.match(text, /\nSubject: \[PATCH \d\/4\] /, `${basename(p)}: subject`);
    }
    t.same(seriesPatches(s, 'none'), [], `${s}: none = no patch`);
  }
});

function sh(cmd: string, args: string[], cwd?: string) {
  return spawnSync(cmd, args, { cwd, encoding: 'utf8' });
}

t.test('syncWorkTree switches patch sets and keeps unchanged mtimes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'omayexec-sync-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pristine = join(dir, 'pristine');
  const work = join(dir, 'work');
  const state = join(dir, 'work.state.json');
  for (const root of [pristine, work]) {
    mkdirSync(join(root, 'src'), { recursive: true });
    writeFileSync(join(root, 'src/a.c'), 'int a;\nint b;\nint c;\n');
    writeFileSync(join(root, 'src/b.c'), 'int x;\n');
    writeFileSync(join(root, 'c.h'), '#define C 1\n');
  }
  const old = new Date('2020-01-01T00:00:00Z');
  for (const f of ['src/a.c', 'src/b.c', 'c.h']) utimesSync(join(work, f), old, old);
  const patchA = join(dir, 'A.patch');
  writeFileSync(
    patchA,
    `--- a/src/a.c\n+++ b/src/a.c\n@@ -1,3 +1,3 @@\n int a;\n-int b;\n+int B;\n int c;\n--- /dev/null\n+++ b/new.c\n@@ -0,0 +1 @@\n+int n;\n`,
  );
  const patchB = join(dir, 'B.patch');
  writeFileSync(patchB, `--- a/src/b.c\n+++ b/src/b.c\n@@ -1 +1 @@\n-int x;\n+int y;\n`);
  const mtime = (f: string) => statSync(join(work, f)).mtimeMs;

  let r = await syncWorkTree(pristine, work, state, [patchA]);
  t.same(r.changed.sort(), ['new.c', 'src/a.c'], 'A: a.c and new.c written');
  t.equal(readFileSync(join(work, 'src/a.c'), 'utf8'), 'int a;\nint B;\nint c;\n');
  t.equal(readFileSync(join(work, 'new.c'), 'utf8'), 'int n;\n');
  t.equal(mtime('src/b.c'), old.getTime(), 'b.c untouched');
  t.equal(mtime('c.h'), old.getTime(), 'c.h untouched');

  r = await syncWorkTree(pristine, work, state, [patchA]);
  t.same(r.changed, [], 'A again: nothing rewritten');

  const aTime = mtime('src/a.c');
  r = await syncWorkTree(pristine, work, state, [patchA, patchB]);
  t.same(r.changed, ['src/b.c'], 'A+B: only b.c written');
  t.equal(mtime('src/a.c'), aTime, 'a.c mtime kept');

  r = await syncWorkTree(pristine, work, state, [patchB]);
  t.same(r.changed.sort(), ['new.c', 'src/a.c'], 'B: a.c restored, new.c removed');
  t.equal(readFileSync(join(work, 'src/a.c'), 'utf8'), 'int a;\nint b;\nint c;\n');
  t.notOk(existsSync(join(work, 'new.c')));
  t.equal(readFileSync(join(work, 'src/b.c'), 'utf8'), 'int y;\n');

  r = await syncWorkTree(pristine, work, state, []);
  t.same(r.changed, ['src/b.c'], 'none: b.c restored');
  t.equal(readFileSync(join(work, 'src/b.c'), 'utf8'), 'int x;\n');
  t.equal(mtime('c.h'), old.getTime(), 'c.h never rewritten');

  const bad = join(dir, 'bad.patch');
  writeFileSync(bad, `--- a/src/b.c\n+++ b/src/b.c\n@@ -1 +1 @@\n-int nothing;\n+int y;\n`);
  const failed = await syncWorkTree(pristine, work, state, [bad]).then(() => null, (e: unknown) => e);
  t.ok(failed instanceof HarnessError, 'a patch that does not apply is a harness error');
  const message = (failed as Error).message;
  t.match(message, /^patch .*bad\.patch does not apply \(patch -p1 --fuzz=0, exit 1\): src\/b\.c: Hunk #1 FAILED at 1\.$/, 'one line naming the hunk');
  t.same(commandFailure(failed), { exitCode: EXIT.harness, line: `omayexec-conformance: harness error: ${message}` }, 'the CLI: exit 6, that line');
  t.equal(readFileSync(join(work, 'src/b.c'), 'utf8'), 'int x;\n', 'and the work tree is left as it was');
});

/**
 * A kernel tree in name only: its make targets and merge_config.sh do in a
 * blink what the build expects of them (a .config, CC lines, a bzImage), so
 * buildKernel's steps run for real without compiling anything.
 */
function fakeKernelTree(root: string, o: { failing?: 'tinyconfig' | 'bzImage' } = {}): void {
  mkdirSync(join(root, 'scripts/kconfig'), { recursive: true });
  mkdirSync(join(root, 'src'), { recursive: true });
  writeFileSync(join(root, 'src/b.c'), 'int x;\n');
  const fail = (target: string) => (o.failing === target ? ['\t@echo "src/b.c:1:1: error: this tree is a fake"; exit 1'] : []);
  writeFileSync(
    join(root, 'Makefile'),
    [
      'tinyconfig:',
      ...fail('tinyconfig'),
      '\t@echo "  GEN     tinyconfig"; echo "CONFIG_64BIT=y" > $(O)/.config',
      'olddefconfig:',
      '\t@true',
      'bzImage:',
      ...fail('bzImage'),
      '\t@echo "  CC      init/main.o"; echo "  CC      fs/namei.o"',
      '\t@mkdir -p $(O)/arch/x86/boot $(O)/include/config; echo image > $(O)/arch/x86/boot/bzImage; echo 6.1.0-fake > $(O)/include/config/kernel.release',
      '',
    ].join('\n'),
  );
  // merge_config.sh -m -O DIR CONFIG FRAGMENT
  writeFileSync(join(root, 'scripts/kconfig/merge_config.sh'), '#!/bin/sh\ncat "$5" >> "$4"\n', { mode: 0o755 });
}

const goodPatch = `--- a/src/b.c\n+++ b/src/b.c\n@@ -1 +1 @@\n-int x;\n+int y;\n`;

t.test('buildKernel runs its steps on a fake tree: built, stored, then found in the cache', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'omayexec-fakebuild-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const tree = join(dir, 'tree');
  fakeKernelTree(tree);
  const patch = join(dir, 'good.patch');
  writeFileSync(patch, goodPatch);
  const cacheDir = join(dir, 'cache');
  const lines: string[] = [];
  const o = { series: '6.1' as const, patches: 'none' as const, source: tree, extraPatches: [patch], cacheDir, log: (l: string) => lines.push(l) };

  const first = await buildKernel(o);
  t.equal(first.cached, false, 'built');
  t.equal(first.image, join(cacheDir, 'kernels', first.key, 'bzImage'));
  t.equal(readFileSync(first.image, 'utf8'), 'image\n', 'the image make left, stored');
  t.match(readFileSync(first.config, 'utf8'), /^CONFIG_64BIT=y\n[^]*CONFIG_TMPFS=y\n/, 'the .config: tinyconfig + fragment');
  const meta = JSON.parse(readFileSync(join(cacheDir, 'kernels', first.key, 'meta.json'), 'utf8')) as Record<string, unknown>;
  t.match(meta, { key: first.key, series: '6.1', patches: 'none', patchFiles: [], extraPatches: [{ path: patch }], source: tree, compiledObjects: 2, kernelRelease: '6.1.0-fake', imageBytes: 6 });
  t.equal(Object.keys(meta).pop(), 'buildDir', 'meta.json fields in their old order');
  const work = readdirSync(join(cacheDir, 'work')).find((f) => /^linux-custom-[0-9a-f]{16}$/.test(f))!;
  t.equal(readFileSync(join(cacheDir, 'work', work, 'src/b.c'), 'utf8'), 'int y;\n', 'the work tree carries the patch');
  t.equal(readFileSync(join(tree, 'src/b.c'), 'utf8'), 'int x;\n', 'the source tree is untouched');
  t.match(readFileSync(join(cacheDir, 'logs', `${first.key}.log`), 'utf8'), /CC {6}fs\/namei\.o/, 'make output in the build log');
  t.notOk(existsSync(join(cacheDir, 'work', `${work}.lock`)), 'lock released');
  t.ok(lines.some((l) => l.startsWith('[done] ')), 'progress ends with [done]');

  const again = await buildKernel(o);
  t.same([again.cached, again.key, again.image], [true, first.key, first.image], 'same inputs: the cached image');

  writeFileSync(first.image, 'damaged');
  const rebuilt = await buildKernel(o);
  t.same([rebuilt.cached, rebuilt.key], [false, first.key], 'a damaged entry is rebuilt');
  t.equal(readFileSync(rebuilt.image, 'utf8'), 'image\n');
});

for (const series of ['6.1', '6.12'] as Series[]) {
  const pristine = join(cacheRoot(), 'src', `linux-source-${series}`);
  const present = existsSync(join(pristine, 'Makefile')) && existsSync(join(pristine, 'fs/namei.c'));
  t.test(
    `omayexec-v7 series applies to Debian's pristine ${series} tree`,
    { skip: present ? false : `pristine tree ${pristine} is absent (run a kernel build once to unpack it)` },
    async (t) => {
      const patches = seriesPatches(series, 'omayexec-v7');
      // 0001-0003 apply on their own; 0004 builds on 0002's may_open().
      for (const p of patches.slice(0, 3)) {
        const r = sh('patch', ['-p1', '--dry-run', '--batch', '--fuzz=0', '-d', pristine, '-i', p]);
        t.equal(r.status, 0, `patch -p1 --dry-run ${basename(p)}`, { output: r.stdout + r.stderr });
      }
      // And for real, in sequence, on copies of the touched files.
      const dir = mkdtempSync(join(tmpdir(), `omayexec-apply-${series}-`));
      t.teardown(() => rmSync(dir, { recursive: true, force: true }));
      const work = join(dir, 'work');
      mkdirSync(work);
      const res = await syncWorkTree(pristine, work, join(dir, 'state.json'), patches);
      t.ok(res.touched.includes('fs/namei.c') && res.touched.includes('fs/open.c'), 'touches fs/namei.c and fs/open.c');
      const namei = readFileSync(join(work, 'fs/namei.c'), 'utf8');
      t.match(namei, /"open_mayexec_enforce"/, 'sysctl entry');
      t.match(namei, /\.mode\s*=\s*0600,\s*\n\s*\.proc_handler\s*=\s*proc_open_mayexec_enforce/, 'mode 0600, own handler');
      t.match(namei, /\.extra2\s*=\s*SYSCTL_THREE/, 'range up to 3');
      t.match(namei, /capable\(CAP_SYS_ADMIN\)/, 'CAP_SYS_ADMIN on write');
      const handlerArg = series === '6.1' ? /proc_open_mayexec_enforce\(struct ctl_table \*table/ : /proc_open_mayexec_enforce\(const struct ctl_table \*table/;
      t.match(namei, handlerArg, `handler signature for ${series}`);
      t.match(namei, /!blkdev_present\(inode->i_rdev\)\)\s*\n\s*return -ENXIO;/, 'an unserved block node is ENXIO under a policy');
      t.match(readFileSync(join(work, 'block/bdev.c'), 'utf8'), /^bool blkdev_present\(dev_t dev\)$/m, 'blkdev_present() defined in the block layer');
      t.match(readFileSync(join(work, 'include/uapi/asm-generic/fcntl.h'), 'utf8'), /#define O_MAYEXEC\s+040000000/);
      t.match(readFileSync(join(work, 'include/linux/fs.h'), 'utf8'), /#define MAY_OPENEXEC\s+0x00000100/);
      t.match(readFileSync(join(work, 'fs/fcntl.c'), 'utf8'), /BUILD_BUG_ON\(22 - 1/);
      t.match(readFileSync(join(work, 'security/integrity/ima/ima_policy.c'), 'utf8'), /"MAY_OPENEXEC"/);
    },
  );
}

/** `omayexec-conformance kernel build ARGS` as a user runs it, with its own cache. */
function kernelBuild(args: string[], cache: string): { status: number | null; stdout: string; errLines: string[] } {
  const r = spawnSync(process.execPath, [join(projectRoot, 'bin/omayexec-conformance.js'), 'kernel', 'build', ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, OMAYEXEC_CACHE: cache },
  });
  return { status: r.status, stdout: r.stdout, errLines: r.stderr.split('\n').filter((l) => l.trim()) };
}

t.test('kernel build: bad options are bad usage, one line and exit 2, as elsewhere in the CLI', async (t) => {
  const cache = mkdtempSync(join(tmpdir(), 'omayexec-cli-cache-'));
  t.teardown(() => rmSync(cache, { recursive: true, force: true }));
  const cases: [string[], RegExp][] = [
    [[], /kernel build needs --series 6\.1\|6\.12$/],
    [['--series', '5.4'], /unknown series '5\.4'; valid: 6\.1, 6\.12$/],
    [['--series', '6.1', '--patches', 'v6'], /unknown patch set 'v6'; valid: omayexec-v7, none$/],
    [['--series', '6.1', '--source', '/nonexistent'], /--source \/nonexistent is not a kernel tree \(no Makefile\)$/],
    [['--series', '6.1', '--extra-patch', '/nonexistent.patch'], /extra patch \/nonexistent\.patch: no such file$/],
    [['--series=6.1', '--bogus'], /Unknown option '--bogus'/],
    [['--series', '6.1', '--series=6.12'], /--series given 2 times: give it once$/],
    [['--series'], /Option '--series <value>' argument missing/],
  ];
  for (const [args, message] of cases) {
    const r = kernelBuild(args, cache);
    t.equal(r.status, 2, `${args.join(' ') || '(no option)'}: exit 2`);
    t.equal(r.errLines.length, 1, `one line (${JSON.stringify(r.errLines)})`);
    t.match(r.errLines[0], /^omayexec-conformance: /);
    t.match(r.errLines[0], message);
  }
  t.same(readdirSync(cache), [], 'nothing written to the cache');
  const help = kernelBuild(['--help'], cache);
  t.equal(help.status, 0, '--help: exit 0');
  t.match(help.stdout, /^usage: omayexec-conformance kernel build --series/);
});

t.test('kernel build: a patch that does not apply, or a failed build, is a harness error: exit 6 and one error line', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'omayexec-cli-fail-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bad = join(dir, 'bad.patch');
  writeFileSync(bad, `--- a/src/b.c\n+++ b/src/b.c\n@@ -1 +1 @@\n-int nothing;\n+int y;\n`);
  const tree = join(dir, 'tree');
  fakeKernelTree(tree);
  const failing = join(dir, 'failing-tree');
  fakeKernelTree(failing, { failing: 'bzImage' });
  const runs: [string, string[], RegExp][] = [
    ['a patch that does not apply', ['--source', tree, '--extra-patch', bad], /^patch .*\/bad\.patch does not apply \(patch -p1 --fuzz=0, exit 1\): src\/b\.c: Hunk #1 FAILED at 1\.$/],
    ['make bzImage fails', ['--source', failing], /^make bzImage \(6\.1, none\) failed \(exit 2\): src\/b\.c:1:1: error: this tree is a fake; full log: .*\/logs\/[0-9a-f]{64}\.log$/],
  ];
  for (const [what, args, message] of runs) {
    const r = kernelBuild(['--series', '6.1', '--patches', 'none', ...args], join(dir, 'cache'));
    t.equal(r.status, 6, `${what}: exit 6 (boot failure or harness error), not 1 (a case failed)`);
    const errors = r.errLines.filter((l) => l.startsWith('omayexec-conformance:'));
    t.equal(errors.length, 1, `${what}: one error line`);
    t.equal(r.errLines[r.errLines.length - 1], errors[0], 'the last line');
    t.match(errors[0], /^omayexec-conformance: harness error: /, 'reported as a harness error, not an internal one');
    t.match(errors[0]?.replace(/^omayexec-conformance: harness error: /, ''), message);
    t.ok(r.errLines.slice(0, -1).every((l) => l.startsWith('[')), `${what}: every other line is progress`);
    t.notOk(r.errLines.some((l) => l.startsWith('    at ')), 'no stack trace');
    t.equal(r.stdout, '', 'no image path on stdout');
  }
});
