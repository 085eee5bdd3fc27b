// The one line splitter for streamed text (a child's output through
// vm/process-lines.ts, a suite's TAP, the console): whole lines to the
// callback, a carriage return before the newline dropped, the last partial
// line on flush.

export class LineSplitter {
  private pending = '';
  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: string): void {
    const parts = (this.pending + chunk).split('\n');
    this.pending = parts.pop() ?? '';
    for (const p of parts) this.onLine(p.replace(/\r$/, ''));
  }

  flush(): void {
    if (this.pending) this.onLine(this.pending.replace(/\r$/, ''));
    this.pending = '';
  }
}
