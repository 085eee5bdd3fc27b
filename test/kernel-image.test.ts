// inspectKernel (vm/kernel-image.ts): what is accepted as a kernel image
// before booting, and the one-line errors for everything else.
import t, { type Test } from 'tap';
import { existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import tmp from 'tmp';
import { BadInputError } from '../vm/errors.js';
import { inspectKernel } from '../vm/kernel-image.js';

tmp.setGracefulCleanup();
const dir = tmp.dirSync({ unsafeCleanup: true, prefix: 'omx-kimg-' });
t.teardown(() => dir.removeCallback());

function file(name: string, data: Buffer | string): string {
  const p = join(dir.name, name);
  writeFileSync(p, data);
  return p;
}

function badInput(t: Test, f: () => unknown, re: RegExp, what: string): void {
  try {
    const got = f();
    t.fail(`${what}: accepted (${JSON.stringify(got)})`);
  } catch (e) {
    t.ok(e instanceof BadInputError, `${what}: a BadInputError (bad input, exit 2), not ${(e as Error).constructor.name}`);
    t.match((e as Error).message, re, `${what}: message`);
    t.notMatch((e as Error).message, /\n/, `${what}: one line`);
  }
}

/** An x86 boot sector with the "HdrS" setup header and a kernel_version string. */
function bzImage(version: string | null): Buffer {
  const b = Buffer.alloc(0x1000);
  b.writeUInt16LE(0xaa55, 0x1fe);
  b.write('HdrS', 0x202, 'latin1');
  b.writeUInt16LE(0x020f, 0x206); // boot protocol 2.15
  if (version !== null) {
    b.writeUInt16LE(0x0500 - 0x200, 0x20e);
    b.write(`${version}\0`, 0x0500, 'latin1');
  }
  return b;
}

/** The 64-byte arm64 Image header (Documentation/arch/arm64/booting.rst). */
function arm64Image(): Buffer {
  const b = Buffer.alloc(0x200);
  b.writeUInt32LE(0x14000000 | 0x10, 0); // code0: b #0x40
  b.writeBigUInt64LE(0x200000n, 16); // image_size (text_offset at 8 stays 0)
  b.writeBigUInt64LE(0xan, 24); // flags: LE, 4K pages
  b.write('ARM\x64', 0x38, 'latin1');
  return b;
}

/** A minimal 64-bit little-endian ELF header for a given e_machine. */
function elf(machine: number, type = 2): Buffer {
  const b = Buffer.alloc(0x100);
  b.write('\x7fELF', 0, 'latin1');
  b[4] = 2; // ELFCLASS64
  b[5] = 1; // little endian
  b[6] = 1;
  b.writeUInt16LE(type, 16); // e_type
  b.writeUInt16LE(machine, 18);
  return b;
}

t.test('a missing path', async (t) => {
  badInput(t, () => inspectKernel('/nonexistent/vmlinuz'), /^kernel image not found: \/nonexistent\/vmlinuz$/, 'missing');
});

t.test('a directory', async (t) => {
  badInput(t, () => inspectKernel(dir.name), /is not a regular file/, 'directory');
});

t.test('text files, empty and tiny files', async (t) => {
  badInput(t, () => inspectKernel('/etc/passwd'), /\/etc\/passwd is not a kernel image/, '/etc/passwd');
  badInput(t, () => inspectKernel(file('empty', '')), /is not a kernel image/, 'empty file');
  badInput(t, () => inspectKernel(file('tiny', 'MZ')), /is not a kernel image/, '2-byte file');
  badInput(t, () => inspectKernel(file('elf-stub', '\x7fELF')), /is not a kernel image/, 'ELF magic only, no header');
  const almost = bzImage('x');
  almost.write('HdrT', 0x202, 'latin1');
  badInput(t, () => inspectKernel(file('almost', almost)), /is not a kernel image/, 'boot sector without HdrS');
});

const trueBin = ['/bin/true', '/usr/bin/true'].find(existsSync);
t.test('an ELF that is not a kernel: /bin/true (x86_64 PIE executable)', { skip: trueBin ? false : 'no /bin/true' }, async (t) => {
  // A vmlinux is ET_EXEC; /bin/true is a PIE (ET_DYN): bad input, exit 2,
  // before QEMU would refuse it with a harness error.
  badInput(t, () => inspectKernel(trueBin!), /is an ELF program or library, not a kernel/, '/bin/true');
});

t.test('crafted ELF headers: machine decides the arch, others are refused', async (t) => {
  // x86: QEMU boots an ELF vmlinux only through its PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY).
  const pvhNote = Buffer.from([4, 0, 0, 0, 4, 0, 0, 0, 18, 0, 0, 0, 0x58, 0x65, 0x6e, 0, 0, 0, 0, 1]);
  t.same(inspectKernel(file('vmlinux-x86', Buffer.concat([elf(62), pvhNote]))), { format: 'elf', arch: 'x86_64' }, 'EM_X86_64 with a PVH note');
  badInput(t, () => inspectKernel(file('vmlinux-x86-nopvh', elf(62))), /x86_64 vmlinux without a PVH entry note: QEMU cannot boot it/, 'EM_X86_64 without PVH: exit 2 before any boot');
  t.same(inspectKernel(file('vmlinux-arm64', elf(183))), { format: 'elf', arch: 'arm64' }, 'EM_AARCH64');
  badInput(t, () => inspectKernel(file('vmlinux-arm', elf(40))), /ELF file for machine 40, not an x86_64 or arm64 kernel/, 'EM_ARM');
  badInput(t, () => inspectKernel(file('vmlinux-riscv', elf(243))), /machine 243/, 'EM_RISCV');
});

t.test('a crafted bzImage: HdrS header and kernel_version string', async (t) => {
  const v = '6.1.0-99-test (builder@example) #1 SMP PREEMPT_DYNAMIC Debian 6.1.999-1 (2099-01-01)';
  t.same(inspectKernel(file('bz', bzImage(v))), { format: 'bzImage', arch: 'x86_64', version: v });
  const none = inspectKernel(file('bz-nover', bzImage(null)));
  t.equal(none.format, 'bzImage');
  t.equal(none.version, undefined, 'kernel_version offset 0: no version');
});

t.test('a truncated bzImage is recognised from its header; a symlink loop says ELOOP', async (t) => {
  const whole = bzImage(null);
  whole[0x1f1] = 1; // one setup sector
  whole.writeUInt32LE(0x100, 0x1f4); // 4096 bytes of kernel after 1024 of boot sector and setup
  t.equal(inspectKernel(file('bz-whole', Buffer.concat([whole, Buffer.alloc(1024)]))).format, 'bzImage', 'a complete image (5120 bytes)');
  badInput(t, () => inspectKernel(file('bz-cut', whole.subarray(0, 3000))), /truncated bzImage: its header says 5120 bytes, the file has 3000/, 'cut short');
  const loop = join(dir.name, 'loop');
  symlinkSync(loop, loop);
  badInput(t, () => inspectKernel(loop), /kernel image a symlink loop \(ELOOP\)/, 'symlink loop');
  badInput(t, () => inspectKernel(join(dir.name, 'missing')), /kernel image not found/, 'missing');
});

t.test('a crafted arm64 Image header', async (t) => {
  t.same(inspectKernel(file('Image', arm64Image())), { format: 'arm64-image', arch: 'arm64' });
  const wrong = arm64Image();
  wrong.write('ARM\x65', 0x38, 'latin1');
  badInput(t, () => inspectKernel(file('Image-bad', wrong)), /is not a kernel image/, 'wrong magic');
});

const debianRoot = join(process.env.OMAYEXEC_CACHE ?? join(homedir(), '.cache', 'omayexec-conformance'), 'debian');
const debianImages = existsSync(debianRoot)
  ? readdirSync(debianRoot).flatMap((d) => {
    const boot = join(debianRoot, d, 'boot');
    return existsSync(boot) ? readdirSync(boot).filter((f) => f.startsWith('vmlinuz-')).map((f) => join(boot, f)) : [];
  })
  : [];

t.test('the real Debian cloud kernels in the cache (6.1, and 6.12 when fetched)', {
  skip: debianImages.length ? false : `no ${debianRoot}/*/boot/vmlinuz-* (run: omayexec-conformance run --debian 6.1 once)`,
}, async (t) => {
  for (const img of debianImages) {
    const release = img.split('/vmlinuz-')[1]!;
    const info = inspectKernel(img);
    t.equal(info.format, 'bzImage', `${release}: bzImage`);
    t.equal(info.arch, 'x86_64');
    t.ok(info.version?.startsWith(`${release} (`), `${release}: version string starts with the release (${info.version})`);
    t.match(info.version, /#1 SMP PREEMPT_DYNAMIC Debian/, 'Debian build banner');
    t.equal(readFileSync(img).toString('latin1', 0x202, 0x206), 'HdrS');
  }
});
