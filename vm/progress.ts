// What the user sees while a run goes: phases, each suite's start and end
// with its counts, elapsed time. Plain lines (fit for CI logs); --verbose adds
// the TAP and the console, --quiet keeps only the summary.
import { decodeEvent } from '../harness/protocol.js';

export type Verbosity = 'quiet' | 'normal' | 'verbose';

export class Progress {
  private readonly t0 = performance.now();
  private counts = { ok: 0, notOk: 0, skip: 0 };
  private skipReason: string | null = null;

  constructor(private readonly verbosity: Verbosity = 'normal', private readonly out: NodeJS.WritableStream = process.stderr) {}

  private stamp(): string {
    return `[${((performance.now() - this.t0) / 1000).toFixed(1).padStart(6)}s]`;
  }

  /** On a terminal, one status line is rewritten in place as cases come in. */
  private get live(): boolean {
    return (this.out as NodeJS.WriteStream).isTTY === true;
  }
  private suite: string | null = null;
  private lastLive = 0;

  private say(msg: string): void {
    if (this.verbosity === 'quiet') return;
    if (this.live) this.out.write('\r\x1b[K');
    this.out.write(`${this.stamp()} ${msg}\n`);
  }

  private liveLine(): void {
    if (!this.live || this.verbosity !== 'normal' || !this.suite) return;
    const now = performance.now();
    if (now - this.lastLive < 100) return;
    this.lastLive = now;
    const c = this.counts;
    this.out.write(`\r\x1b[K${this.stamp()} suite ${this.suite}: ${c.ok} ok, ${c.notOk} not ok, ${c.skip} skipped...`);
  }

  phase(msg: string): void {
    this.say(msg);
  }

  info(msg: string): void {
    this.say(`  ${msg}`);
  }

  resultLine(line: string): void {
    const e = decodeEvent(line);
    if (e?.event === 'suite-begin') {
      this.counts = { ok: 0, notOk: 0, skip: 0 };
      this.skipReason = null;
      this.suite = e.suite;
      if (this.verbosity === 'verbose') this.say(`suite ${e.suite}: running`);
    } else if (e?.event === 'suite-end') {
      this.suite = null;
      const c = this.counts;
      const how = e.timedOut ? 'TIMED OUT' : e.signal ? `killed by ${e.signal}` : `exit ${e.exit}`;
      if (this.skipReason !== null && c.ok + c.notOk === 0) {
        this.say(`suite ${e.suite}: SKIP ${this.skipReason}`);
        return;
      }
      this.say(`suite ${e.suite}: ${c.ok} ok, ${c.notOk} not ok, ${c.skip} skipped (${how}, ${e.seconds.toFixed(2)} s)`);
    } else if (e?.event === 'profile') {
      this.say(`profile ${e.name}: ${e.supported ? 'supported' : 'absent'} (${e.evidence})`);
    } else if (e?.event === 'start') {
      this.say(`runner started on kernel ${e.kernel} (guest uptime ${e.uptime} s)`);
    } else if (!e) {
      const t = line.trimStart();
      const skipAll = /^1\.\.0\s*#\s*(?:SKIP\s*)?(.*)$/i.exec(line);
      if (skipAll) this.skipReason = skipAll[1] ?? '';
      if (/^ok\b/.test(t) && !line.startsWith(' ')) (/# SKIP/i.test(t) ? this.counts.skip++ : this.counts.ok++);
      if (/^not ok\b/.test(t) && !line.startsWith(' ')) this.counts.notOk++;
      this.liveLine();
      if (this.verbosity === 'verbose') this.out.write(`  | ${line}\n`);
    }
  }

  consoleLine(line: string): void {
    if (this.verbosity === 'verbose') this.out.write(`  console| ${line}\n`);
  }
}
