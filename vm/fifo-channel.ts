// The executor channel as QEMU's pipe chardev sees it: two FIFOs, NAME.in
// (host -> guest) and NAME.out (guest -> host). Both are opened read-write,
// so no open blocks on QEMU and QEMU never sees the host's end go away; the
// end of the channel is QEMU's exit, which the launcher reports by close().
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import type { Channel } from '../harness/executor-client.js';
import { HarnessError } from './errors.js';

/** mkfifo for every path in one process (a spawn costs ~3 ms, four of them add up). */
function makeFifos(paths: string[]): void {
  const r = spawnSync('mkfifo', ['-m', '0600', ...paths], { encoding: 'utf8' });
  if (r.status !== 0) throw new HarnessError(`mkfifo ${paths.join(' ')} failed: ${(r.stderr || r.error?.message || '').trim()}`);
}

/** The channels QEMU offers the guest (qemuArgs names them): virtio-serial port, then ttyS1. */
export function offerChannels(dir: string): FifoChannel[] {
  const named: [string, string][] = [['virtio-serial', join(dir, 'rpc')], ['ttyS1', join(dir, 'ser1')]];
  makeFifos(named.flatMap(([, base]) => [`${base}.in`, `${base}.out`]));
  return named.map(([name, base]) => FifoChannel.open(name, base));
}

export class FifoChannel implements Channel {
  private readonly inFd: number;
  private readonly reader: Socket;
  private queued: Buffer[] = [];
  private onData: ((b: Buffer) => void) | null = null;
  private onClose: ((why: string) => void) | null = null;
  private closedWhy: string | null = null;
  /** Resolves when the guest first writes on this channel. */
  readonly firstData: Promise<void>;

  /** The FIFOs `base`.in and `base`.out must exist (makeFifos). */
  private constructor(readonly name: string, private readonly base: string) {
    this.inFd = openSync(`${base}.in`, 'r+');
    this.reader = new Socket({ fd: openSync(`${base}.out`, 'r+'), readable: true, writable: false });
    let first: () => void = () => {};
    this.firstData = new Promise((resolve) => (first = resolve));
    this.reader.on('data', (b: Buffer) => {
      first();
      if (this.onData) this.onData(b);
      else this.queued.push(b);
    });
    this.reader.on('error', (e) => this.close(`read error: ${e.message}`));
  }

  static open(name: string, base: string): FifoChannel {
    return new FifoChannel(name, base);
  }

  write(bytes: Buffer): void {
    if (this.closedWhy) return;
    for (let at = 0; at < bytes.length; ) at += writeSync(this.inFd, bytes, at);
  }

  listen(onData: (b: Buffer) => void, onClose: (why: string) => void): void {
    this.onData = onData;
    this.onClose = onClose;
    for (const b of this.queued.splice(0)) onData(b);
    if (this.closedWhy) onClose(this.closedWhy);
  }

  close(why = 'closed'): void {
    if (this.closedWhy) return;
    this.closedWhy = why;
    this.reader.destroy();
    closeSync(this.inFd);
    rmSync(`${this.base}.in`, { force: true });
    rmSync(`${this.base}.out`, { force: true });
    this.onClose?.(why);
  }
}
