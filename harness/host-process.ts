// The runner's handle on one suite host process (harness/suite-host.ts):
// feeds it suite ids, turns its markers into outcomes, kills it on timeout.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { splitHostLine, type HostConfig, type RunConfig, type RunnerEvent } from './protocol.js';

export type SuiteOutcome =
  | { kind: 'ended'; exit: number; seconds: number }
  | { kind: 'died'; exit: number | null; signal: string | null; seconds: number }
  | { kind: 'timeout'; seconds: number };

interface Sink {
  line(text: string): void;
  event(e: RunnerEvent): void;
}

function hostScript(): string {
  return fileURLToPath(new URL('./suite-host.js', import.meta.url));
}

function forwardLines(stream: NodeJS.ReadableStream, onLine: (l: string) => void): () => void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const l of lines) onLine(l);
  });
  return () => {
    if (pending) onLine(pending);
    pending = '';
  };
}

function secondsSince(t: bigint): number {
  return Number(process.hrtime.bigint() - t) / 1e9;
}

/** One suite host. Its TAP lines go straight to the results stream. */
export class SuiteHost {
  private current: { id: string; started: bigint; done: (o: SuiteOutcome) => void } | null = null;
  private exited = false;
  private lastSuite: string | null = null;
  /** Killed for a timeout: gone even before its exit is seen. */
  private killed = false;
  private readonly closed: Promise<void>;
  private readonly child: ChildProcessWithoutNullStreams;

  constructor(cfg: RunConfig, private readonly out: Sink) {
    this.child = spawn(process.execPath, [...(cfg.hostNodeFlags ?? []), hostScript()], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, TAP_COLOR: '0', NO_COLOR: '1' },
    });
    this.child.stdin.on('error', () => {}); // EPIPE once the host died: its exit is reported instead
    const hostCfg: HostConfig = { expect: cfg.expect, freshBoot: cfg.freshBoot, overrides: cfg.overrides ?? {} };
    this.child.stdin.write(`${JSON.stringify(hostCfg)}\n`);
    const flushOut = forwardLines(this.child.stdout, (l) => this.onLine(l));
    // stderr has its own pipe and may arrive after the suite's end marker:
    // between suites it belongs to the suite that ran last.
    const flushErr = forwardLines(this.child.stderr, (l) => out.event({ event: 'stderr', suite: this.current?.id ?? this.lastSuite ?? 'suite-host', line: l }));
    this.closed = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        flushOut();
        flushErr();
        this.exited = true;
        const c = this.current;
        this.current = null;
        c?.done({ kind: 'died', exit: code, signal, seconds: secondsSince(c.started) });
        resolve();
      });
    });
  }

  private onLine(line: string): void {
    const { text, marker } = splitHostLine(line);
    if (text || !marker) this.out.line(text);
    if (!marker) return;
    if (marker.kind === 'ready') {
      this.out.event({ event: 'host-ready', uptime: marker.uptime, loadSeconds: marker.loadSeconds, codeCache: marker.codeCache });
    } else if (marker.kind === 'end' && this.current?.id === marker.suite) {
      const c = this.current;
      this.current = null;
      c.done({ kind: 'ended', exit: marker.exit, seconds: marker.seconds });
    }
  }

  /** Run one suite; after 'died' or 'timeout' this host is gone. */
  run(id: string, timeoutSec: number): Promise<SuiteOutcome> {
    return new Promise((resolve) => {
      const started = process.hrtime.bigint();
      if (!this.alive) return resolve({ kind: 'died', exit: null, signal: null, seconds: 0 });
      const timer = setTimeout(() => {
        this.current = null;
        this.killed = true;
        this.child.kill('SIGKILL');
        resolve({ kind: 'timeout', seconds: secondsSince(started) });
      }, timeoutSec * 1000);
      this.lastSuite = id;
      this.current = {
        id,
        started,
        done: (o) => {
          clearTimeout(timer);
          resolve(o);
        },
      };
      this.child.stdin.write(`${id}\n`);
    });
  }

  get alive(): boolean {
    return !this.exited && !this.killed;
  }

  /** No more suites: let the host exit (killed if it does not). */
  async close(): Promise<void> {
    if (this.exited) return;
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.closed;
    clearTimeout(timer);
  }
}
