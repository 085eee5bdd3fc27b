// The one line splitter for a child's output stream: whole lines to the
// callback, the last partial line when the stream ends.
import type { Readable } from 'node:stream';

export function forEachLine(stream: Readable, onLine: (line: string) => void): void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (c: string) => {
    const parts = (pending + c).split('\n');
    pending = parts.pop() ?? '';
    for (const p of parts) onLine(p.replace(/\r$/, ''));
  });
  stream.on('end', () => {
    if (pending) onLine(pending);
    pending = '';
  });
}
