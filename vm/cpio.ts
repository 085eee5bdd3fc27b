// A minimal cpio "newc" writer (the format the kernel unpacks from an
// initramfs). Entries are written in the order given; the caller sorts.
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';

export type CpioEntry =
  | { kind: 'dir'; path: string; mode: number }
  | { kind: 'file'; path: string; mode: number; source: string }
  | { kind: 'data'; path: string; mode: number; data: Buffer }
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'node'; path: string; mode: number; type: 'char' | 'block'; major: number; minor: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function pad4(fd: number, written: number): number {
  const rem = written % 4;
  if (rem === 0) return written;
  writeSync(fd, Buffer.alloc(4 - rem));
  return written + 4 - rem;
}

export class CpioWriter {
  private offset = 0;
  private ino = 1;
  private readonly fd: number;

  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }

  private header(name: string, mode: number, size: number, rdev: [number, number] = [0, 0]): void {
    const nameBuf = Buffer.from(name + '\0');
    const fields = [
      this.ino++, mode, 0, 0, 1, 0, size, 0, 0, rdev[0], rdev[1], nameBuf.length, 0,
    ];
    const head = Buffer.from('070701' + fields.map(hex8).join(''), 'ascii');
    writeSync(this.fd, head);
    writeSync(this.fd, nameBuf);
    this.offset = pad4(this.fd, this.offset + head.length + nameBuf.length);
  }

  private body(data: Buffer): void {
    writeSync(this.fd, data);
    this.offset = pad4(this.fd, this.offset + data.length);
  }

  add(e: CpioEntry): void {
    const name = e.path.replace(/^\/+/, '');
    switch (e.kind) {
      case 'dir':
        this.header(name, S_IFDIR | e.mode, 0);
        return;
      case 'data':
        this.header(name, S_IFREG | e.mode, e.data.length);
        this.body(e.data);
        return;
      case 'symlink': {
        const target = Buffer.from(e.target);
        this.header(name, S_IFLNK | 0o777, target.length);
        this.body(target);
        return;
      }
      case 'node':
        this.header(name, (e.type === 'char' ? S_IFCHR : S_IFBLK) | e.mode, 0, [e.major, e.minor]);
        return;
      case 'file':
        this.copyFile(name, e.mode, e.source);
        return;
    }
  }

  private copyFile(name: string, mode: number, source: string): void {
    const src = openSync(source, 'r');
    try {
      const size = fstatSync(src).size;
      this.header(name, S_IFREG | mode, size);
      const chunk = Buffer.alloc(1 << 20);
      let done = 0;
      while (done < size) {
        const n = readSync(src, chunk, 0, chunk.length, done);
        if (n <= 0) throw new Error(`short read on ${source}`);
        writeSync(this.fd, chunk.subarray(0, n));
        done += n;
      }
      this.offset = pad4(this.fd, this.offset + size);
    } finally {
      closeSync(src);
    }
  }

  /** Writes the trailer and closes the archive. */
  finish(): void {
    this.header('TRAILER!!!', 0, 0);
    closeSync(this.fd);
  }
}
