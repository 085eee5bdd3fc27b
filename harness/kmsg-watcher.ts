// Kernel WARNINGs and hung tasks read from /dev/kmsg while the suites run.
import { isFatal, scanConsoleLine } from './kernel-signs.js';
import type { RunnerEvent } from './protocol.js';
import * as sys from './sys.js';

/**
 * Watches /dev/kmsg for WARNINGs and hung tasks and reports each one in the
 * results stream, in order with the suite's output: a warning raised by a
 * suite's syscall comes after the TAP lines the suite wrote before that
 * syscall, so reporting it once the pipe has been drained places it right
 * before the line of the case that caused it.
 */
export class KmsgWatcher {
  private fd = -1;
  private timer: NodeJS.Timeout | null = null;
  currentSuite: string | null = null;

  constructor(private readonly emit: (e: RunnerEvent) => void) {}

  start(): void {
    const r = sys.open('/dev/kmsg', sys.O.RDONLY | sys.O.NONBLOCK | sys.O.CLOEXEC);
    if (!r.ok) return; // no /dev/kmsg (or not root): the host's console scan remains
    this.fd = r.ret;
    sys.lseek(this.fd, 0, sys.SEEK_END);
    this.timer = setInterval(() => this.poll(), 50);
  }

  poll(): void {
    for (;;) {
      const { result, data } = sys.readFd(this.fd, 8192);
      if (!result.ok) {
        if (result.errno === 'EPIPE') continue; // records overwritten: resume with the next one
        return; // EAGAIN: nothing more for now
      }
      const text = data.toString('utf8');
      const message = text.slice(text.indexOf(';') + 1).split('\n')[0] ?? '';
      const sign = scanConsoleLine(message);
      if (!sign || isFatal(sign.kind)) continue;
      const suite = this.currentSuite;
      // Let the event loop drain what the suite wrote before the warning.
      setTimeout(() => this.emit({ event: 'kernel-sign', suite, kind: sign.kind, line: sign.line }), 50);
    }
  }

  /** Report what is pending (a suite is about to end). */
  async flush(): Promise<void> {
    if (this.fd < 0) return;
    this.poll();
    await new Promise((r) => setTimeout(r, 60));
  }

  async stop(): Promise<void> {
    await this.flush();
    if (this.timer) clearInterval(this.timer);
    if (this.fd >= 0) sys.close(this.fd);
  }
}
