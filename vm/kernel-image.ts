// Recognise a kernel image before booting it: an x86 bzImage ("HdrS" boot
// protocol header), an ELF vmlinux, or an arm64 Image ("ARM\x64" magic).
// Anything else is bad input, reported in one line.
import { closeSync, existsSync, openSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';

export type KernelArch = 'x86_64' | 'arm64';

export interface KernelImageInfo {
  format: 'bzImage' | 'elf' | 'arm64-image';
  arch: KernelArch;
  /** Version string from the bzImage header, when there is one. */
  version?: string;
}

import { BadInputError } from './errors.js';

function readAt(fd: number, pos: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  const n = readSync(fd, b, 0, len, pos);
  return b.subarray(0, n);
}

/** ELF note header of XEN_ELFNOTE_PHYS32_ENTRY: namesz 4, descsz 4, type 18, name "Xen". */
const PVH_NOTE = Buffer.from([4, 0, 0, 0, 4, 0, 0, 0, 18, 0, 0, 0, 0x58, 0x65, 0x6e, 0]);

export function inspectKernel(path: string): KernelImageInfo {
  if (!existsSync(path)) {
    // existsSync says no for a symlink loop too: say which it is.
    let why = 'not found';
    try {
      realpathSync(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') why = 'a symlink loop (ELOOP)';
      else if (code === 'EACCES') why = 'not accessible (EACCES)';
    }
    throw new BadInputError(`kernel image ${why}: ${path}`);
  }
  if (!statSync(path).isFile()) throw new BadInputError(`kernel image is not a regular file: ${path}`);
  const fd = openSync(path, 'r');
  try {
    const head = readAt(fd, 0, 0x240);
    if (head.length >= 0x206 && head.toString('latin1', 0x202, 0x206) === 'HdrS') {
      // setup_header.kernel_version: offset of a NUL-terminated string, minus 0x200.
      const off = head.readUInt16LE(0x20e);
      const v = off ? readAt(fd, off + 0x200, 256).toString('latin1').split('\0')[0] : undefined;
      // setup_sects (0 means 4) sectors of setup after the boot sector, then syssize 16-byte paragraphs.
      const setupSects = head[0x1f1] || 4;
      const needed = (setupSects + 1) * 512 + head.readUInt32LE(0x1f4) * 16;
      const size = statSync(path).size;
      if (size < needed) throw new BadInputError(`${path} is a truncated bzImage: its header says ${needed} bytes, the file has ${size}`);
      return { format: 'bzImage', arch: 'x86_64', version: v };
    }
    if (head.length >= 20 && head.readUInt32BE(0) === 0x7f454c46) {
      const machine = head.readUInt16LE(18);
      // A vmlinux is ET_EXEC; programs such as /bin/true are PIEs (ET_DYN).
      if (head.readUInt16LE(16) !== 2) throw new BadInputError(`${path} is an ELF program or library, not a kernel (vmlinux is ET_EXEC)`);
      if (machine === 62) {
        // QEMU boots an x86 ELF kernel only through its PVH entry note (CONFIG_PVH).
        if (!readFileSync(path).includes(PVH_NOTE)) {
          throw new BadInputError(`${path} is an x86_64 vmlinux without a PVH entry note: QEMU cannot boot it; give arch/x86/boot/bzImage`);
        }
        return { format: 'elf', arch: 'x86_64' };
      }
      if (machine === 183) return { format: 'elf', arch: 'arm64' };
      throw new BadInputError(`${path} is an ELF file for machine ${machine}, not an x86_64 or arm64 kernel`);
    }
    if (head.length >= 0x3c && head.toString('latin1', 0x38, 0x3c) === 'ARM\x64') {
      return { format: 'arm64-image', arch: 'arm64' };
    }
    throw new BadInputError(`${path} is not a kernel image (no bzImage header, no ELF or arm64 Image magic)`);
  } finally {
    closeSync(fd);
  }
}
