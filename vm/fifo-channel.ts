// The executor channel as QEMU's pipe chardev sees it: two FIFOs, NAME.in
// (host -> guest) and NAME.out (guest -> host). Both are opened read-write,
// so no open blocks on QEMU and QEMU never sees the host's end go away; the
// end of the channel is QEMU's exit, which the launcher reports by close().
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Channel } from '../harness/executor-client.js';
import { HarnessError } from './errors.js';

export class FifoChannel implements Channel {
  private readonly inFd: number;
  private readonly reader: Socket;
  private queued: Buffer[] = [];
  private onData: ((b: Buffer) => void) | null = null;
  private onClose: ((why: string) => void) | null = null;
  private closedWhy: string | null = null;
  /** Resolves when the guest first writes on this channel. */
  readonly firstData: Promise<void>;

  constructor(readonly name: string, private readonly base: string) {
    for (const end of ['in', 'out']) {
      const r = spawnSync('mkfifo', ['-m', '0600', `${base}.${end}`], { encoding: 'utf8' });
      if (r.status !== 0) throw new HarnessError(`mkfifo ${base}.${end} failed: ${(r.stderr || r.error?.message || '').trim()}`);
    }
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
